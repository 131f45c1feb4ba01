#!/bin/bash
# dsrv.sh BIN PORT DEV [CACHE] : format DEV with 32 MiB extents and start memkv in direct mode
# (storage.sync: always); the eleventh session's srv.sh does the work.
mkdir -p /tmp/exp
exec "$(dirname "$0")/../2026-12-06-2core-amd-flusher-and-low-water/srv.sh" "$1" "$2" direct "$3" always "${4:-1 MiB}"
