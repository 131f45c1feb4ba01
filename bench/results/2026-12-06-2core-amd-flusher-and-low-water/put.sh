#!/bin/bash
# put.sh BIN SYNC TASKS: one 4 MiB put cell against a fresh server, with the drive's
# /proc/diskstats deltas (writes, flushes, discards, times) and /proc/stat CPU ticks.
# Direct mode on /dev/loop0 by default (srv.sh); MODE=file MEDIA=FILE DS=vda for file mode on
# a data file on vda. MAXDATA (default 2G): distinct value bytes.
# The scripts of this directory expect to live in /tmp/exp.
DEV=/dev/loop0; D=${DS:-loop0}
K=$(printf '%064d' 0 | tr 0 a)
/tmp/exp/srv.sh $1 7700 ${MODE:-direct} ${MEDIA:-$DEV} $2 > /tmp/exp/srv.log 2>&1 &
while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.2; done
SP=$(pgrep -f "$1 start")
s0=($(grep " $D " /proc/diskstats)); c0=($(head -1 /proc/stat))
R=$(/work/main/target/release/memkv-bench run --servers 127.0.0.1:7700 --auth-key $K --integrity checksum --sizes 4M --max-data ${MAXDATA:-2G} --workloads put --tasks $3 --connections $3 --duration 5s 2>&1 | tail -2|head -1)
s1=($(grep " $D " /proc/diskstats)); c1=($(head -1 /proc/stat))
echo "sync=$2 x$3: $R"
echo "  writes $((s1[7]-s0[7])) sectors $((s1[9]-s0[9])) wtime ${s1[10]}-${s0[10]}=$((s1[10]-s0[10]))ms flushes $((s1[18]-s0[18])) discards $((s1[14]-s0[14])) dsect $((s1[16]-s0[16])) ftime $((s1[19]-s0[19]))ms inflight-ms $((s1[12]-s0[12])) wq $((s1[13]-s0[13]))"
echo "  cpu user $((c1[1]-c0[1])) sys $((c1[3]-c0[3])) idle $((c1[4]-c0[4])) iowait $((c1[5]-c0[5])) softirq $((c1[7]-c0[7]))"
kill $SP; while kill -0 $SP 2>/dev/null; do sleep 0.2; done
