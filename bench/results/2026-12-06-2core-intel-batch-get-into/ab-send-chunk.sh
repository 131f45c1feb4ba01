#!/bin/bash
# sc.sh ROUNDS "SC..." cells...: send-chunk A/B via X_SEND_CHUNK (experiment build), LW from env X_LOW_WATER
rounds=$1 sides=$2; shift 2
key=$(printf '%064d' 0 | tr 0 a)
B=/work/main/target-x/release
for r in $(seq 1 $rounds); do for sc in $sides; do
  X_SEND_CHUNK=$sc /tmp/ab/msrv.sh $B/memkv 7800 > /tmp/ab/srv-$sc.log 2>&1 &
  until curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
  pid=$(pgrep -f "release/memkv start")
  for cell in "$@"; do read -r w size tasks conns max <<< "$cell"
    line=$(X_SEND_CHUNK=$sc $B/memkv-bench run --servers 127.0.0.1:7800 --auth-key "$key" --integrity checksum --workloads $w --sizes $size --tasks $tasks --connections $conns --max-data ${max:-256M} --duration ${DUR:-4s} 2>&1 | tail -2 | head -1)
    echo "$sc $w $size x$tasks: $line"
  done
  kill $pid; while kill -0 $pid 2>/dev/null; do sleep 0.2; done
done; done
