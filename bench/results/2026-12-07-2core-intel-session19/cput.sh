#!/bin/bash
# cpu.sh ROUNDS "SIDE..." INTEGRITY "WORKLOAD SIZE TASKS CONNECTIONS"... : GiB/s and CPU ms per GiB (client, server)
set -u
rounds=$1 sides=$2 integ=$3; shift 3
key=$(printf '%064d' 0 | tr 0 a)
for r in $(seq 1 "$rounds"); do
  for side in $sides; do
    bin=${side%%:*}; envs=""; [[ $side == *:* ]] && envs=${side#*:}; envs=${envs//,/ }
    cat > /tmp/ab/m4.yaml <<EOT
network:
  address: 127.0.0.1:7900
  auth_key: "$key"
  integrity: $integ
$( [ -n "${THREADS:-}" ] && echo "  threads: $THREADS" )
memory:
  max_size: 4 GiB
EOT
    env $envs RUST_LOG=warn /tmp/ab/memkv-$bin start --config /tmp/ab/m4.yaml > /tmp/ab/srv4.log 2>&1 &
    pid=$!
    until curl -s 127.0.0.1:7901/v1/health >/dev/null; do sleep 0.2; done
    for cell in "$@"; do
      read -r workload size tasks conns <<< "$cell"
      env $envs /tmp/ab/memkv-bench-$bin run --servers 127.0.0.1:7900 --auth-key "$key" \
        --integrity "$integ" --workloads "$workload" --sizes "$size" --tasks "$tasks" \
        --connections "$conns" --max-data 256M --duration 5s > /tmp/ab/b4.out 2>&1 &
      bp=$!
      sleep 2.5
      cp=$(pgrep -f "memkv-bench-$bin run" | head -1)
      perf stat -x, -e task-clock -p $cp -o /tmp/ab/pc.txt -- sleep 2 &
      perf stat -x, -e task-clock -p $pid -o /tmp/ab/ps.txt -- sleep 2
      wait $bp
      gibs=$(grep -E '^memkv' /tmp/ab/b4.out | tail -1 | awk '{print $6}')
      c=$(grep task-clock /tmp/ab/pc.txt | cut -d, -f1); sv=$(grep task-clock /tmp/ab/ps.txt | cut -d, -f1)
      echo "$side $integ $workload $size x$tasks: $gibs GiB/s client $(awk -v c=$c -v g=$gibs 'BEGIN{printf "%.0f", c/2/g}') server $(awk -v c=$sv -v g=$gibs 'BEGIN{printf "%.0f", c/2/g}') ms/GiB"
    done
    kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
done
