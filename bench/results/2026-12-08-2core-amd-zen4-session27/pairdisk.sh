#!/bin/bash
# pairdisk.sh ROUNDS ENGINE(file|direct) "WORKLOAD SIZE TASKS CONNECTIONS"... : disk servers a and $B
# side by side (ports 7900 / 7910), each on its own fresh zero-written drive of 4 GiB with 32 MiB
# extents, default durability; each cell run on a then B (order flipped every round).
set -u
B=${B:-c}
A=${A:-a}
rounds=$1 engine=$2; shift 2
integ=${INTEG:-checksum}
key=$(printf '%064d' 0 | tr 0 a)
pids=() loops=()
for side in $A $B; do
  port=$([ $side = $A ] && echo 7900 || echo 7910)
  img=/tmp/disk/d-$side.img
  dd if=/dev/zero of=$img bs=1M count=4096 oflag=direct status=none
  if [ $engine = direct ]; then
    media=$(losetup --find --show --direct-io=${LOOPDIO:-on} $img); loops+=($media)
  else
    media=$img
  fi
  /tmp/ab/memkv-$side setup --drives $media --shard-size 32768 > /dev/null
  printf 'network:\n  address: 127.0.0.1:%s\n  auth_key: "%s"\n  integrity: %s\nstorage:\n  mode: %s\n  block_size: 32 MiB\n  drives:\n    - media: %s\n      size: 4 GiB\nmemory:\n  max_size: %s\n' \
    $port $key $integ $engine $media "${CACHE:-3 GiB}" > /tmp/ab/d-$side.yaml
  RUST_LOG=warn /tmp/ab/memkv-$side start --config /tmp/ab/d-$side.yaml > /tmp/ab/d-$side.log 2>&1 &
  pids+=($!)
  until curl -s 127.0.0.1:$((port+1))/v1/health >/dev/null; do sleep 0.2; done
done
for r in $(seq 1 "$rounds"); do
  order="$A $B"; [ $((r % 2)) = 0 ] && order="$B $A"
  for cell in "$@"; do
    read -r workload size tasks conns <<< "$cell"
    for side in $order; do
      port=$([ $side = $A ] && echo 7900 || echo 7910)
      m0=$(curl -s 127.0.0.1:$((port+1))/v1/metrics | awk '/^memkv_drive_syncs_total/{s+=$2} /^memkv_drive_written_bytes_total/{w+=$2} END{print s, w}')
      /tmp/ab/memkv-bench-$side run --servers 127.0.0.1:$port --auth-key "$key" \
        --integrity "$integ" --workloads "$workload" --sizes "$size" --tasks "$tasks" \
        --connections "$conns" --max-data 256M --duration ${DUR:-4s} > /tmp/ab/pb.out 2>&1
      gibs=$(grep -E '^memkv' /tmp/ab/pb.out | tail -1 | awk '{print $6}')
      m1=$(curl -s 127.0.0.1:$((port+1))/v1/metrics | awk '/^memkv_drive_syncs_total/{s+=$2} /^memkv_drive_written_bytes_total/{w+=$2} END{print s, w}')
      echo "$r $side $engine $workload $size x$tasks/$conns $gibs $m0 $m1" | awk '{n=$10-$8; printf "%s %s %s %s %s %s %s syncs %d MiB/sync %.1f\n", $1,$2,$3,$4,$5,$6,$7, n, n? ($11-$9)/n/1048576 : 0}'
    done
  done
done
kill "${pids[@]}"; wait
for l in "${loops[@]}"; do losetup --detach $l; done
rm -f /tmp/disk/d-*.img
