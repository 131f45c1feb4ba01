#!/bin/bash
# ab-sides.sh ROUNDS "WORKLOAD SIZE TASKS CONNECTIONS [MAX_DATA]"...: A/B of server and client
# together: per round and side (old, new), starts /tmp/ab/memkv-SIDE in memory mode with
# checksum integrity (../2026-12-06-2core-amd-deferred-reads/msrv.sh), runs each cell for 3 s
# with /tmp/ab/bench-SIDE (batches of 16 keys), and stops it. Columns: side, op, size, tasks,
# ops/s (keys/s for batches), GiB/s.
set -u
rounds=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
key=$(printf '%064d' 0 | tr 0 a)
for r in $(seq 1 "$rounds"); do
  for side in old new; do
    "$here/../2026-12-06-2core-amd-deferred-reads/msrv.sh" "/tmp/ab/memkv-$side" 7800 > "/tmp/ab/srv-$side.log" 2>&1 &
    until curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
    pid=$(pgrep -f "memkv-$side start")
    for cell in "$@"; do
      read -r w size tasks conns max <<< "$cell"
      /tmp/ab/bench-$side run --servers 127.0.0.1:7800 --auth-key "$key" --integrity checksum \
        --workloads "$w" --sizes "$size" --tasks "$tasks" --connections "$conns" --batch 16 \
        --max-data "${max:-256M}" --duration 3s 2>&1 | tail -2 | head -1 |
        awk -v s="$side" '{print s, $2, $3, $4, $7, $6}'
    done
    kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
done
