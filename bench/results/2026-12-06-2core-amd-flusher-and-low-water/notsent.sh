#!/bin/bash
# notsent.sh ROUNDS "LOWAT..." "CELL;...": A/B of net.ipv4.tcp_notsent_lowat (system-wide) for
# memory-mode cells (server and benchmark client alike), as wmem.sh; each CELL is
# "WORKLOAD SIZE TASKS". Restores the setting at the end.
K=$(printf '%064d' 0 | tr 0 a); ORIG=$(sysctl -n net.ipv4.tcp_notsent_lowat)
trap 'sysctl -q -w net.ipv4.tcp_notsent_lowat="$ORIG"' EXIT
for r in $(seq 1 $1); do for w in $2; do
  sysctl -q -w net.ipv4.tcp_notsent_lowat="$w"
  /tmp/exp/msrv.sh /tmp/ab/memkv-head 7700 > /tmp/exp/srv.log 2>&1 & SP=$!
  while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.1; done
  line="r$r notsent_lowat=$w"
  for cell in $3; do :; done
  IFS=';' read -ra cells <<< "$3"
  for c in "${cells[@]}"; do read -r wl sz t <<< "$c"
    line="$line | $wl $sz x$t $(/tmp/ab/bench-head run --servers 127.0.0.1:7700 --auth-key $K --integrity checksum --max-data 64M --duration 3s --sizes $sz --workloads $wl --tasks $t --connections $t 2>&1 | grep '^memkv' | awk '{print $6}')"
  done
  echo "$line"
  kill $SP; wait $SP 2>/dev/null
done; done
