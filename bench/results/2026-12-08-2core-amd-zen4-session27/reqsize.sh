#!/bin/bash
# reqsize.sh SIDE: one put 4M x32 run on a fresh file drive; vda write requests and KiB per request
side=$1
key=$(printf '%064d' 0 | tr 0 a)
dd if=/dev/zero of=/tmp/disk/r.img bs=1M count=4096 oflag=direct status=none
/tmp/ab/memkv-$side setup --drives /tmp/disk/r.img --shard-size 32768 >/dev/null 2>&1
printf 'network:\n  address: 127.0.0.1:7950\n  auth_key: "%s"\n  integrity: checksum\nstorage:\n  mode: file\n  block_size: 32 MiB\n  drives:\n    - media: /tmp/disk/r.img\n      size: 4 GiB\nmemory:\n  max_size: 3 GiB\n' $key > /tmp/ab/r.yaml
env RUST_LOG=warn ${SRVENV:-} /tmp/ab/memkv-$side start --config /tmp/ab/r.yaml > /tmp/ab/r.log 2>&1 &
sp=$!
until curl -s 127.0.0.1:7951/v1/health >/dev/null; do sleep 0.2; done
s0=$(awk '$3=="vda"{print $8, $10}' /proc/diskstats)
g=$(/tmp/ab/memkv-bench-a run --servers 127.0.0.1:7950 --auth-key $key --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --max-data 256M --duration 6s | grep -E '^memkv' | awk '{print $6}')
s1=$(awk '$3=="vda"{print $8, $10}' /proc/diskstats)
kill $sp; wait $sp
echo "$side $g GiB/s $s0 $s1" | awk '{w=$6-$4; printf "%s %s GiB/s writes %d KiB/write %.0f\n", $1, $2, w, ($7-$5)/2/w}'
grep AnonHugePages /proc/meminfo
rm -f /tmp/disk/r.img
