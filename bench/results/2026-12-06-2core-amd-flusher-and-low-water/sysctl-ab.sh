#!/bin/bash
# sysctl-ab.sh ROUNDS KEY "VALUE..." "CELL;...": A/B of a kernel setting (sysctl KEY, system-wide:
# server and benchmark alike) for memory-mode cells; commas in a VALUE stand for spaces
# (net.ipv4.tcp_wmem takes "min default max"); each CELL is "WORKLOAD SIZE TASKS", run for 3 s
# over as many connections. Per round and value: one server (/tmp/ab/memkv-head, msrv.sh as
# perfmem.sh), the benchmark /tmp/ab/bench-head. Restores the setting at the end.
#   ab-wmem.txt:          sysctl-ab.sh 2 net.ipv4.tcp_wmem "4096,16384,4194304 4096,16384,1048576 4096,16384,524288" CELLS
#   ab-notsent-lowat.txt: sysctl-ab.sh 2 net.ipv4.tcp_notsent_lowat "4294967295 1048576 262144" CELLS
K=$(printf '%064d' 0 | tr 0 a); KEY=$2; ORIG=$(sysctl -n "$KEY")
trap 'sysctl -q -w "$KEY=$ORIG"' EXIT
IFS=';' read -ra cells <<< "$4"
for r in $(seq 1 "$1"); do for v in $3; do
  sysctl -q -w "$KEY=${v//,/ }"
  /tmp/exp/msrv.sh /tmp/ab/memkv-head 7700 > /tmp/exp/srv.log 2>&1 & SP=$!
  while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.1; done
  line="r$r $KEY=$v"
  for c in "${cells[@]}"; do read -r wl sz t <<< "$c"
    line="$line | $wl $sz x$t $(/tmp/ab/bench-head run --servers 127.0.0.1:7700 --auth-key "$K" --integrity checksum --max-data 64M --duration 3s --sizes "$sz" --workloads "$wl" --tasks "$t" --connections "$t" 2>&1 | grep '^memkv' | awk '{print $6}')"
  done
  echo "$line"
  kill $SP; wait $SP 2>/dev/null
done; done
