#!/usr/bin/env bash
# bench/soak.sh: start a throwaway preloaded PostgreSQL 15 and run
# bench/soak.py against it (pgbench clients, sqlsmith under a scope 'all'
# capture, kill -9 cycles, hostile inputs).  Not part of make test: the
# README's reliability figures come from it.  Needs Debian's sqlsmith
# (installed here if missing).  Environment: SOAK_PORT (55821), PGBINDIR,
# SOAK_CLIENTS, SOAK_TRANSACTIONS, SOAK_SQLSMITH_QUERIES, SOAK_KILL_CYCLES.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v sqlsmith >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlsmith >/dev/null
export PGTEMP_BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
# shellcheck source=../scripts/pgtemp.sh
source "$REPO/scripts/pgtemp.sh"
trap pgtemp_stop_all EXIT
pgtemp_start soak "${SOAK_PORT:-55821}" "shared_preload_libraries='capquery'" \
  "restart_after_crash = on" "max_connections = 120" "capquery.max_captures = 128" >/dev/null
PATH="$PGTEMP_BINDIR:$PATH" PGHOST=$PGTEMP_SOAK_HOST PGPORT=$PGTEMP_SOAK_PORT PGUSER=postgres \
  SOAK_SERVER_LOG=$PGTEMP_SOAK_DIR/log /usr/bin/python3 "$REPO/bench/soak.py"
