#!/bin/bash
# cprof.sh INTEGRITY WORKLOAD SIZE TASKS : memory server; perf record of the client (and server) for 3 s of the cell
set -u
integ=$1 wl=$2 size=$3 t=$4
key=$(printf '%064d' 0 | tr 0 a)
cat > /tmp/ab/m5.yaml <<EOT
network:
  address: 127.0.0.1:7950
  auth_key: "$key"
  integrity: $integ
memory:
  max_size: 4 GiB
EOT
RUST_LOG=warn /tmp/ab/memkv-e start --config /tmp/ab/m5.yaml > /tmp/ab/srv5.log 2>&1 &
pid=$!
until curl -s 127.0.0.1:7951/v1/health >/dev/null; do sleep 0.2; done
/tmp/ab/memkv-bench-e run --servers 127.0.0.1:7950 --auth-key "$key" --integrity $integ --workloads $wl --sizes $size --tasks $t --connections $t ${EXTRA:-} --max-data 256M --duration 6s > /tmp/ab/b5.out 2>&1 &
bp=$!
sleep ${WARM:-2}
perf record -g -o /tmp/s19/perf-client-$integ-$wl.data -p $(pgrep -f "memkv-bench-e run" | head -1) -- sleep 3 >/dev/null 2>&1 &
perf record -g -o /tmp/s19/perf-server-$integ-$wl.data -p $pid -- sleep 3 >/dev/null 2>&1
wait $bp; grep -E '^memkv' /tmp/ab/b5.out
kill $pid; wait $pid
