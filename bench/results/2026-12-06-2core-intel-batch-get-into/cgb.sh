#!/bin/bash
# cgb.sh SIDE: the server /tmp/ab/memkv-SIDE under callgrind (../2026-12-06-2core-amd-deferred-reads/cg.sh),
# memory mode, checksum integrity; over one connection, batches of 16 values of 4 KiB: 250
# batch puts, then 3000 batch gets (after the benchmark's prefill of its 4096 keys); prints the
# total instructions.
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../2026-12-06-2core-amd-deferred-reads/cg.sh" "$1" cgb "--keys 4096 --batch 16" \
  "--workloads batch-put --ops 250" "--workloads batch-get --ops 3000"
