#!/bin/bash
# abcold.sh ROUNDS: old vs new direct-mode server on /dev/loop0, cold cache; put x32 then get x32, get x8
cd /work/main
K=$(printf '%064d' 0 | tr 0 a); B="target/release/memkv-bench run --servers 127.0.0.1:7700 --auth-key $K --integrity checksum --sizes 4M --max-data 2G"
F="fio --name=x --filename=/dev/loop0 --readonly --size=2G --bs=4M --iodepth=32 --direct=1 --ioengine=libaio --time_based --runtime=6 --output-format=terse"
for r in $(seq 1 $1); do
 echo "round $r fio randread QD32 $(( $($F --rw=randread 2>/dev/null | cut -d';' -f7) / 1024 )) MiB/s"
 for side in old new; do
  /tmp/ab/dsrv.sh /tmp/ab/memkv-$side 7700 /dev/loop0 > /tmp/ab/srv-$side.log 2>&1 &
  while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.2; done
  SP=$(pgrep -f "memkv-$side start")
  echo "$side put x32:  $($B --workloads put --tasks 32 --connections 32 --duration 6s 2>&1 | tail -2|head -1)"
  (sleep 3; echo "$side workers: $(ls /proc/$SP/task | while read t; do cat /proc/$SP/task/$t/comm; done | grep -c iou-wrk)") & SAMP=$!
  echo "$side get x32:  $($B --workloads get --tasks 32 --connections 32 --duration 6s 2>&1 | tail -2|head -1)"
  wait $SAMP
  echo "$side get x8:   $($B --workloads get --tasks 8 --connections 8 --duration 6s 2>&1 | tail -2|head -1)"
  kill $SP; while kill -0 $SP 2>/dev/null; do sleep 0.2; done
 done
done
