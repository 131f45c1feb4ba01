#!/bin/bash
# rb-ab.sh ROUNDS "VALUE..." "CELL;...": SO_RCVBUF experiment (EXP_RCVBUF read by the server's
# accepted sockets, the client engine's and the pump's receiving end; none = unset), send buffers
# at memkv's default (auto). Binaries /tmp/ab/memkv-rb, /tmp/ab/bench-rb (0cbdde6 plus
# rcvbuf-experiment.diff). Per round and value: one memory-mode checksum server, run cells of 3 s,
# then the raw pump 4M at 1 and 4 streams.
K=$(printf '%064d' 0 | tr 0 a)
IFS=';' read -ra cells <<< "$3"
for r in $(seq 1 "$1"); do for v in $2; do
  if [ "$v" = none ]; then unset EXP_RCVBUF; else export EXP_RCVBUF=$v; fi
  cat > /tmp/ab/rb.yaml <<EOT
network:
  address: 127.0.0.1:7700
  auth_key: "$K"
  integrity: checksum
memory:
  max_size: 4 GiB
EOT
  RUST_LOG=warn /tmp/ab/memkv-rb start --config /tmp/ab/rb.yaml > /tmp/exp/srv.log 2>&1 & SP=$!
  while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.1; done
  line="r$r rcvbuf=$v"
  for c in "${cells[@]}"; do read -r wl sz t <<< "$c"
    line="$line | $wl $sz x$t $(/tmp/ab/bench-rb run --servers 127.0.0.1:7700 --auth-key "$K" --integrity checksum --max-data 64M --duration 3s --sizes "$sz" --workloads "$wl" --tasks "$t" --connections "$t" 2>&1 | grep '^memkv' | awk '{print $6}')"
  done
  kill $SP; wait $SP 2>/dev/null
  line="$line | pump $(/tmp/ab/bench-rb pump --sizes 4M --streams 1,4 --working-set 64M --check raw 2>&1 | awk '$4=="raw"{printf "x%s %s ", $2, $5}')"
  echo "$line"
done; done
