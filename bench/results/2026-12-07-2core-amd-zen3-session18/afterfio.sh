#!/bin/bash
# afterfio.sh ROUNDS : direct server (8 GiB loop device); put 4M x32 1.5 s alone, then right after fio write 4M QD32 4 s on a second loop device
set -u
W=/tmp/prof/wf; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=8192 oflag=direct status=none
dd if=/dev/zero of=$W/f.img bs=1M count=1024 oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img); FDEV=$(losetup --find --show --direct-io=on $W/f.img)
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
S=/tmp/prof/memkv-e B=/tmp/prof/memkv-bench-e
$S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
printf 'network:\n  address: 127.0.0.1:17600\n  auth_key: "%s"\n  integrity: checksum\nstorage:\n  mode: direct\n  block_size: 33554432\n  drives:\n    - media: %s\nmemory:\n  max_size: 4GiB\n' $KEY $DEV > $W/c.yaml
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:17601/v1/health >/dev/null && break; sleep 0.1; done
run() { MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17600 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --duration 1500ms --max-data 64M 2>&1 | grep -E "^memkv" | awk '{print $6}'; }
fiow() { fio --name=w --filename=$FDEV --rw=write --bs=4M --iodepth=32 --ioengine=io_uring --direct=1 --time_based --runtime=4 --size=1G --output-format=terse --terse-version=3 2>/dev/null | awk -F';' '{printf "%.2f", $48/1048576}'; }
for r in $(seq 1 $1); do
  a=$(run); sleep 5; a2=$(run); f=$(fiow); b=$(run); b2=$(run)
  echo "round $r: alone $a, $a2; fio write $f; right after fio $b, then $b2 GiB/s"
done
kill $SP; wait $SP
losetup -d $DEV $FDEV; rm -rf $W
