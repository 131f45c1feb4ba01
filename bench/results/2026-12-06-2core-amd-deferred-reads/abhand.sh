#!/bin/bash
# aballoc.sh ROUNDS: memory-mode server, header tags copied (new) vs read in place (tag), checksum, 8 tasks x 8 connections
cd /work/main
K=$(printf '%064d' 0 | tr 0 a); B="target/release/memkv-bench run --servers 127.0.0.1:7800 --auth-key $K --integrity checksum --tasks 8 --connections 8 --duration 4s"
for r in $(seq 1 $1); do
 for side in old hand; do
  /tmp/ab/msrv.sh /tmp/ab/memkv-$side 7800 > /tmp/ab/msrv-$side.log 2>&1 &
  while ! curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
  SP=$(pgrep -f "memkv-$side start")
  for w in "get 4K" "batch-get 4K" "batch-put 4K" "put 4K"; do
   set -- $w
   echo "$side $w: $($B --workloads $1 --sizes $2 --max-data 256M 2>&1 | tail -2|head -1)"
  done
  echo "$side rss: $(grep VmRSS /proc/$SP/status)"
  kill $SP; while kill -0 $SP 2>/dev/null; do sleep 0.2; done
 done
done
