#!/bin/bash
# fsrv.sh BIN PORT FILE SYNC [CACHE]: file mode on a fully written 8 GiB data file
BIN=$1; PORT=$2; F=$3; SYNC=$4; CACHE=${5:-1 MiB}
$BIN setup --drives $F --shard-size 32768 --force >/dev/null || exit 1
cat > /tmp/exp/f-$PORT.yaml <<EOT
network:
  address: 127.0.0.1:$PORT
  auth_key: "$(printf '%064d' 0 | tr 0 a)"
  integrity: checksum
storage:
  mode: file
  block_size: 32 MiB
  sync: $SYNC
  drives:
    - media: $F
      size: 8 GiB
memory:
  max_size: $CACHE
EOT
RUST_LOG=warn exec $BIN start --config /tmp/exp/f-$PORT.yaml
