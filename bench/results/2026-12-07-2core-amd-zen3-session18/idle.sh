#!/bin/bash
# idle.sh SIDE IDLE_SECS : direct server on an 8 GiB loop device; put 4M x32 4 s, idle, put again; discarded extents
set -u
side=$1 idle=$2
W=/tmp/prof/wi; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=8192 oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img)
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
S=/tmp/prof/memkv-$side B=/tmp/prof/memkv-bench-$side
$S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
printf 'network:\n  address: 127.0.0.1:17500\n  auth_key: "%s"\n  integrity: checksum\nstorage:\n  mode: direct\n  block_size: 33554432\n  drives:\n    - media: %s\nmemory:\n  max_size: 4GiB\n' $KEY $DEV > $W/c.yaml
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:17501/v1/health >/dev/null && break; sleep 0.1; done
run() { MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17500 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --duration 4s --max-data 64M 2>&1 | grep -E "^memkv" | awk '{print $6}'; }
disc() { curl -s http://127.0.0.1:17501/v1/metrics | grep -E '^memkv_discarded_extents_total' | awk '{print $2}'; }
a=$(run); d0=$(disc); sleep $idle; d1=$(disc); b=$(run); c=$(run)
echo "idle ${idle}s: put x32 $a -> after idle $b, then $c GiB/s; discarded extents $d0 -> $d1"
kill $SP; wait $SP
losetup -d $DEV; rm -rf $W
