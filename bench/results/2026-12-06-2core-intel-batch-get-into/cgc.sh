#!/bin/bash
# cgc.sh SIDE: the benchmark client /tmp/ab/bench-SIDE under callgrind against a running memkv
# (memory mode, checksum integrity, on 127.0.0.1:7800): over one connection, 3000 batch gets of
# 16 values of 4 KiB (after the benchmark's prefill of its 4096 keys); prints the total
# instructions (the prefill and the pattern checks included, the same on both sides).
SIDE=$1
K=$(printf '%064d' 0 | tr 0 a)
valgrind --tool=callgrind --callgrind-out-file=/tmp/ab/cgc-$SIDE.out /tmp/ab/bench-$SIDE run \
  --servers 127.0.0.1:7800 --auth-key "$K" --integrity checksum --workloads batch-get \
  --sizes 4K --tasks 1 --connections 1 --batch 16 --keys 4096 --ops 3000 2>&1 | grep Collected
