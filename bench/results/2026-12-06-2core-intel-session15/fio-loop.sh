#!/bin/bash
W=/tmp/dx/fio; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=1024 oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img)
for qd in 1 32; do for fs in 0 8; do
r=$(fio --name=x --filename=$DEV --size=1073741824 --bs=4194304 --rw=write --iodepth=$qd --direct=1 --ioengine=libaio --time_based --runtime=6 --output-format=json --group_reporting $( [ $fs = 8 ] && echo --fdatasync=8 ) | python3 -c 'import json,sys; j=json.load(sys.stdin); print(round(j["jobs"][0]["write"]["bw_bytes"]/2**30,2))')
echo "fio loop write QD$qd fdatasync=$fs: $r GiB/s"
done; done
r=$(fio --name=x --filename=$DEV --size=1073741824 --bs=4194304 --rw=read --iodepth=32 --direct=1 --ioengine=libaio --time_based --runtime=6 --output-format=json --group_reporting | python3 -c 'import json,sys; j=json.load(sys.stdin); print(round(j["jobs"][0]["read"]["bw_bytes"]/2**30,2))')
echo "fio loop read QD32: $r"
losetup -d $DEV; rm -rf $W
