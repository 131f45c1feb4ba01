#!/bin/bash
# cgb.sh SIDE: the server /tmp/ab/memkv-SIDE under callgrind, memory mode, checksum integrity;
# over one connection, batches of 16 values of 4 KiB: 250 batch puts, then 3000 batch gets
# (after the benchmark's prefill of its 4096 keys); prints the total instructions.
SIDE=$1; cd /work/main
K=$(printf '%064d' 0 | tr 0 a)
B="target/release/memkv-bench run --servers 127.0.0.1:7800 --auth-key $K --integrity checksum --tasks 1 --connections 1 --sizes 4K --keys 4096 --batch 16"
cat > /tmp/ab/cg.yaml <<EOT
network:
  address: 127.0.0.1:7800
  auth_key: "$K"
  integrity: checksum
memory:
  max_size: 1 GiB
EOT
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file=/tmp/ab/cgb-$SIDE.out /tmp/ab/memkv-$SIDE start --config /tmp/ab/cg.yaml > /tmp/ab/cgb-$SIDE.log 2>&1 &
VP=$!
while ! curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.5; done
$B --workloads batch-put --ops 250 2>&1 | grep -E "^memkv "
$B --workloads batch-get --ops 3000 2>&1 | grep -E "^memkv "
kill -INT $VP; wait $VP
callgrind_annotate /tmp/ab/cgb-$SIDE.out 2>/dev/null | grep -m1 "PROGRAM TOTALS"
