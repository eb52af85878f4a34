#!/usr/bin/env bash
# bench/snapshot_scale.sh: how long the read-side functions take on large
# captures (a benchmark that reports, never a test that fails on numbers).
#
#   capq_snapshot()                  over a 10,000-statement capture
#   capq_summary(), capq_assert_no_repeats(100000) (and, for scale,
#   capq_snapshot())                 over two 100,000-statement captures
#
# Starts a throwaway server (port SCALE_PORT, default 55902; unix socket in
# its temporary directory, no TCP; shared_preload_libraries = 'capquery',
# capquery.buffer_size = 256MB so nothing is lost), then one psql session
# captures generated statements (psql's \gexec sends each as its own query,
# as an application would) and times each read with \timing, SCALE_REPEAT
# times (default 3); the table shows the fastest and the slowest run.
#
# The 100,000-statement captures are an N+1-shaped mix in ten "requests"
# (phases) of 10,000 (the \gexec query itself is the 100,000th): panel
# lookups, lazy sensors loads, IN-list loads of varying length, UPDATEs and
# INSERTs.  In the "distinct" capture every literal differs from one
# statement to the next, so nearly every text is new: the worst case for
# the shape grouping, which scans each distinct text once.  In the "cycled"
# capture the same mix runs over 1,000 panels, so texts repeat, as they do
# when a test loads the same fixture rows.
#
# Times depend on what else the machine runs; so the server is then stopped
# and valgrind counts the instructions spent inside capq_summary() and
# capq_snapshot() per captured statement (SCALE_CALLGRIND=0 skips this).
#
# Output: stdout and bench/out/snapshot_scale.md; bench/out/snapshot_scale.log
# (the psql session).  Settings: SCALE_PORT, SCALE_REPEAT, SCALE_CALLGRIND,
# PGBINDIR (/usr/lib/postgresql/15/bin).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
PORT=${SCALE_PORT:-55902}
REPEAT=${SCALE_REPEAT:-3}
GRIND=${SCALE_CALLGRIND:-1}
G1=2000
G2=6000
OUT=$HERE/out
RESULTS=$OUT/snapshot_scale.md
LOG=$OUT/snapshot_scale.log

TMP=
CHILD=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$CHILD" ]] && kill_tree "$CHILD"
  if [[ -n "$TMP" && -f "$TMP/data/postmaster.pid" ]]; then
    (cd "$TMP" && runuser -u postgres -- "$BINDIR/pg_ctl" -D "$TMP/data" -m fast -w stop >/dev/null 2>&1) || true
  fi
  [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run a long command in the background and wait for it, so that a signal
# reaches the traps (and cleanup stops the command) without waiting for it;
# "<&0": a background command would otherwise read /dev/null
waitfor() { "$@" <&0 & CHILD=$!; local rc=0; wait "$CHILD" || rc=$?; CHILD=; return "$rc"; }

mkdir -p "$OUT"
: >"$RESULTS"
lib=$("$BINDIR/pg_config" --pkglibdir)/capquery.so
[[ -f "$lib" ]] || { echo "snapshot_scale: $lib is not installed: run make && make install" >&2; exit 1; }

TMP=$(mktemp -d /tmp/capq-scale.XXXXXX)
chown postgres:postgres "$TMP"
chmod 700 "$TMP"
(cd "$TMP" && runuser -u postgres -- "$BINDIR/initdb" -D "$TMP/data" -U postgres --auth=trust \
   -E UTF8 --locale=C.UTF-8 --no-sync) >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log"; exit 1; }
cat >>"$TMP/data/postgresql.conf" <<EOF
port = $PORT
unix_socket_directories = '$TMP'
listen_addresses = ''
shared_preload_libraries = 'capquery'
capquery.buffer_size = '256MB'
fsync = off
synchronous_commit = off
EOF
(cd "$TMP" && runuser -u postgres -- "$BINDIR/pg_ctl" -D "$TMP/data" -l "$TMP/log" -w start) >/dev/null ||
  { cat "$TMP/log"; exit 1; }

# the session: fixture, then the captures, each read REPEAT times
timed() {	# name sql: REPEAT timed runs, each after a marker line
  local i
  printf '\\timing on\n'
  for ((i = 1; i <= REPEAT; i++)); do printf -- '-- TIMED %s\n%s\n' "$1" "$2"; done
  printf '\\timing off\n'
}
# the 100,000-statement workload; @ID@ is the panel id expression
workload_100k() {
  sed "s/@ID@/$1/g" <<'EOF'
\o /dev/null
SELECT CASE WHEN g % 10000 = 0 THEN format('SELECT capq_phase(%L)', 'request ' || (g / 10000 + 1))
            WHEN g % 10 IN (0, 1, 2) THEN format('SELECT id, mac_address, is_online FROM alarm_panels WHERE id = %s', @ID@)
            WHEN g % 10 IN (3, 4, 5, 6) THEN format('SELECT id, panel_id, kind FROM sensors WHERE panel_id = %s ORDER BY id', @ID@)
            WHEN g % 10 = 7 THEN format('SELECT id, panel_id, kind FROM sensors WHERE panel_id IN (%s) ORDER BY id',
                                        (SELECT string_agg((@ID@ + k)::text, ', ') FROM generate_series(1, 1 + g % 13) k))
            WHEN g % 10 = 8 THEN format('UPDATE alarm_panels SET is_online = %s WHERE id = %s', (g % 3 = 0)::text, @ID@)
            ELSE format('INSERT INTO sensors (panel_id, kind) VALUES (%s, %L)', @ID@, 'kind ' || g % 7)
       END
  FROM generate_series(1, 100009) g \gexec
\o
EOF
}
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
-- capture 1: 10,000 statements (5 shapes; the \gexec query is the 10,000th)
SELECT capq_begin('snapshot 10k') AS cap \gset
\o /dev/null
SELECT CASE g % 5
         WHEN 0 THEN format('SELECT id, mac_address, is_online FROM alarm_panels WHERE id = %s', 1 + g % 1000)
         WHEN 1 THEN format('SELECT id, panel_id, kind FROM sensors WHERE panel_id = %s ORDER BY id', 1 + g % 1000)
         WHEN 2 THEN format('SELECT id, panel_id, kind FROM sensors WHERE panel_id IN (%s) ORDER BY id',
                            (SELECT string_agg((1 + (g + k) % 1000)::text, ', ') FROM generate_series(1, 1 + g % 9) k))
         WHEN 3 THEN format('UPDATE alarm_panels SET is_online = %s WHERE id = %s', (g % 3 = 0)::text, 1 + g % 1000)
         ELSE format('SELECT count(*) FROM sensors WHERE kind = %L', 'kind ' || g % 7)
       END
  FROM generate_series(1, 9999) g \gexec
\o
SELECT capq_end() AS captured_10k;
EOF
  timed snapshot_10k "SELECT length(capq_snapshot(:cap)) AS snapshot_bytes;"
  # capture 2 (distinct): every literal differs, so every text is new;
  # capture 3 (cycled): the same mix over 1,000 panels, so texts repeat
  for variant in distinct cycled; do
    printf -- "-- capture: 100,000 statements, %s literals, 10 phases of 10,000\n" "$variant"
    printf "SELECT capq_begin('n+1 100k %s') AS cap \\\\gset\n" "$variant"
    if [[ $variant == distinct ]]; then workload_100k 'g'; else workload_100k '(1 + g % 1000)'; fi
    printf 'SELECT capq_end() AS captured_%s;\n' "$variant"
    printf 'SELECT count(*) AS shapes_%s, sum(executions) AS statements, max(executions) AS most_repeated FROM capq_summary(:cap);\n' "$variant"
    printf 'SELECT count(DISTINCT query) AS texts_%s FROM capq_queries(:cap);\n' "$variant"
    timed "summary_$variant" "SELECT count(*) AS summary_rows FROM capq_summary(:cap);"
    timed "no_repeats_$variant" "SELECT capq_assert_no_repeats(100000, :cap);"
    timed "snapshot_$variant" "SELECT length(capq_snapshot(:cap)) AS snapshot_bytes;"
  done
  printf "SELECT capq_count(NULL, capture) AS statements, lost FROM capq_sessions() ORDER BY capture;\n"
} >"$TMP/session.sql"

echo "== capquery read-side timings (psql \\timing; server on port $PORT, buffer_size=256MB)"
echo "+ psql -X -a -h $TMP -p $PORT -U postgres -d postgres -f $TMP/session.sql > $LOG"
waitfor "$BINDIR/psql" -X -a -h "$TMP" -p "$PORT" -U postgres -d postgres -f "$TMP/session.sql" >"$LOG" 2>&1 ||
  { tail -30 "$LOG"; exit 1; }

# value of the line after a column header, e.g. captured_10k
value_of() { awk -v col="$1" '$1 == col { getline; getline; print $1; exit }' "$LOG"; }
# "min max" of the Time: lines following each "-- TIMED name" marker
times_of() {
  awk -v name="$1" '$0 == "-- TIMED " name { want = 1 }
                    want && /^Time: / { print $2; want = 0 }' "$LOG" |
    sort -g | awk 'NR == 1 { min = $1 } { max = $1 } END { printf "%.1f %.1f", min, max }'
}

lost=$(awk '$1 == "statements" && $3 == "lost" { getline; while (getline > 0 && $0 !~ /^\(/) print $3 }' "$LOG" | tr '\n' ' ')

report "## capquery read-side timings ($(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?'))"
report ""
report "Server: PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}'), capquery.buffer_size=256MB, $(nproc) cores; client psql over a unix socket; times from psql \\timing (round trip included), fastest and slowest of $REPEAT."
report ""
report "| capture | statements | shapes x phases | distinct texts | most repeated shape (one phase) |"
report "|---|---:|---:|---:|---:|"
report "| 10k, 5 shapes | $(value_of captured_10k) | - | - | - |"
for variant in distinct cycled; do
  read -r shapes statements most <<<"$(awk -v c="shapes_$variant" '$1 == c { getline; getline; print $1, $3, $5; exit }' "$LOG")"
  report "| 100k, $variant literals | $statements | $shapes | $(value_of "texts_$variant") | $most |"
done
report ""
report "Lost statements per capture: ${lost:-?}(must all be 0)."
report ""
report "| read | capture | fastest ms | slowest ms | target |"
report "|---|---|---:|---:|---|"
for row in "snapshot_10k|SELECT length(capq_snapshot())|10k|< 1000" \
           "summary_distinct|SELECT count(*) FROM capq_summary()|100k distinct|< 1000" \
           "no_repeats_distinct|SELECT capq_assert_no_repeats(100000)|100k distinct|< 1000" \
           "snapshot_distinct|SELECT length(capq_snapshot())|100k distinct|(for scale)" \
           "summary_cycled|SELECT count(*) FROM capq_summary()|100k cycled|< 1000" \
           "no_repeats_cycled|SELECT capq_assert_no_repeats(100000)|100k cycled|< 1000" \
           "snapshot_cycled|SELECT length(capq_snapshot())|100k cycled|(for scale)"; do
  IFS='|' read -r name sql cap target <<<"$row"
  read -r tmin tmax <<<"$(times_of "$name")"
  verdict=""
  [[ $target == "< 1000" ]] && verdict=$(awk -v t="$tmax" 'BEGIN { print (t < 1000) ? " (within)" : " (OVER)" }')
  report "| \`$sql\` | $cap | $tmin | $tmax | $target$verdict |"
done
report ""
# Instructions, which load on the machine does not change: the marginal
# cost inside capq_summary() and capq_snapshot() per captured statement,
# callgrind collecting only inside the function (--toggle-collect), in a
# single-user backend on the same data directory, from captures of G1 and G2
# primary-key lookups whose texts are all distinct, or all one text.
if ((GRIND)) && command -v valgrind >/dev/null; then
  (cd "$TMP" && runuser -u postgres -- "$BINDIR/pg_ctl" -D "$TMP/data" -m fast -w stop) >/dev/null
  grind() {	# function texts n: sets IR, the Ir inside the function
    local fn=$1 texts=$2 n=$3 f="$TMP/grind.$1.$2.$3"
    awk -v n="$n" -v texts="$texts" -v fn="$fn" 'BEGIN {
      print "SELECT capq_begin()"
      for (i = 1; i <= n; i++)
        printf "SELECT id, mac_address, is_online FROM alarm_panels WHERE id = %d\n", texts == "distinct" ? i : 1
      if (fn == "capq_summary") print "SELECT count(*) FROM capq_summary()"
      else print "SELECT length(capq_snapshot())" }' >"$f.sql"
    cd "$TMP"	# a directory the postgres user can read
    waitfor runuser -u postgres -- valgrind --tool=callgrind --callgrind-out-file="$f.out" \
       --toggle-collect="$fn" "$BINDIR/postgres" --single -D "$TMP/data" \
       -c shared_preload_libraries=capquery postgres <"$f.sql" >"$f.stdout" 2>"$f.stderr" ||
      { grep -v '^==' "$f.stderr" | tail -5 >&2; return 1; }
    cd "$HERE"
    IR=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f.out" | head -1)
  }
  report "Instructions inside the function per captured statement (callgrind, marginal between captures of $G1 and $G2 statements; single-user backend):"
  report ""
  report "| function | texts | instructions / statement |"
  report "|---|---|---:|"
  for fn in capq_summary capq_snapshot; do
    for texts in distinct same; do
      grind "$fn" "$texts" "$G1" || { echo "snapshot_scale: callgrind run failed" >&2; exit 1; }
      a=$IR
      grind "$fn" "$texts" "$G2" || { echo "snapshot_scale: callgrind run failed" >&2; exit 1; }
      b=$IR
      report "| \`$fn()\` | $texts | $(awk -v a="$a" -v b="$b" -v d=$((G2 - G1)) 'BEGIN { printf "%.0f", (b - a) / d }') |"
    done
  done
  report ""
fi
echo "results: $RESULTS; session log: $LOG"
