#!/bin/bash
# pairdisk2.sh ROUNDS ENGINE CELL...: servers A and B take turns on ONE drive (same image, so the
# same place on the host's disk): each turn starts that side's server on it, runs the cell, stops it.
set -u
A=${A:-a} B=${B:-c}
rounds=$1 engine=$2; shift 2
key=$(printf '%064d' 0 | tr 0 a)
img=/tmp/disk/shared.img
dd if=/dev/zero of=$img bs=1M count=4096 oflag=direct status=none
media=$img
[ $engine = direct ] && media=$(losetup --find --show --direct-io=on $img)
/tmp/ab/memkv-$A setup --drives $media --shard-size 32768 > /dev/null 2>&1
printf 'network:\n  address: 127.0.0.1:7940\n  auth_key: "%s"\n  integrity: checksum\nstorage:\n  mode: %s\n  block_size: 32 MiB\n  drives:\n    - media: %s\n      size: 4 GiB\nmemory:\n  max_size: 3 GiB\n' $key $engine $media > /tmp/ab/s.yaml
for r in $(seq 1 "$rounds"); do
  order="$A $B"; [ $((r % 2)) = 0 ] && order="$B $A"
  for cell in "$@"; do
    read -r workload size tasks conns <<< "$cell"
    for side in $order; do
      RUST_LOG=warn /tmp/ab/memkv-$side start --config /tmp/ab/s.yaml > /tmp/ab/s-$side.log 2>&1 &
      sp=$!
      until curl -s 127.0.0.1:7941/v1/health >/dev/null; do sleep 0.2; done
      /tmp/ab/memkv-bench-a run --servers 127.0.0.1:7940 --auth-key "$key" \
        --integrity checksum --workloads "$workload" --sizes "$size" --tasks "$tasks" \
        --connections "$conns" --max-data 256M --duration ${DUR:-4s} > /tmp/ab/pb.out 2>&1
      gibs=$(grep -E '^memkv' /tmp/ab/pb.out | tail -1 | awk '{print $6}')
      kill $sp; wait $sp
      echo "$r $side $engine $workload $size x$tasks/$conns $gibs"
    done
  done
done
[ $engine = direct ] && losetup --detach $media
rm -f $img
