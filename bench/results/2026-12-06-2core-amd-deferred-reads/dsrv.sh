#!/bin/bash
# dsrv.sh BIN PORT DEV [CACHE] : format DEV with 32 MiB extents and start memkv in direct mode
BIN=$1; PORT=$2; DEV=$3; CACHE=${4:-1 MiB}
$BIN setup --drives $DEV --shard-size 32768 --force >/dev/null || exit 1
cat > /tmp/ab/d.yaml <<EOT
network:
  address: 127.0.0.1:$PORT
  auth_key: "$(printf '%064d' 0 | tr 0 a)"
  integrity: checksum
storage:
  mode: direct
  block_size: 32 MiB
  drives:
    - media: $DEV
memory:
  max_size: $CACHE
EOT
RUST_LOG=warn exec $BIN start --config /tmp/ab/d.yaml
