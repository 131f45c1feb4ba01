#!/bin/bash
# fiosplit.sh ROUNDS : fio write QD32 io_uring O_DIRECT 4 s on an 8 GiB loop device (--direct-io=on):
# 4 MiB writes; 4 MiB + 4 KiB writes (a put's header block and value as one write);
# a 4 KiB / 4 MiB alternation by count (a put's header block and value as two writes)
set -u
W=/tmp/s19/wf; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=8192 oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img)
N=$(basename $DEV)
one() {
  local w0=$(awk '{print $5}' /sys/block/$N/stat)
  local g=$(fio --name=w --filename=$DEV --rw=write "$@" --iodepth=32 --ioengine=io_uring --direct=1 --time_based --runtime=4 --size=8G --output-format=terse --terse-version=3 2>/dev/null | awk -F';' '{printf "%.2f GiB/s %d IOPS", $48/1048576, $49}')
  local w1=$(awk '{print $5}' /sys/block/$N/stat)
  echo "$g; device write requests/s $(( (w1 - w0) / 4 ))"
}
for r in $(seq 1 $1); do
  echo "round $r --bs=4M: $(one --bs=4M)"
  echo "round $r --bs=4100k: $(one --bs=4100k)"
  echo "round $r --bssplit=4k/50:4m/50: $(one --bssplit=4k/50:4m/50)"
done
losetup -d $DEV; rm -rf $W
