#!/bin/bash
# acked.sh ROUNDS: one-client cells against the streaming and the acknowledged raw pump.
# Per round: one memory-mode checksum server (default send buffer), memkv-bench run put/get
# at 4M and 1M with 1 task over 1 connection (3 s each), then memkv-bench pump raw, 1 stream,
# streaming and --acked (1 s each). Binaries /tmp/ab/memkv-ack, /tmp/ab/bench-ack.
K=$(printf '%064d' 0 | tr 0 a)
for r in $(seq 1 "$1"); do
  cat > /tmp/ab/ack.yaml <<EOT
network:
  address: 127.0.0.1:7700
  auth_key: "$K"
  integrity: checksum
memory:
  max_size: 4 GiB
EOT
  RUST_LOG=warn /tmp/ab/memkv-ack start --config /tmp/ab/ack.yaml > /tmp/exp/srv.log 2>&1 & SP=$!
  while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.1; done
  line="r$r"
  for c in "put 4M" "get 4M" "put 1M" "get 1M"; do read -r wl sz <<< "$c"
    line="$line | $wl $sz x1 $(/tmp/ab/bench-ack run --servers 127.0.0.1:7700 --auth-key "$K" --integrity checksum --max-data 64M --duration 3s --sizes "$sz" --workloads "$wl" --tasks 1 --connections 1 2>&1 | grep '^memkv' | awk '{print $6}')"
  done
  kill $SP; wait $SP 2>/dev/null
  for a in "" --acked; do
    line="$line | pump${a:+ acked} $(/tmp/ab/bench-ack pump --sizes 4M,1M --streams 1 --working-set 64M --check raw $a 2>&1 | awk '$4=="raw"{printf "%s %s ", $1, $5}')"
  done
  echo "$line"
done
