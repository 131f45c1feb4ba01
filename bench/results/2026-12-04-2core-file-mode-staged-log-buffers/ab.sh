#!/usr/bin/env bash
# A/B: file-mode puts, before/after binaries, interleaved rounds.
set -euo pipefail
BENCH=/work/main/target/release/memkv-bench
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-1M,4M}
W=/tmp/ab/work; mkdir -p $W
for r in $(seq 1 $ROUNDS); do
  for which in before after; do
    bin=/tmp/ab/memkv-$which
    rm -f $W/d0.dat
    cat > $W/cfg.yaml <<YAML
network:
  address: 127.0.0.1:9950
  integrity: checksum
memory:
  max_size: 2 GiB
storage:
  mode: file
  block_size: 32 MiB
  sync: always
  drives:
    - { media: $W/d0.dat, size: 8 GiB }
YAML
    $bin start --config $W/cfg.yaml > $W/server.log 2>&1 &
    pid=$!
    for i in $(seq 100); do grep -q 'listening on' $W/server.log && break; sleep 0.1; done
    out=$($BENCH run --servers 127.0.0.1:9950 --integrity checksum --workloads put --sizes $SIZES --tasks 8 --connections 1 --duration 4s 2>/dev/null | grep -E '^memkv +put' || true)
    kill $pid; wait $pid || true
    echo "round $r $which: $(uptime | sed 's/.*load/load/')"
    echo "$out"
  done
done
