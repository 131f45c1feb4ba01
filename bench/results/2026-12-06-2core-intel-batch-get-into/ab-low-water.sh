#!/bin/bash
# lw.sh ROUNDS "LW..." cells...: low-water A/B via X_LOW_WATER (experiment build in target-x)
rounds=$1 sides=$2; shift 2
key=$(printf '%064d' 0 | tr 0 a)
B=/work/main/target-x/release
for r in $(seq 1 $rounds); do for lw in $sides; do
  X_LOW_WATER=$lw /tmp/ab/msrv.sh $B/memkv 7800 > /tmp/ab/srv-$lw.log 2>&1 &
  until curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
  pid=$(pgrep -f "release/memkv start")
  for cell in "$@"; do read -r w size tasks conns max <<< "$cell"
    line=$(X_LOW_WATER=$lw $B/memkv-bench run --servers 127.0.0.1:7800 --auth-key "$key" --integrity checksum --workloads $w --sizes $size --tasks $tasks --connections $conns --max-data ${max:-256M} --duration ${DUR:-4s} 2>&1 | tail -2 | head -1)
    echo "$lw $w $size x$tasks: $line"
  done
  kill $pid; while kill -0 $pid 2>/dev/null; do sleep 0.2; done
done; done
