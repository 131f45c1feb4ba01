#!/bin/bash
# dprof.sh MODE: a fresh file-mode (or memory) server of /tmp/s19/bin/memkv as thpab.sh sets it up,
# put 4M x32 for 6 s; perf record -a (-g when PERF_G=-g) for 3 s of it, and the device's stats over those 3 s
set -u
mode=$1
W=/tmp/s19/wt; rm -rf $W; mkdir -p $W
S=/tmp/s19/bin/memkv B=/tmp/s19/bin/memkv-bench
DEV=$W/drive0.dat; BLK=vda
dd if=/dev/zero of=$DEV bs=1M count=8192 oflag=direct status=none
$S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
cat > $W/c.yaml <<Y
network:
  address: 127.0.0.1:17500
  auth_key: "$KEY"
  integrity: checksum
$( [ $mode != memory ] && printf 'storage:\n  mode: %s\n  block_size: 33554432\n  drives:\n    - media: %s\n      size: 8GiB\n' $mode $DEV )
memory:
  max_size: 1GiB
Y
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 200); do curl -sf http://127.0.0.1:17501/v1/health >/dev/null && break; sleep 0.1; done
MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17500 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --duration 6s > $W/b.out 2>&1 &
BP=$!
sleep 2
s0=($(cat /sys/block/$BLK/stat))
perf record -a ${PERF_G:-} -o /tmp/s20/perf-disk-$mode.data -- sleep 3 > /dev/null 2>&1
s1=($(cat /sys/block/$BLK/stat))
wait $BP; grep -E "^memkv" $W/b.out
w=$(( ${s1[4]} - ${s0[4]} )); sec=$(( ${s1[6]} - ${s0[6]} ))
echo "$BLK write requests/s $((w/3)), $(( w ? sec/2/w : 0 )) KiB per request"
kill $SP; wait $SP 2>/dev/null
rm -rf $W
