#!/bin/bash
# cg.sh SIDE: server under callgrind, memory mode; 2000 puts + 20000 gets of 4 KiB over one connection; prints total Ir
SIDE=$1; cd /work/main
K=$(printf '%064d' 0 | tr 0 a); B="target/release/memkv-bench run --servers 127.0.0.1:7800 --auth-key $K --integrity checksum --tasks 1 --connections 1 --sizes 4K --keys 256"
cat > /tmp/ab/cg.yaml <<EOT
network:
  address: 127.0.0.1:7800
  auth_key: "$K"
  integrity: checksum
memory:
  max_size: 1 GiB
EOT
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file=/tmp/ab/cg-$SIDE.out /tmp/ab/memkv-$SIDE start --config /tmp/ab/cg.yaml > /tmp/ab/cg-$SIDE.log 2>&1 &
VP=$!
while ! curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.5; done
$B --workloads put --ops 2000 >/dev/null 2>&1
$B --workloads get --ops 20000 2>&1 | grep -E "^memkv "
kill -INT $VP; wait $VP
callgrind_annotate /tmp/ab/cg-$SIDE.out 2>/dev/null | grep -m1 "PROGRAM TOTALS"
