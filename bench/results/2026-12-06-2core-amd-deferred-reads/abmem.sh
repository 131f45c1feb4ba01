#!/bin/bash
cd /work/main
K=$(printf '%064d' 0 | tr 0 a); B="target/release/memkv-bench run --servers 127.0.0.1:7800 --auth-key $K --integrity checksum"
for r in $(seq 1 $1); do
 for side in old new; do
  /tmp/ab/msrv.sh /tmp/ab/memkv-$side 7800 > /tmp/ab/msrv-$side.log 2>&1 &
  while ! curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
  SP=$(pgrep -f "memkv-$side start")
  echo "$side get 4K x8:      $($B --workloads get --sizes 4K --tasks 8 --connections 8 --duration 4s 2>&1 | tail -2|head -1)"
  echo "$side batch-get x8:   $($B --workloads batch-get --sizes 4K --tasks 8 --connections 8 --duration 4s 2>&1 | tail -2|head -1)"
  echo "$side get 4M x1:      $($B --workloads get --sizes 4M --tasks 1 --connections 1 --max-data 64M --duration 4s 2>&1 | tail -2|head -1)"
  echo "$side get 1M x8:      $($B --workloads get --sizes 1M --tasks 8 --connections 8 --max-data 256M --duration 4s 2>&1 | tail -2|head -1)"
  kill $SP; while kill -0 $SP 2>/dev/null; do sleep 0.2; done
 done
done
