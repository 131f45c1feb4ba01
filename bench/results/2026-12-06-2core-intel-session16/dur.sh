#!/bin/bash
# dur.sh: memkv direct put 4M x32 cells of 1.5 s and 4 s, and fio QD32 of 1.5 s and 4 s, alternating
S=/tmp/ab/memkv-a; B=/tmp/ab/memkv-bench-a; MB=8192
W=/tmp/dx/w; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=$MB oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img)
$S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
printf 'network:\n  address: 127.0.0.1:17400\n  auth_key: "%s"\n  integrity: checksum\nstorage:\n  mode: direct\n  block_size: 33554432\n  drives:\n    - media: %s\nmemory:\n  max_size: 1GiB\n' $KEY $DEV > $W/c.yaml
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:17401/v1/health >/dev/null && break; sleep 0.1; done
F=/tmp/dx/f; rm -rf $F; mkdir -p $F
dd if=/dev/zero of=$F/d.img bs=1M count=1024 oflag=direct status=none
FDEV=$(losetup --find --show --direct-io=on $F/d.img)
for r in 1 2 3; do for d in 1.5 4; do
  MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17400 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --max-data ${MD:-128M} --duration ${d}s 2>&1 | grep -E "^memkv" | awk -v d=$d '{print "memkv put 4M x32 " d "s:", $6, "GiB/s"}'
  x=$(fio --name=x --filename=$FDEV --size=1073741824 --bs=4194304 --rw=write --iodepth=32 --direct=1 --ioengine=libaio --time_based --runtime=$d --output-format=json --group_reporting | python3 -c 'import json,sys; j=json.load(sys.stdin); print(round(j["jobs"][0]["write"]["bw_bytes"]/2**30,2))')
  echo "fio QD32 ${d}s: $x"
done; done
kill $SP; wait $SP
losetup -d $DEV; losetup -d $FDEV; rm -rf $W $F
