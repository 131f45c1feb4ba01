#!/bin/bash
# dab.sh ROUNDS "SIDE..." : direct-mode put 4M x32 (and x8) A/B, one loop device set up afresh per side
set -u
rounds=$1 sides=$2
MB=4096
W=/tmp/dx/w; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=$MB oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img)
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
B=/tmp/ab/memkv-bench-c
for r in $(seq 1 $rounds); do
  for side in $sides; do
    S=/tmp/ab/memkv-$side
    $S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
    cat > $W/c.yaml <<Y
network:
  address: 127.0.0.1:17400
  auth_key: "$KEY"
  integrity: checksum
storage:
  mode: direct
  block_size: 33554432
  drives:
    - media: $DEV
memory:
  max_size: 1GiB
Y
    $S start --config $W/c.yaml > $W/server.log 2>&1 &
    SP=$!
    for i in $(seq 100); do curl -sf http://127.0.0.1:17401/v1/health >/dev/null && break; sleep 0.1; done
    for t in 32 8; do
      MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17400 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks $t --connections $t --duration 4s 2>&1 | grep -E "^memkv" | awk -v s=$side -v t=$t '{print s, "checksum direct-put 4M x" t ":", $6, $8, $9, $10}'
    done
    kill $SP; wait $SP
  done
done
losetup -d $DEV; rm -rf $W
