#!/bin/bash
# put1.sh INTEGRITY SIZE: memory-mode server, one-client puts for 4 s, syscalls of both traced by bpftrace for 0.5 s of it
set -u
integ=${1:-checksum}; size=${2:-4M}
W=/tmp/s21/wt; rm -rf $W; mkdir -p $W
S=${SBIN:-/tmp/s21/bin/memkv} B=${BBIN:-/tmp/s21/bin/memkv-bench}
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
cat > $W/c.yaml <<Y
network:
  address: 127.0.0.1:17500
  auth_key: "$KEY"
  integrity: $integ
memory:
  max_size: 2GiB
Y
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 200); do curl -sf http://127.0.0.1:17501/v1/health >/dev/null && break; sleep 0.1; done
MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17500 --auth-key $KEY --integrity $integ --workloads put --sizes $size --tasks 1 --connections 1 --duration 5s > $W/b.out 2>&1 &
BP=$!
sleep 2
if [ -n "${TRACE:-}" ]; then
ulimit -l unlimited
timeout -s INT 1 bpftrace -e "BEGIN { @srv[$SP] = 1; @srv[$BP] = 2; } $(cat ${BT:-/tmp/s21/trace.bt})" > $TRACE 2>/dev/null
fi
wait $BP; grep -E "^memkv" $W/b.out
kill $SP; wait $SP 2>/dev/null
