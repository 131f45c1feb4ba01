#!/bin/bash
# dprof.sh BIN_SUFFIX OP TASKS : direct server on a 4 GiB loop device; put (and get) 4M; perf during the cell
set -u
side=$1 op=$2 t=$3
W=/tmp/prof/w; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=4096 oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img)
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
S=/tmp/prof/memkv-$side B=/tmp/prof/memkv-bench-$side
$S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
cat > $W/c.yaml <<Y
network:
  address: 127.0.0.1:17400
  auth_key: "$KEY"
  integrity: checksum
$( [ "${MODE:-direct}" = direct ] && printf 'storage:\n  mode: direct\n  block_size: 33554432\n  sync: %s\n  drives:\n    - media: %s\n' ${SYNC:-always} $DEV )
memory:
  max_size: ${MAXMEM:-1GiB}
Y
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:17401/v1/health >/dev/null && break; sleep 0.1; done
if [ "$op" = get ]; then
  MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17400 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 8 --connections 8 --duration 3s 2>&1 | grep -E "^memkv"
fi
MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17400 --auth-key $KEY --integrity checksum --workloads $op --sizes 4M --tasks $t --connections $t --duration 8s 2>&1 | grep -E "^memkv" &
BP=$!
sleep 2
cat /sys/block/$(basename $DEV)/stat > $W/st0
if [ -n "${PERF:-}" ]; then perf record -a -g -e cpu-clock -o /tmp/prof/perf-$side-$op.data -- sleep 4 2>/dev/null >/dev/null; else perf stat -a -e task-clock,context-switches,cpu-migrations -- sleep 4 2>&1 | grep -E 'task-clock|switch|migr'; fi
cat /sys/block/$(basename $DEV)/stat > $W/st1
wait $BP
kill $SP; wait $SP
losetup -d $DEV; rm -rf $W
