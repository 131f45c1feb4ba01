#!/bin/bash
# usage: run2.sh SERVER BENCH label mode(file|direct) cache workloads
set -e
S=$1; B=$2; L=$3; M=$4; C=$5; WL=${6:-put}
W=/tmp/dx/w-$L; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=${MB:-1024} oflag=direct status=none
if [ $M = direct ]; then DEV=$(losetup --find --show --direct-io=on $W/d.img); MEDIA=$DEV; SZ=""; else MEDIA=$W/d.img; DEV=""; SZ="      size: $((${MB:-1024}*1048576))"; fi
$S setup --drives $MEDIA --shard-size ${SHARD:-4096} --force >/dev/null 2>&1
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
cat > $W/c.yaml <<Y
network:
  address: 127.0.0.1:17400
  auth_key: "$KEY"
  integrity: checksum
storage:
  mode: $M
  block_size: ${BS:-4194304}
  drives:
    - media: $MEDIA
$SZ
memory:
  max_size: $C
Y
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:17401/v1/health >/dev/null && break; sleep 0.1; done
if [ -n "$PRE" ]; then MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17400 --auth-key $KEY --integrity checksum --workloads batch-put --batch 16 --sizes 4K --tasks 8 --connections 8 --duration 3s 2>&1 | grep -E "^  memkv" | sed "s/^/$L /"; fi
for r in 1 2; do
if [ -n "$FIO" ]; then /tmp/dx/fio.sh | grep "QD32 fdatasync=0" | sed "s/^/$L /"; fi; if [ -n "$SYNC" ]; then /usr/bin/time -f "sync %es" sync; fi
MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17400 --auth-key $KEY --integrity checksum --workloads $WL --sizes 4M --tasks 32 --connections 32 --duration ${DUR:-8s} 2>&1 | grep -E "^  memkv" | sed "s/^/$L /"
curl -s http://127.0.0.1:17401/v1/metrics | grep -E "^memkv_(drive_syncs|trimmed|discarded|evictions_total|keys)" | sed "s/^/$L /"
done
curl -s http://127.0.0.1:17401/v1/metrics | grep -E "^memkv_(drive_syncs|trimmed|discarded|evictions_total|process_resident|cache)" | sed "s/^/$L /"
kill $SP; wait $SP || true; grep TIMING $W/server.log | tail -2
[ -n "$DEV" ] && losetup -d $DEV
rm -rf $W
