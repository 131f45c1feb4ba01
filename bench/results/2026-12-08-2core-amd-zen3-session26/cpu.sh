#!/bin/bash
# cpu.sh SIDE INTEG WORKLOAD SIZE TASKS CONNS: GiB/s and CPU seconds (client, server) of one 5 s run
side=$1 integ=$2 wl=$3 size=$4 tasks=$5 conns=$6
key=$(printf '%064d' 0 | tr 0 a)
printf 'network:\n  address: 127.0.0.1:7920\n  auth_key: "%s"\n  integrity: %s\nmemory:\n  max_size: 3 GiB\n' $key $integ > p-cpu.yaml
RUST_LOG=warn ./memkv-$side start --config p-cpu.yaml > p-cpu.log 2>&1 &
SP=$!
until curl -s 127.0.0.1:7921/v1/health >/dev/null; do sleep 0.2; done
t0=$(awk '{print $14+$15}' /proc/$SP/stat)
/usr/bin/time -f "client %U user %S sys %e wall" ./memkv-bench-$side run --servers 127.0.0.1:7920 --auth-key $key --integrity $integ --workloads $wl --sizes $size --tasks $tasks --connections $conns --max-data 256M --duration 5s 2>&1 | grep -E "^memkv|^client" | awk '{printf "%s ", $0} END {print ""}'
t1=$(awk '{print $14+$15}' /proc/$SP/stat)
echo "server ticks $((t1-t0)) (x10ms)"
kill $SP; wait
