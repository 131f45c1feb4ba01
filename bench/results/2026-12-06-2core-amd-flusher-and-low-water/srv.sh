#!/bin/bash
# srv.sh BIN PORT MODE MEDIA SYNC [CACHE]: format MEDIA with 32 MiB extents and start memkv on
# it in storage mode MODE (direct: a block device; file: an 8 GiB data file written in full),
# with storage.sync: SYNC, checksum integrity and a CACHE RAM read cache (default 1 MiB).
BIN=$1; PORT=$2; MODE=$3; MEDIA=$4; SYNC=$5; CACHE=${6:-1 MiB}
$BIN setup --drives "$MEDIA" --shard-size 32768 --force >/dev/null || exit 1
SIZE=""; [ "$MODE" = file ] && SIZE=$'\n      size: 8 GiB'
cat > /tmp/exp/srv-$PORT.yaml <<EOT
network:
  address: 127.0.0.1:$PORT
  auth_key: "$(printf '%064d' 0 | tr 0 a)"
  integrity: checksum
storage:
  mode: $MODE
  block_size: 32 MiB
  sync: $SYNC
  drives:
    - media: $MEDIA$SIZE
memory:
  max_size: $CACHE
EOT
RUST_LOG=warn exec $BIN start --config /tmp/exp/srv-$PORT.yaml
