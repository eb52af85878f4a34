#!/usr/bin/env bash
# bench/readers_writers.sh: start a throwaway preloaded PostgreSQL 15 (32MB
# ring) and run bench/readers_writers.py against it: a capturing backend's
# rate alone and while two unprivileged sessions read captures in a loop.
# Environment: RW_PORT (55811), PGBINDIR, RW_WINDOW, RW_PAIRS.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PGTEMP_BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
# shellcheck source=../scripts/pgtemp.sh
source "$REPO/scripts/pgtemp.sh"
trap pgtemp_stop_all EXIT
pgtemp_start rw "${RW_PORT:-55811}" "shared_preload_libraries='capquery'" \
  "capquery.buffer_size='32MB'" >/dev/null
PGHOST=$PGTEMP_RW_HOST PGPORT=$PGTEMP_RW_PORT PGUSER=postgres \
  /usr/bin/python3 "$REPO/bench/readers_writers.py"
