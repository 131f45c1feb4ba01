#!/bin/bash
# tprof.sh THREADS : memory server with network.threads THREADS; batch-get 4K x8 b16; perf record -a for 3 s of the cell, and perf stat of context switches and migrations
set -u
key=$(printf '%064d' 0 | tr 0 a)
printf 'network:\n  address: 127.0.0.1:7960\n  auth_key: "%s"\n  integrity: checksum\n  threads: %s\nmemory:\n  max_size: 4 GiB\n' $key $1 > /tmp/ab/m6.yaml
RUST_LOG=warn /tmp/ab/memkv-${BIN:-e} start --config /tmp/ab/m6.yaml > /tmp/ab/srv6.log 2>&1 &
pid=$!
until curl -s 127.0.0.1:7961/v1/health >/dev/null; do sleep 0.2; done
/tmp/ab/memkv-bench-e run --servers 127.0.0.1:7960 --auth-key "$key" --integrity checksum --workloads batch-get --sizes 4K --tasks 8 --connections 8 --max-data 256M --duration 8s > /tmp/ab/b6.out 2>&1 &
bp=$!
sleep 3
perf stat -a -e context-switches,cpu-migrations -- sleep 2 2>&1 | grep -E "switch|migr"
perf record -a -g -o /tmp/s19/perf-t$1-${BIN:-e}.data -- sleep 2 >/dev/null 2>&1
wait $bp; grep -E '^memkv' /tmp/ab/b6.out
kill $pid; wait $pid
