#!/bin/bash
# abdefer.sh ROUNDS: old vs new direct-mode server on /dev/loop0, cold cache; gets with 4 connections
cd /work/main
K=$(printf '%064d' 0 | tr 0 a); B="target/release/memkv-bench run --servers 127.0.0.1:7700 --auth-key $K --integrity checksum --sizes 4M --max-data 2G"
for r in $(seq 1 $1); do
 echo "round $r fio randread QD32 $(( $(fio --name=x --filename=/dev/loop0 --readonly --size=2G --bs=4M --iodepth=32 --direct=1 --ioengine=libaio --time_based --runtime=5 --output-format=terse --rw=randread 2>/dev/null | cut -d";" -f7) / 1024 )) MiB/s, QD8 $(( $(fio --name=x --filename=/dev/loop0 --readonly --size=2G --bs=4M --iodepth=8 --direct=1 --ioengine=libaio --time_based --runtime=5 --output-format=terse --rw=randread 2>/dev/null | cut -d";" -f7) / 1024 )) MiB/s"
 for side in old new; do
  /tmp/ab/dsrv.sh /tmp/ab/memkv-$side 7700 /dev/loop0 > /tmp/ab/srv-$side.log 2>&1 &
  while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.2; done
  SP=$(pgrep -f "memkv-$side start")
  echo "$side put x32 c32:  $($B --workloads put --tasks 32 --connections 32 --duration 5s 2>&1 | tail -2|head -1)"
  echo "$side get x32 c4:   $($B --workloads get --tasks 32 --connections 4 --duration 5s 2>&1 | tail -2|head -1)"
  echo "$side get x8 c1:    $($B --workloads get --tasks 8 --connections 1 --duration 5s 2>&1 | tail -2|head -1)"
  echo "$side get x32 c32:  $($B --workloads get --tasks 32 --connections 32 --duration 5s 2>&1 | tail -2|head -1)"
  kill $SP; while kill -0 $SP 2>/dev/null; do sleep 0.2; done
 done
done
