#!/bin/bash
# usage: loop2.sh N LOG  -- current build's striping crash test until a failure, two busy loops
N=$1; LOG=$2
cd /work/main
cp target/release/deps/storage_direct-386980828d86986f /tmp/crash/sd-cur
( while :; do :; done ) & b1=$!
( while :; do :; done ) & b2=$!
for i in $(seq 1 $N); do
  if ! RUST_LOG=info,memkv_store=debug /tmp/crash/sd-cur kill_9_while_striping --test-threads 1 > /tmp/crash/run2.out 2>&1; then
    echo "run $i FAILED" >> $LOG; cp /tmp/crash/run2.out /tmp/crash/fail-$i.out; break
  fi
done
kill $b1 $b2
echo "done after $i runs" >> $LOG
