#!/bin/bash
# shape.sh: throughput per 0.5 s on the loop devices, memkv direct put 4M x32 (12 s) then fio QD32 (12 s), twice
S=/tmp/ab/memkv-a; B=/tmp/ab/memkv-bench-a; MB=8192
sampler() { local d=$1 n=$2; local prev=$(awk '{print $7}' /sys/block/$d/stat); for i in $(seq $n); do sleep 0.5; cur=$(awk '{print $7}' /sys/block/$d/stat); printf "%.1f " $(echo "($cur - $prev)*512/1073741824*2" | bc -l); prev=$cur; done; echo; }
W=/tmp/dx/w; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=$MB oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img); LD=$(basename $DEV)
$S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
printf 'network:\n  address: 127.0.0.1:17400\n  auth_key: "%s"\n  integrity: checksum\nstorage:\n  mode: direct\n  block_size: 33554432\n  drives:\n    - media: %s\nmemory:\n  max_size: 1GiB\n' $KEY $DEV > $W/c.yaml
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:17401/v1/health >/dev/null && break; sleep 0.1; done
F=/tmp/dx/f; rm -rf $F; mkdir -p $F
dd if=/dev/zero of=$F/d.img bs=1M count=1024 oflag=direct status=none
FDEV=$(losetup --find --show --direct-io=on $F/d.img); FD=$(basename $FDEV)
for r in 1 2; do
  sampler $LD 24 > $W/s1 & SPID=$!
  MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17400 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --max-data 128M --duration 12s 2>&1 | grep -E "^memkv" | awk '{print "memkv put 4M x32 12s:", $6, "GiB/s"}'
  wait $SPID; echo "  per 0.5s: $(cat $W/s1)"
  sampler $FD 24 > $W/s2 & SPID=$!
  r=$(fio --name=x --filename=$FDEV --size=1073741824 --bs=4194304 --rw=write --iodepth=32 --direct=1 --ioengine=libaio --time_based --runtime=12 --output-format=json --group_reporting | python3 -c 'import json,sys; j=json.load(sys.stdin); print(round(j["jobs"][0]["write"]["bw_bytes"]/2**30,2))')
  wait $SPID; echo "fio QD32 12s: $r"; echo "  per 0.5s: $(cat $W/s2)"
done
kill $SP; wait $SP
losetup -d $DEV; losetup -d $FDEV; rm -rf $W $F
