#!/usr/bin/env bash
# bench/report_scale.sh: how long capq_report() takes on a capture of
# 100,000 statements, in each format (a benchmark that reports, never a test
# that fails on numbers; the target is under 2 seconds).
#
# Starts a throwaway server (scripts/pgtemp.sh, port REPORT_PORT, default
# 55903; psql over its unix socket; shared_preload_libraries = 'capquery',
# capquery.buffer_size = 256MB so nothing is lost), then one psql session
# captures 100,000 generated statements (psql's \gexec sends each as its own
# query, as an application would: an N+1-shaped mix in
# ten phases of 10,000, every literal distinct so
# that nearly every text is new, the worst case for the shape grouping) and
# times capq_report() in each format with \timing, REPORT_REPEAT times
# (default 3); the table shows the fastest and the slowest run and the size
# of the document.
#
# Output: stdout and bench/out/report_scale.md; bench/out/report_scale.log
# (the psql session).  Settings: REPORT_PORT, REPORT_REPEAT, PGBINDIR
# (/usr/lib/postgresql/15/bin; the bin directory of a private install, e.g.
# $CAPQ_PG_ROOT/usr/lib/postgresql/15/bin, works too).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=../scripts/pgtemp.sh
source "$HERE/../scripts/pgtemp.sh"
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
PGTEMP_BINDIR=$BINDIR
PORT=${REPORT_PORT:-55903}
REPEAT=${REPORT_REPEAT:-3}
OUT=$HERE/out
RESULTS=$OUT/report_scale.md
LOG=$OUT/report_scale.log

TMP=
CHILD=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$CHILD" ]] && kill_tree "$CHILD"
  pgtemp_stop_all
  [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

waitfor() { "$@" <&0 & CHILD=$!; local rc=0; wait "$CHILD" || rc=$?; CHILD=; return "$rc"; }

mkdir -p "$OUT"
: >"$RESULTS"
lib=$("$BINDIR/pg_config" --pkglibdir)/capquery.so
[[ -f "$lib" ]] || { echo "report_scale: $lib is not installed: run make && make install" >&2; exit 1; }

TMP=$(mktemp -d /tmp/capq-report-scale.XXXXXX)
pgtemp_start report "$PORT" "shared_preload_libraries = 'capquery'" \
  "capquery.buffer_size = '256MB'" >/dev/null
HOST=$PGTEMP_REPORT_HOST

{
  cat <<'EOF'
\set ON_ERROR_STOP 1
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION capquery;
CREATE TABLE alarm_panels (id int PRIMARY KEY, mac_address text NOT NULL, is_online boolean NOT NULL);
CREATE TABLE sensors (id serial PRIMARY KEY, panel_id int NOT NULL, kind text NOT NULL);
INSERT INTO alarm_panels SELECT g, md5(g::text), g % 2 = 0 FROM generate_series(1, 1000) g;
INSERT INTO sensors (panel_id, kind) SELECT 1 + g % 1000, 'kind ' || g % 7 FROM generate_series(1, 3000) g;
ANALYZE;
SELECT capq_begin('report 100k') AS cap \gset
\o /dev/null
SELECT CASE WHEN g % 10000 = 0 THEN format('SELECT capq_phase(%L)', 'request ' || (g / 10000 + 1))
            WHEN g % 10 IN (0, 1, 2) THEN format('SELECT id, mac_address, is_online FROM alarm_panels WHERE id = %s', g)
            WHEN g % 10 IN (3, 4, 5, 6) THEN format('SELECT id, panel_id, kind FROM sensors WHERE panel_id = %s ORDER BY id', g)
            WHEN g % 10 = 7 THEN format('SELECT id, panel_id, kind FROM sensors WHERE panel_id IN (%s) ORDER BY id',
                                        (SELECT string_agg((g + k)::text, ', ') FROM generate_series(1, 1 + g % 13) k))
            WHEN g % 10 = 8 THEN format('UPDATE alarm_panels SET is_online = %s WHERE id = %s', (g % 3 = 0)::text, g)
            ELSE format('INSERT INTO sensors (panel_id, kind) VALUES (%s, %L)', g, 'kind ' || g % 7)
       END
  FROM generate_series(1, 100009) g \gexec
\o
SELECT capq_end() AS captured;
SELECT lost AS lost_statements FROM capq_sessions() WHERE capture = :cap;
EOF
  for fmt in html markdown text; do
    printf '\\timing on\n'
    for ((i = 1; i <= REPEAT; i++)); do
      printf -- '-- TIMED %s\nSELECT length(capq_report(:cap, %s)) AS bytes_%s;\n' "$fmt" "'$fmt'" "$fmt"
    done
    printf '\\timing off\n'
  done
} >"$TMP/session.sql"

echo "== capq_report() on a 100,000-statement capture (psql \\timing; server on port $PORT, buffer_size=256MB)"
echo "+ psql -X -a -h $HOST -p $PORT -U postgres -d postgres -f $TMP/session.sql > $LOG"
waitfor "$BINDIR/psql" -X -a -h "$HOST" -p "$PORT" -U postgres -d postgres -f "$TMP/session.sql" >"$LOG" 2>&1 ||
  { tail -30 "$LOG"; exit 1; }

value_of() { awk -v col="$1" '$1 == col { getline; getline; print $1; exit }' "$LOG"; }
times_of() {
  awk -v name="$1" '$0 == "-- TIMED " name { want = 1 }
                    want && /^Time: / { print $2; want = 0 }' "$LOG" |
    sort -g | awk 'NR == 1 { min = $1 } { max = $1 } END { printf "%.1f %.1f", min, max }'
}

report "## capq_report() timings ($(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?'))"
report ""
report "Server: PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}'), capquery.buffer_size=256MB, $(nproc) cores; client psql over a unix socket; times from psql \\timing (round trip included), fastest and slowest of $REPEAT."
report "Capture: $(value_of captured) statements (lost: $(value_of lost_statements)), 10 phases, every literal distinct."
report ""
report "| format | fastest ms | slowest ms | document bytes | target |"
report "|---|---:|---:|---:|---|"
for fmt in html markdown text; do
  read -r tmin tmax <<<"$(times_of "$fmt")"
  verdict=$(awk -v t="$tmax" 'BEGIN { print (t < 2000) ? "< 2000 (within)" : "< 2000 (OVER)" }')
  report "| \`capq_report(format => '$fmt')\` | $tmin | $tmax | $(value_of "bytes_$fmt") | $verdict |"
done
report ""
echo "results: $RESULTS; session log: $LOG"
