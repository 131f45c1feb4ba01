#!/bin/bash
# lw.sh ROUNDS "LW..." ARGS: low-water A/B, server and client with the same EXP_LW: needs
# /tmp/ab/memkv-lw and /tmp/ab/bench-lw built with LowWater::before_read taking its mark
# from the EXP_LW environment variable (an experiment, not committed); msrv.sh as perfmem.sh
K=$(printf '%064d' 0 | tr 0 a)
for r in $(seq 1 $1); do for lw in $2; do
 EXP_LW=$lw /tmp/exp/msrv.sh /tmp/ab/memkv-lw 7700 > /tmp/exp/srv.log 2>&1 &
 SP=$!
 while ! curl -s 127.0.0.1:7701/v1/health >/dev/null; do sleep 0.1; done
 echo "r$r lw=$lw $(EXP_LW=$lw /tmp/ab/bench-lw run --servers 127.0.0.1:7700 --auth-key $K --integrity checksum --max-data 64M --duration 3s $3 2>&1 | grep "^memkv" | awk '{printf "%s %s x%s %s p50 %s | ", $2, $3, $4, $6, $8}')"
 kill $SP; while kill -0 $SP 2>/dev/null; do sleep 0.1; done
done; done
