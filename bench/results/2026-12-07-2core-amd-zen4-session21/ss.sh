#!/bin/bash
# ss.sh SBIN BBIN: ss -tmi of the server's and client's sockets during a one-client 4M put
S=$1 B=$2
W=/tmp/s21/wt; rm -rf $W; mkdir -p $W
KEY=$(head -c32 /dev/urandom | xxd -p -c64)
printf 'network:\n  address: 127.0.0.1:17500\n  auth_key: "%s"\n  integrity: checksum\nmemory:\n  max_size: 2GiB\n' $KEY > $W/c.yaml
$S start --config $W/c.yaml > $W/server.log 2>&1 &
SP=$!
for i in $(seq 200); do curl -sf http://127.0.0.1:17501/v1/health >/dev/null && break; sleep 0.1; done
MEMKV_CONFIG=/dev/null $B run --servers 127.0.0.1:17500 --auth-key $KEY --integrity checksum --workloads ${WL:-put} --sizes 4M --tasks 1 --connections 1 --duration 4s > $W/b.out 2>&1 &
BP=$!
sleep 2
for i in 1 2 3; do ss -tmi 'sport = :17500 or dport = :17500' | grep -A2 ESTAB; echo; done
wait $BP; grep -E "^memkv" $W/b.out
kill $SP; wait $SP 2>/dev/null
