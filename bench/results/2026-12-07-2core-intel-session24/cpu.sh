#!/bin/bash
# cpu.sh BUILD MODE [extra bench args]: one server of BUILD, batch-put then batch-get 4K x8 b16 (64M),
# perf stat of server and client during batch-get; prints keys/s and us/key per side
B=$1 M=$2; shift 2
key=$(printf '%064d' 0 | tr 0 a)
printf 'network:\n  address: 127.0.0.1:7920\n  auth_key: "%s"\n  integrity: %s\nmemory:\n  max_size: 3 GiB\n' $key $M > /tmp/ab/cpu-$B.yaml
RUST_LOG=warn /tmp/ab/memkv-$B start --config /tmp/ab/cpu-$B.yaml > /tmp/ab/cpu-$B.log 2>&1 & sp=$!
until curl -s 127.0.0.1:7921/v1/health >/dev/null; do sleep 0.2; done
/tmp/ab/memkv-bench-$B run --servers 127.0.0.1:7920 --auth-key $key --integrity $M --workloads batch-put,batch-get --sizes 4K --tasks 8 --connections 8 --batch 16 --max-data 64M --duration 5s "$@" > /tmp/ab/cpu-$B.out 2>&1 & bp=$!
sleep 7
perf stat -x, -e task-clock -p $sp -o /tmp/ab/cpu-s.txt -- sleep 2.5 & p1=$!
perf stat -x, -e task-clock -p $bp -o /tmp/ab/cpu-c.txt -- sleep 2.5 & p2=$!
wait $p1 $p2; wait $bp
kill $sp; wait $sp 2>/dev/null
ks=$(grep -E '^memkv +batch-get' /tmp/ab/cpu-$B.out | awk '{print $7}')
s=$(grep task-clock /tmp/ab/cpu-s.txt | cut -d, -f1); c=$(grep task-clock /tmp/ab/cpu-c.txt | cut -d, -f1)
python3 -c "ks=$ks; s=$s/2500; c=$c/2500; print(f'$B $M keys/s {ks:.0f} srvCPU {s:.2f} cliCPU {c:.2f} srv us/key {s*1e6/ks:.2f} cli us/key {c*1e6/ks:.2f}')"
