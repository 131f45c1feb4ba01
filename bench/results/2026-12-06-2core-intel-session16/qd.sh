#!/bin/bash
# qd.sh: queue depth on the loop device and on vda, memkv direct put 4M x32 vs fio write QD32
S=/tmp/ab/memkv-${SIDE:-a}; B=/tmp/ab/memkv-bench-a
MB=${MB:-4096}
snap() { local d=$1; read -r -a x < /sys/block/$d/stat; echo "${x[*]}"; }
report() { # name before after secs
  python3 - "$@" <<'P'
import sys
n,b,a,t=sys.argv[1],list(map(int,sys.argv[2].split())),list(map(int,sys.argv[3].split())),float(sys.argv[4])
d=[y-x for x,y in zip(b,a)]
wios,wsec,wt=d[4],d[6],d[7]
print(f"  {n}: writes/s {wios/t:.0f}, KiB/write {wsec*512/1024/max(wios,1):.0f}, GiB/s {wsec*512/2**30/t:.2f}, avgQD {d[10]/(t*1000):.1f}, busy {d[9]/(t*10):.0f}%, ms/write {wt/max(wios,1):.2f}, flushes {d[15] if len(d)>15 else '-'}")
P
}
W=/tmp/dx/w; rm -rf $W; mkdir -p $W
dd if=/dev/zero of=$W/d.img bs=1M count=$MB oflag=direct status=none
DEV=$(losetup --find --show --direct-io=on $W/d.img); LD=$(basename $DEV)
$S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
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
F=/tmp/dx/f; rm -rf $F; mkdir -p $F
dd if=/dev/zero of=$F/d.img bs=1M count=$MB oflag=direct status=none
FDEV=$(losetup --find --show --direct-io=on $F/d.img); FD=$(basename $FDEV)
for r in 1 2 3; do
  b1=$(snap $LD); v1=$(snap vda); t0=$(date +%s.%N)
  MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17400 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --duration 6s 2>&1 | grep -E "^  memkv|^memkv" | awk '{print "memkv put 4M x32:", $6, "GiB/s"}'
  t1=$(date +%s.%N); b2=$(snap $LD); v2=$(snap vda); dt=$(echo "$t1 - $t0" | bc)
  report $LD "$b1" "$b2" $dt; report vda "$v1" "$v2" $dt
  b1=$(snap $FD); v1=$(snap vda); t0=$(date +%s.%N)
  r=$(fio --name=x --filename=$FDEV --size=$((MB*1048576)) --bs=4194304 --rw=write --iodepth=32 --direct=1 --ioengine=libaio --time_based --runtime=6 --output-format=json --group_reporting | python3 -c 'import json,sys; j=json.load(sys.stdin); print(round(j["jobs"][0]["write"]["bw_bytes"]/2**30,2))')
  t1=$(date +%s.%N); b2=$(snap $FD); v2=$(snap vda); dt=$(echo "$t1 - $t0" | bc)
  echo "fio write QD32: $r GiB/s"; report $FD "$b1" "$b2" $dt; report vda "$v1" "$v2" $dt
done
curl -s http://127.0.0.1:17401/v1/metrics | grep -E "^memkv_drive_syncs|^memkv_drive_written"
kill $SP; wait $SP
losetup -d $DEV; losetup -d $FDEV; rm -rf $W $F
