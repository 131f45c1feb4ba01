#!/bin/bash
# fsize.sh: fio write QD32 4M over 1 GiB on loop devices backed by a 1 GiB and an 8 GiB file, alternating
mkdir -p /tmp/dx/fs; cd /tmp/dx/fs
for s in 1024 8192; do dd if=/dev/zero of=d$s.img bs=1M count=$s oflag=direct status=none; eval D$s=$(losetup --find --show --direct-io=on d$s.img); done
for r in 1 2 3; do for s in 1024 8192; do eval dev=\$D$s
for reg in 1024 $s; do
x=$(fio --name=x --filename=$dev --size=$((reg*1048576)) --bs=4194304 --rw=write --iodepth=32 --direct=1 --ioengine=libaio --time_based --runtime=5 --output-format=json --group_reporting | python3 -c 'import json,sys; j=json.load(sys.stdin); print(round(j["jobs"][0]["write"]["bw_bytes"]/2**30,2))')
echo "round $r backing ${s}M region ${reg}M: $x GiB/s"; done; done; done
losetup -d $D1024 $D8192; cd /; rm -rf /tmp/dx/fs
