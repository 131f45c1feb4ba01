#!/bin/bash
# ab-memory.sh ROUNDS "SIDE..." "WORKLOAD SIZE TASKS CONNECTIONS [MAX_DATA]"...
# Memory-mode A/B: for each round and each side, starts /tmp/ab/memkv-SIDE with msrv.sh
# (checksum integrity, 4 GiB of RAM), runs each cell for 4 s with memkv-bench run, prints one
# line per cell and the server's resident memory, and stops the server. Sides alternate.
#   ab-deferred-reads-memory.txt:     ab-memory.sh 3 "old new" "get 4K 8 8" "batch-get 4K 8 8" "get 4M 1 1 64M" "get 1M 8 8"
#   ab-split-allocator-not-kept.txt:  ab-memory.sh 3 "new split" "batch-put 4K 8 8" "batch-get 4K 8 8" "put 4M 8 8" "get 4M 8 8" "put 1M 8 8" "get 64K 8 8"
#   ab-small-requests.txt:            ab-memory.sh 3 "old hand" "get 4K 8 8" "batch-get 4K 8 8" "batch-put 4K 8 8" "put 4K 8 8"
set -u
rounds=$1 sides=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
cd "$(git -C "$here" rev-parse --show-toplevel)"
key=$(printf '%064d' 0 | tr 0 a)
for r in $(seq 1 "$rounds"); do
  for side in $sides; do
    "$here/msrv.sh" "/tmp/ab/memkv-$side" 7800 > "/tmp/ab/msrv-$side.log" 2>&1 &
    until curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
    pid=$(pgrep -f "memkv-$side start")
    for cell in "$@"; do
      read -r workload size tasks conns max <<< "$cell"
      line=$(target/release/memkv-bench run --servers 127.0.0.1:7800 --auth-key "$key" \
        --integrity checksum --workloads "$workload" --sizes "$size" --tasks "$tasks" \
        --connections "$conns" --max-data "${max:-256M}" --duration 4s 2>&1 | tail -2 | head -1)
      echo "$side $workload $size x$tasks: $line"
    done
    echo "$side rss: $(grep VmRSS "/proc/$pid/status")"
    kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
done
