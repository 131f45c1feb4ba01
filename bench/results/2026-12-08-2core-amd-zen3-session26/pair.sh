#!/bin/bash
# pair.sh ROUNDS INTEGRITY "WORKLOAD SIZE TASKS CONNECTIONS [BATCH]"... : servers a and $B side by side
# (ports 7900 / 7910), each cell run on a then c (order flipped every round), GiB/s per run
set -u
B=${B:-c}
rounds=$1 integ=$2; shift 2
key=$(printf '%064d' 0 | tr 0 a)
pids=()
for side in a $B; do
  port=$([ $side = a ] && echo 7900 || echo 7910)
  printf 'network:\n  address: 127.0.0.1:%s\n  auth_key: "%s"\n  integrity: %s\nmemory:\n  max_size: 3 GiB\n' $port $key $integ > /tmp/ab/p-$side.yaml
  RUST_LOG=warn /tmp/ab/memkv-$side start --config /tmp/ab/p-$side.yaml > /tmp/ab/p-$side.log 2>&1 &
  pids+=($!)
  until curl -s 127.0.0.1:$((port+1))/v1/health >/dev/null; do sleep 0.2; done
done
for r in $(seq 1 "$rounds"); do
  order="a $B"; [ $((r % 2)) = 0 ] && order="$B a"
  for cell in "$@"; do
    read -r workload size tasks conns batch <<< "$cell"; batch=${batch:-1}
    for side in $order; do
      port=$([ $side = a ] && echo 7900 || echo 7910)
      /tmp/ab/memkv-bench-$side run --servers 127.0.0.1:$port --auth-key "$key" \
        --integrity "$integ" --workloads "$workload" --sizes "$size" --tasks "$tasks" \
        --connections "$conns" --batch "$batch" --max-data 256M --duration ${DUR:-3s} > /tmp/ab/pb.out 2>&1
      gibs=$(grep -E '^memkv' /tmp/ab/pb.out | tail -1 | awk '{print $6}')
      echo "$r $side $integ $workload $size x$tasks/$conns $gibs"
    done
  done
done
kill "${pids[@]}"; wait
