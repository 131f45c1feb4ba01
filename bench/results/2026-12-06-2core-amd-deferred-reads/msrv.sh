#!/bin/bash
# msrv.sh BIN PORT: memkv in memory mode, checksum integrity
BIN=$1; PORT=$2
cat > /tmp/ab/m.yaml <<EOT
network:
  address: 127.0.0.1:$PORT
  auth_key: "$(printf '%064d' 0 | tr 0 a)"
  integrity: checksum
memory:
  max_size: 4 GiB
EOT
RUST_LOG=warn exec $BIN start --config /tmp/ab/m.yaml
