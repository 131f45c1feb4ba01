#!/bin/bash
# ab3.sh ROUNDS "SIDE..." INTEGRITY "WORKLOAD SIZE TASKS CONNECTIONS [MAX_DATA]"...
# SIDE is BIN or BIN:VAR=VALUE (env for both server and client); binaries /tmp/ab/memkv-BIN.
set -u
rounds=$1 sides=$2 integ=$3; shift 3
key=$(printf '%064d' 0 | tr 0 a)
for r in $(seq 1 "$rounds"); do
  for side in $sides; do
    bin=${side%%:*}; envs=""; [[ $side == *:* ]] && envs=${side#*:}; envs=${envs//,/ }
    cat > /tmp/ab/m3.yaml <<EOT
network:
  address: 127.0.0.1:7800
  auth_key: "$key"
  integrity: $integ
memory:
  max_size: 4 GiB
EOT
    env $envs RUST_LOG=warn /tmp/ab/memkv-$bin start --config /tmp/ab/m3.yaml > /tmp/ab/srv3.log 2>&1 &
    pid=$!
    until curl -s 127.0.0.1:7801/v1/health >/dev/null; do sleep 0.2; done
    for cell in "$@"; do
      read -r workload size tasks conns max <<< "$cell"
      line=$(env $envs /tmp/ab/memkv-bench-$bin run --servers 127.0.0.1:7800 --auth-key "$key" \
        --integrity "$integ" --workloads "$workload" --sizes "$size" --tasks "$tasks" \
        --connections "$conns" --max-data "${max:-256M}" --duration 4s 2>&1 | tail -2 | head -1)
      echo "$side $integ $workload $size x$tasks: $(echo $line | awk '{print $6, $8, $9, $10}')"
    done
    kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
done
