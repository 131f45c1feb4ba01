#!/bin/bash
# sb-ab.sh ROUNDS "POLICY..." "CELL;...": the send-buffer setting A/B, one binary (/tmp/ab/memkv-sb,
# /tmp/ab/bench-sb): per round and policy, one memory-mode server (checksum) with
# network.send_buffer POLICY, memkv-bench run cells of 3 s with --send-buffer POLICY, then the
# raw pump (4M, 1 and 4 streams) with --send-buffer POLICY. CELL: "WORKLOAD SIZE TASKS [BATCH]".
# SRV=POLICY keeps the server at POLICY while the client and pump take each value (ab-send-buffer-puts.txt:
# SRV=auto, so only the client end, the sender of puts, changes).
K=$(printf '%064d' 0 | tr 0 a)
IFS=';' read -ra cells <<< "$3"
for r in $(seq 1 "$1"); do for v in $2; do
  cat > /tmp/ab/sb.yaml <<EOT
network:
  address: 127.0.0.1:7700
  auth_key: "$K"
  integrity: checksum
  send_buffer: ${SRV:-$v}
memory:
  max_size: 4 GiB
EOT
  RUST_LOG=warn /tmp/ab/memkv-sb start --config /tmp/ab/sb.yaml > /tmp/exp/srv.log 2>&1 & SP=$!
  while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.1; done
  line="r$r send_buffer=$v"
  for c in "${cells[@]}"; do read -r wl sz t b <<< "$c"
    line="$line | $wl $sz x$t${b:+ b$b} $(/tmp/ab/bench-sb run --servers 127.0.0.1:7700 --auth-key "$K" --integrity checksum --max-data 64M --duration 3s --sizes "$sz" --workloads "$wl" --tasks "$t" --connections "$t" --batch "${b:-1}" --send-buffer "$v" 2>&1 | grep '^memkv' | awk '{print $6}')"
  done
  kill $SP; wait $SP 2>/dev/null
  line="$line | pump $(/tmp/ab/bench-sb pump --sizes 4M --streams 1,4 --working-set 64M --check raw --send-buffer "$v" 2>&1 | awk '$4=="raw"{printf "x%s %s ", $2, $5}')"
  echo "$line"
done; done
