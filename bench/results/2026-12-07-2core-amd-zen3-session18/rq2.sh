#!/bin/bash
# rq.sh : direct put 4M x32 on a loop device; histogram of the sizes of requests issued to the loop device (block:block_rq_issue) for 3 s
set -u
W=/tmp/prof/wr; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=4096 oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img); MAJMIN=$(lsblk -no MAJ:MIN $DEV | tr -d ' ')
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
S=/tmp/prof/memkv-e B=/tmp/prof/memkv-bench-e
$S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
printf 'network:\n  address: 127.0.0.1:17700\n  auth_key: "%s"\n  integrity: checksum\nstorage:\n  mode: direct\n  block_size: 33554432\n  drives:\n    - media: %s\nmemory:\n  max_size: 1GiB\n' $KEY $DEV > $W/c.yaml
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:17701/v1/health >/dev/null && break; sleep 0.1; done
MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17700 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --duration 4s --max-data 64M 2>&1 | grep -E "^memkv" &
BP=$!
sleep 2
perf record -e block:block_rq_issue -a -o $W/rq.data -- sleep 3 >/dev/null 2>&1
wait $BP
kill $SP; wait $SP
echo "loop device $DEV ($MAJMIN)"
perf script -i $W/rq.data -F time,trace 2>/dev/null | grep " 7,$(echo $MAJMIN | cut -d: -f2) " | head -60
losetup -d $DEV; rm -rf $W
