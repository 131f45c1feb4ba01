#!/bin/bash
# thpab.sh ROUNDS MODE VARIANT... : MODE file (data file on the root disk) or direct (8 GiB loop
# device, --direct-io=on); each VARIANT "name" or "name:ENV=VALUE" runs a fresh server of
# /tmp/s19/bin/memkv with that environment, then put 4M x32 for 4 s (memkv-bench run); prints
# GiB/s and (the server binary is /tmp/s19/bin/memkv-NAME up to its first "-" where that exists; a name containing "nosync" sets storage.sync: none; file mode pre-writes the data file with zeros)
# and the device's write requests per second and KiB per write request during the cell
set -u
rounds=$1 mode=$2; shift 2
W=/tmp/s19/wt; rm -rf $W; mkdir -p $W
S=/tmp/s19/bin/memkv B=/tmp/s19/bin/memkv-bench
if [ $mode = direct ]; then
  dd if=/dev/zero of=$W/d.img bs=1M count=8192 oflag=direct status=none
  DEV=$(losetup --find --show --direct-io=on $W/d.img); BLK=$(basename $DEV)
else
  DEV=$W/drive0.dat; BLK=vda
fi
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
for r in $(seq $rounds); do
 for v in "$@"; do
  name=${v%%:*}; envs=""; [ "$v" != "$name" ] && envs=${v#*:}
  if [ $mode = direct ]; then $S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1; else dd if=/dev/zero of=$DEV bs=1M count=8192 oflag=direct status=none; $S setup --drives $DEV --shard-size 32768 --force >/dev/null 2>&1; fi
  cat > $W/c.yaml <<Y
network:
  address: 127.0.0.1:17500
  auth_key: "$KEY"
  integrity: checksum
storage:
  mode: $mode
  block_size: 33554432
$( case $name in *nosync*) echo "  sync: none";; esac )
  drives:
    - media: $DEV
$( [ $mode = file ] && echo "      size: 8GiB" )
memory:
  max_size: 1GiB
Y
  SB=$S; [ -x $S-${name%%-*} ] && SB=$S-${name%%-*}
  env $envs $SB start --config $W/c.yaml > $W/server.log 2>&1 &
  SP=$!
  for i in $(seq 200); do curl -sf http://127.0.0.1:17501/v1/health >/dev/null && break; sleep 0.1; done
  s0=($(cat /sys/block/$BLK/stat))
  g=$(MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17500 --auth-key $KEY --integrity checksum --workloads put --sizes 4M --tasks 32 --connections 32 --duration 4s 2>&1 | grep -E "^memkv" | awk '{print $6}')
  s1=($(cat /sys/block/$BLK/stat)); [ -n "${SMAPS:-}" ] && grep -E "^(Rss|AnonHuge)" /proc/$SP/smaps_rollup | tr "\n" " "
  w=$(( ${s1[4]} - ${s0[4]} )); sec=$(( ${s1[6]} - ${s0[6]} ))
  echo "round $r $name: $g GiB/s; $BLK write requests/s $((w/4)), $(( w ? sec/2/w : 0 )) KiB per request"
  kill $SP; wait $SP 2>/dev/null
 done
done
[ $mode = direct ] && losetup -d $DEV
[ -n "${KEEP:-}" ] || rm -rf $W
