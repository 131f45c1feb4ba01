#!/bin/bash
# ab-client.sh ROUNDS SIZES...: client-side A/B. One memkv server (memory mode, checksum
# integrity, started by ../2026-12-06-2core-amd-deferred-reads/msrv.sh from /tmp/ab/memkv-base);
# per round, the benchmark built before (/tmp/ab/bench-old) and after (/tmp/ab/bench-new) the
# change run batch-get with 8 tasks over 8 connections, 16 keys per call, 3 s per cell.
#   ab-batch-get-into.txt: ab-client.sh 5 4K 64K   (columns: side, op, size, tasks, keys/s)
set -u
rounds=$1; shift
key=$(printf '%064d' 0 | tr 0 a)
for r in $(seq 1 "$rounds"); do
  for side in old new; do
    for size in "$@"; do
      /tmp/ab/bench-$side run --servers 127.0.0.1:7800 --auth-key "$key" --integrity checksum \
        --workloads batch-get --sizes "$size" --tasks 8 --connections 8 --batch 16 --duration 3s \
        2>&1 | tail -2 | head -1 | awk -v s=$side '{print s, $2, $3, $4, $7}'
    done
  done
done
