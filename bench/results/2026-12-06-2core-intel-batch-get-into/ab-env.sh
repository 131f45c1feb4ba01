#!/bin/bash
# ab-env.sh VAR ROUNDS "VALUE..." "WORKLOAD SIZE TASKS CONNECTIONS [MAX_DATA]"...: A/B of one
# constant over values of the environment variable VAR, on an experiment build (not committed)
# in /work/main/target-x whose memkv-frameio read the constant from it: X_LOW_WATER for
# LOW_WATER, X_SEND_CHUNK for SEND_CHUNK (a OnceLock parsing the variable, the constant when
# unset). Per round and value, starts the server with VAR set (memory mode, checksum integrity,
# ../2026-12-06-2core-amd-deferred-reads/msrv.sh), runs each cell with the client under the same
# VAR for ${DUR:-4s}, stops it. Prints the value, the cell and memkv-bench run's line; the
# committed files keep the value, the cell and GiB/s.
#   ab-low-water-3way.txt:      ab-env.sh X_LOW_WATER 4 "524288 1048576 262144" "put 4M 1 1 64M" "get 4M 1 1 64M" "put 1M 8 8" "get 1M 8 8"
#   ab-low-water-512k.txt:      DUR=3s ab-env.sh X_LOW_WATER 6 "524288 1048576" "put 4M 1 1 64M" "get 4M 1 1 64M"
#   ab-send-chunk-not-kept.txt: DUR=3s ab-env.sh X_SEND_CHUNK 4 "131072 262144 524288" "put 4M 1 1 64M" "put 1M 8 8" "get 1M 8 8"
set -u
var=$1 rounds=$2 values=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
key=$(printf '%064d' 0 | tr 0 a)
B=/work/main/target-x/release
for r in $(seq 1 "$rounds"); do
  for v in $values; do
    env "$var=$v" "$here/../2026-12-06-2core-amd-deferred-reads/msrv.sh" $B/memkv 7800 > /tmp/ab/srv-$v.log 2>&1 &
    until curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
    pid=$(pgrep -f "release/memkv start")
    for cell in "$@"; do
      read -r w size tasks conns max <<< "$cell"
      line=$(env "$var=$v" $B/memkv-bench run --servers 127.0.0.1:7800 --auth-key "$key" \
        --integrity checksum --workloads "$w" --sizes "$size" --tasks "$tasks" \
        --connections "$conns" --max-data "${max:-256M}" --duration "${DUR:-4s}" 2>&1 | tail -2 | head -1)
      echo "$v $w $size x$tasks: $line"
    done
    kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
done
