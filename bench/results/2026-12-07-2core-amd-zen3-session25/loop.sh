#!/bin/bash
# usage: loop.sh BIN N LOG  -- runs the striping crash test N times with memkv BIN, two busy loops
BIN=$1; N=$2; LOG=$3
cd /work/main
cp "$BIN" target/release/memkv
( while :; do :; done ) & b1=$!
( while :; do :; done ) & b2=$!
fails=0
for i in $(seq 1 $N); do
  if ! /tmp/crash/storage_direct-old kill_9_while_striping --test-threads 1 > /tmp/crash/run.out 2>&1; then
    fails=$((fails+1)); echo "run $i FAILED" >> $LOG; grep -A3 panicked /tmp/crash/run.out >> $LOG
  fi
done
kill $b1 $b2
echo "done: $fails failures in $N runs" >> $LOG
