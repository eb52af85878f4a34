#!/usr/bin/env bash
# bench/client_capture.sh: client-side capture (a SQLAlchemy
# before_cursor_execute listener) vs capquery, on the AlarmPanel/Sensor
# workload; bench/client_capture.py says what is measured and how.
#
#   1. a throwaway preloaded PostgreSQL 15; client_capture.py wall: the
#      alternated wall-time (and CPU-time) rounds, and capquery's record of
#      the statements the backend runs (replay.K.sql)
#   2. client_capture.py grind under callgrind: the client process's
#      instructions per statement, no capture / listener / capquery
#   3. the server stopped, its statements replayed on copies of its data
#      directory in a single-user backend under callgrind, capquery idle
#      and capturing: the backend's instructions per statement
#   4. client_capture.py report: the tables
#
# About 2 minutes.  Environment: CC_PORT (55963), PGBINDIR, CC_SECONDS (50:
# the wall-time rounds), CC_PAIRS (7: the least number of rounds),
# CC_PANELS (100), CC_K1/CC_K2 (25/75 panels: the instruction counts).
# Output: stdout and bench/out/client_capture.md.
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
export PGTEMP_BINDIR=$BINDIR
# shellcheck source=../scripts/pgtemp.sh
source "$REPO/scripts/pgtemp.sh"
PY=/usr/bin/python3
K1=${CC_K1:-25}
K2=${CC_K2:-75}
export CC_K1=$K1 CC_K2=$K2

TMP=$(mktemp -d /tmp/capq-client-capture.XXXXXX)
trap 'pgtemp_stop_all; rm -rf "$TMP"' EXIT
chown postgres:postgres "$TMP"
export CC_WORK=$TMP

pgtemp_start cc "${CC_PORT:-55963}" "shared_preload_libraries='capquery'" >/dev/null
export PGHOST=$PGTEMP_CC_HOST PGPORT=$PGTEMP_CC_PORT PGUSER=postgres

echo "client_capture: wall time, ${CC_SECONDS:-50} s of rounds"
"$PY" "$HERE/client_capture.py" wall

echo "client_capture: the client process under callgrind"
# callgrind's client requests, for Python to count only the workload
cat >"$TMP/cgctl.c" <<'EOF'
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void cg_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
EOF
cc -O2 -shared -fPIC -o "$TMP/cgctl.so" "$TMP/cgctl.c"
CC_CGCTL=$TMP/cgctl.so PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \
  --collect-atstart=no --callgrind-out-file="$TMP/client.cg.%p" \
  "$PY" "$HERE/client_capture.py" grind 2>"$TMP/grind.stderr" ||
  { echo "client_capture: grind failed:" >&2; tail -20 "$TMP/grind.stderr" >&2; exit 1; }

echo "client_capture: the backend's statements under callgrind"
as_pg "$BINDIR/pg_ctl" -D "$PGTEMP_CC_DATA" -m fast -w -s stop
replay() {	# idle|cap K
  local f=$TMP/server.$1.$2
  { [[ $1 == cap ]] && printf 'SELECT capq_begin();\n\n'; cat "$TMP/replay.$2.sql"; } >"$f.sql"
  cp -a "$PGTEMP_CC_DATA" "$f.data"
  as_pg valgrind --tool=callgrind --callgrind-out-file="$f.cg" "$BINDIR/postgres" --single -j \
    -D "$f.data" -c shared_preload_libraries=capquery -c jit=off postgres \
    <"$f.sql" >"$f.stdout" 2>"$f.stderr" ||
    { echo "client_capture: replay $1 $2 failed:" >&2; grep -v '^==' "$f.stderr" | tail -5 >&2; return 1; }
  if grep -q -E '(ERROR|FATAL|PANIC):' "$f.stderr"; then
    echo "client_capture: replay $1 $2 reported an error:" >&2; grep -E '(ERROR|FATAL|PANIC)' "$f.stderr" | head -3 >&2
    return 1
  fi
  rm -rf "$f.data"
}
for mode in idle cap; do
  replay "$mode" "$K1" & p1=$!
  replay "$mode" "$K2" & p2=$!
  wait "$p1"; wait "$p2"
done

mkdir -p "$HERE/out"
"$PY" "$HERE/client_capture.py" report | tee "$HERE/out/client_capture.md"
