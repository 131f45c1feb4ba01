#!/bin/bash
# sweep.sh ROUNDS "VALUE..." "CELL;...": EXP_SNDBUF A/B (server, client, pump alike); none = unset
# Built from f8e75e6 plus ../2026-12-06-2core-amd-flusher-and-low-water/sndbuf-experiment.diff
# (EXP_SNDBUF read by server, client engine and pump); binaries /tmp/ab/memkv-exp, bench-exp;
# msrv.sh from ../2026-12-06-2core-amd-deferred-reads. sweep-sndbuf-experiment.txt:
#   sweep.sh 3 "none 262144 393216 524288 786432 1048576" "get 4M 1;get 4M 8;put 4M 1;put 4M 8;get 1M 8;put 1M 8"
K=$(printf '%064d' 0 | tr 0 a)
IFS=';' read -ra cells <<< "$3"
for r in $(seq 1 "$1"); do for v in $2; do
  if [ "$v" = none ]; then unset EXP_SNDBUF; else export EXP_SNDBUF=$v; fi
  /tmp/exp/msrv.sh /tmp/ab/memkv-exp 7700 > /tmp/exp/srv.log 2>&1 & SP=$!
  while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.1; done
  line="r$r sndbuf=$v"
  for c in "${cells[@]}"; do read -r wl sz t <<< "$c"
    line="$line | $wl $sz x$t $(/tmp/ab/bench-exp run --servers 127.0.0.1:7700 --auth-key "$K" --integrity checksum --max-data 64M --duration 3s --sizes "$sz" --workloads "$wl" --tasks "$t" --connections "$t" 2>&1 | grep '^memkv' | awk '{print $6}')"
  done
  kill $SP; wait $SP 2>/dev/null
  line="$line | pump $(/tmp/ab/bench-exp pump --sizes 4M --streams 1,4 --working-set 64M --check raw 2>&1 | awk '$4=="raw"{printf "x%s %s ", $2, $5}')"
  echo "$line"
done; done
