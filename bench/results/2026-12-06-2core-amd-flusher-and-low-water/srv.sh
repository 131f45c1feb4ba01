#!/bin/bash
# srv.sh BIN PORT DEV SYNC [CACHE]: format DEV with 32 MiB extents and start memkv in direct
# mode with storage.sync: SYNC (dsrv.sh of ../2026-12-06-2core-amd-deferred-reads, plus SYNC)
BIN=$1; PORT=$2; DEV=$3; SYNC=$4; CACHE=${5:-1 MiB}
$BIN setup --drives $DEV --shard-size 32768 --force >/dev/null || exit 1
cat > /tmp/exp/d-$PORT.yaml <<EOT
network:
  address: 127.0.0.1:$PORT
  auth_key: "$(printf '%064d' 0 | tr 0 a)"
  integrity: checksum
storage:
  mode: direct
  block_size: 32 MiB
  sync: $SYNC
  drives:
    - media: $DEV
memory:
  max_size: $CACHE
EOT
RUST_LOG=warn exec $BIN start --config /tmp/exp/d-$PORT.yaml
