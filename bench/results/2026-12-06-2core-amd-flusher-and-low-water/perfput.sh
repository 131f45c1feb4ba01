#!/bin/bash
# perfput.sh BIN SYNC TASKS: perf record -a -g for 4 s inside an 8 s direct-put cell (srv.sh)
DEV=/dev/loop0
K=$(printf '%064d' 0 | tr 0 a)
/tmp/exp/srv.sh $1 7700 direct $DEV $2 > /tmp/exp/srv.log 2>&1 &
while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.2; done
SP=$(pgrep -f "$1 start")
/work/main/target/release/memkv-bench run --servers 127.0.0.1:7700 --auth-key $K --integrity checksum --sizes 4M --max-data 2G --workloads put --tasks $3 --connections $3 --duration 8s > /tmp/exp/bench.out 2>&1 &
BP=$!
sleep 3; perf record -a -g -o /tmp/exp/perf.data -- sleep 4 2>/dev/null >/dev/null
wait $BP; tail -2 /tmp/exp/bench.out | head -1
kill $SP; while kill -0 $SP 2>/dev/null; do sleep 0.2; done
