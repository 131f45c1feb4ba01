#!/bin/bash
# cg.sh SIDE [NAME "BENCH ARGS" "CELL ARGS"...]: the server /tmp/ab/memkv-SIDE under callgrind,
# memory mode, checksum integrity, over one connection; prints each cell's line and the total Ir
# (profile in /tmp/ab/NAME-SIDE.out).
# With SIDE alone (this directory's callgrind-small-gets.txt): NAME cg, 4 KiB values over 256
# keys, 2000 puts then 20000 gets.
SIDE=$1; NAME=${2:-cg}; ARGS=${3:---keys 256}; shift $(( $# < 3 ? $# : 3 ))
if [ $# -eq 0 ]; then set -- "--workloads put --ops 2000" "--workloads get --ops 20000"; fi
cd /work/main
K=$(printf '%064d' 0 | tr 0 a); B="target/release/memkv-bench run --servers 127.0.0.1:7800 --auth-key $K --integrity checksum --tasks 1 --connections 1 --sizes 4K $ARGS"
cat > /tmp/ab/cg.yaml <<EOT
network:
  address: 127.0.0.1:7800
  auth_key: "$K"
  integrity: checksum
memory:
  max_size: 1 GiB
EOT
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file=/tmp/ab/$NAME-$SIDE.out /tmp/ab/memkv-$SIDE start --config /tmp/ab/cg.yaml > /tmp/ab/$NAME-$SIDE.log 2>&1 &
VP=$!
while ! curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.5; done
for cell in "$@"; do
  $B $cell 2>&1 | grep -E "^memkv "
done
kill -INT $VP; wait $VP
callgrind_annotate /tmp/ab/$NAME-$SIDE.out 2>/dev/null | grep -m1 "PROGRAM TOTALS"
