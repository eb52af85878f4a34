#!/usr/bin/env bash
# bench/client_capture.sh: start a throwaway preloaded PostgreSQL 15 and run
# bench/client_capture.py against it (client-side capture vs capquery).
# Environment: CC_PORT (55963), PGBINDIR, CC_PAIRS, CC_PANELS.
# Output: stdout and bench/out/client_capture.md.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PGTEMP_BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
# shellcheck source=../scripts/pgtemp.sh
source "$REPO/scripts/pgtemp.sh"
trap pgtemp_stop_all EXIT
pgtemp_start cc "${CC_PORT:-55963}" "shared_preload_libraries='capquery'" >/dev/null
mkdir -p "$REPO/bench/out"
PGHOST=$PGTEMP_CC_HOST PGPORT=$PGTEMP_CC_PORT PGUSER=postgres \
  /usr/bin/python3 "$REPO/bench/client_capture.py" | tee "$REPO/bench/out/client_capture.md"
