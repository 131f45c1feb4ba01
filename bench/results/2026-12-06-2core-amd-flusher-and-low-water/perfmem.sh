#!/bin/bash
# perfmem.sh BIN WORKLOAD SIZE TASKS [BATCH]: perf record -a -g inside a memory-mode cell
# (msrv.sh from ../2026-12-06-2core-amd-deferred-reads, copied to /tmp/exp; MAXDATA, default 64M)
K=$(printf '%064d' 0 | tr 0 a)
/tmp/exp/msrv.sh $1 7700 > /tmp/exp/srv.log 2>&1 &
while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.2; done
SP=$(pgrep -f "$1 start")
/work/main/target/release/memkv-bench run --servers 127.0.0.1:7700 --auth-key $K --integrity checksum --sizes $3 --max-data ${MAXDATA:-64M} --workloads $2 --tasks $4 --connections $4 ${5:+--batch $5} --duration 8s > /tmp/exp/bench.out 2>&1 &
BP=$!
sleep 3; perf record -a -g -o /tmp/exp/perf.data -- sleep 4 2>/dev/null >/dev/null
wait $BP; tail -2 /tmp/exp/bench.out | head -1
kill $SP; while kill -0 $SP 2>/dev/null; do sleep 0.2; done
