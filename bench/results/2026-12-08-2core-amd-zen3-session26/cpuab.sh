#!/bin/bash
# cpuab.sh ROUNDS INTEG WL SIZE TASKS CONNS: a and b alternately, GiB/s and CPU ms per GiB
for r in $(seq 1 $1); do for s in a b; do echo -n "$s "; ./cpu.sh $s $2 $3 $4 $5 $6 | tr '\n' ' '; echo; done; done 2>&1 | awk '{gibs=$7; tot=gibs*5; printf "%s %.2f GiB/s client %.0f ms/GiB server %.0f ms/GiB\n", $1, gibs, ($16+$18)*1000/tot, $24*10/tot}'
