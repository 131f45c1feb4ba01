#!/bin/bash
# thr.sh ROUNDS INTEG "SERVER_THREADS:CLIENT_THREADS ..." "WORKLOAD SIZE TASKS"...
rounds=$1 integ=$2 sides=$3; shift 3
key=$(printf '%064d' 0 | tr 0 a)
for r in $(seq 1 $rounds); do for side in $sides; do
  st=${side%%:*}; ct=${side##*:}
  printf 'network:\n  address: 127.0.0.1:7800\n  auth_key: "%s"\n  integrity: %s\nmemory:\n  max_size: 4 GiB\n' $key $integ > /tmp/ab/t.yaml
  TOKIO_WORKER_THREADS=$st RUST_LOG=warn /tmp/ab/memkv-a start --config /tmp/ab/t.yaml > /tmp/ab/t.log 2>&1 &
  pid=$!
  until curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
  for cell in "$@"; do read -r w s t <<< "$cell"
    line=$(/tmp/ab/memkv-bench-a run --servers 127.0.0.1:7800 --auth-key $key --integrity $integ --workloads $w --sizes $s --tasks $t --connections $t --client-threads $ct --max-data 256M --duration 4s 2>&1 | tail -2 | head -1)
    echo "$side $integ $w $s x$t: $(echo $line | awk '{print $6}')"
  done
  kill $pid; wait $pid
done; done
