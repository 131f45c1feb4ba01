#!/bin/bash
# cput.sh ROUNDS "SIDE..." INTEGRITY "WORKLOAD SIZE TASKS CONNECTIONS"... : the eighteenth
# session's cpu.sh (GiB/s and CPU ms per GiB of client and server per cell), with
# `network.threads: $THREADS` in the server's config when THREADS is set
here=$(dirname "$0")
exec bash <(sed 's|  integrity: \$integ|  integrity: $integ\n$( [ -n "${THREADS:-}" ] \&\& echo "  threads: $THREADS" )|' \
  "$here/../2026-12-07-2core-amd-zen3-session18/cpu.sh") "$@"
