#!/usr/bin/env bash
# bench/million.sh: every reader on a capture of a million statements (a
# benchmark, not a test: it takes minutes).  Each reader must complete (no
# "invalid memory alloc request size", no crash) with memory bounded by its
# output: the table shows its time and, for the reading backend (a fresh
# session per reader), its peak resident memory (VmHWM, which counts the
# pages of the shared ring it read too) and its peak backend-local memory:
# RssAnon (private anonymous pages: palloc'd memory, not the ring), sampled
# every 10 ms by bench/rss_sampler.sh while the reader runs, less what the
# idle session held before.
#
# A throwaway server (port MILLION_PORT, default 55954; capquery.buffer_size
# 1GB) holds a scope 'all' capture while pgbench -M simple sends
# MILLION_STATEMENTS (default 1,000,000) statements whose texts all differ
# (a random literal each): the worst case for the shape grouping's text cache.
#
# Output: stdout and bench/out/million.md.  Settings: MILLION_PORT,
# MILLION_STATEMENTS, PGBINDIR (/usr/lib/postgresql/15/bin).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=../scripts/pgtemp.sh
source "$HERE/../scripts/pgtemp.sh"
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
PGTEMP_BINDIR=$BINDIR
PORT=${MILLION_PORT:-55954}
N=${MILLION_STATEMENTS:-1000000}
OUT=$HERE/out
RESULTS=$OUT/million.md

TMP=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  pgtemp_stop_all
  [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT"
: >"$RESULTS"
TMP=$(mktemp -d /tmp/capq-million.XXXXXX)
chmod 755 "$TMP"
pgtemp_start million "$PORT" "shared_preload_libraries = 'capquery'" \
  "capquery.buffer_size = '1GB'" >/dev/null
HOST=$PGTEMP_MILLION_HOST
psql_() { "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres -d postgres "$@"; }

psql_ -c "CREATE EXTENSION capquery" >/dev/null
cat >"$TMP/stmt.sql" <<'EOF'
\set x random(1, 1000000000)
SELECT :x AS id, 'a statement text of ordinary length' AS label, now() AS at;
EOF
chmod 644 "$TMP/stmt.sql"
t0=$(date +%s)
psql_ -At <<EOF >"$TMP/capture.log"
SELECT capq_begin('million', 'all') IS NOT NULL;
\! $BINDIR/pgbench -n -M simple -c 2 -j 2 -t $((N / 2)) -f $TMP/stmt.sql -h $HOST -p $PORT -U postgres postgres > $TMP/pgbench.log 2>&1
SELECT capq_end();
EOF
cap=$(psql_ -At -c "SELECT capture FROM capq_sessions() WHERE label = 'million'")
read -r captured lost <<<"$(psql_ -At -F ' ' -c "SELECT statements, lost FROM capq_sessions() WHERE capture = $cap")"
say "million: captured $captured statements (lost $lost) in $(( $(date +%s) - t0 )) s"

report "## Reading a capture of a million statements ($(date -u '+%Y-%m-%d %H:%M UTC'))"
report ""
report "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}'), \`bash bench/million.sh\`: $captured statements captured with scope 'all' from pgbench -M simple (every text distinct), $lost lost.  Each reader in a fresh session. VmHWM is the reading backend's peak resident memory, which counts the pages of the shared ring it read too; local peak is its peak RssAnon (private memory, sampled every 10 ms) less the idle session's."
report ""
report "| reader | result | ms | VmHWM (MB) | local peak (MB) |"
report "|---|---|---:|---:|---:|"
for sql in "SELECT count(*) FROM capq_queries($cap)" \
           "SELECT count(*) FROM capq_summary($cap)" \
           "SELECT length(capq_snapshot($cap))" \
           "SELECT capq_assert_no_repeats(1000000, $cap)" \
           "SELECT length(capq_report($cap, 'html'))" \
           "SELECT capq_count(NULL, $cap)"; do
  rm -f "$TMP/sampling" "$TMP/anon"
  out=$(psql_ -At <<EOF 2>&1 || true
SELECT pg_backend_pid() AS pid \gset
\setenv READER_PID :pid
\! echo "idle \$(awk '/^RssAnon/ { print \$2 }' /proc/\$READER_PID/status)"
\! touch $TMP/sampling; $HERE/rss_sampler.sh \$READER_PID $TMP/sampling $TMP/anon >/dev/null 2>&1 &
\timing on
$sql;
\timing off
\! rm -f $TMP/sampling; while [ ! -s $TMP/anon ]; do sleep 0.01; done; echo "anon \$(cat $TMP/anon)"
\! grep VmHWM /proc/\$READER_PID/status
EOF
)
  result=$(printf '%s\n' "$out" | grep -v -E '^(Time:|VmHWM|idle |anon )' | head -1)
  ms=$(printf '%s\n' "$out" | awk '/^Time: / { print $2 }')
  mb=$(printf '%s\n' "$out" | awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }')
  local_mb=$(printf '%s\n' "$out" | awk '/^idle / { idle = $2 } /^anon / { peak = $2 }
    END { if (peak != "") printf "%.0f", (peak - idle) / 1024 }')
  report "| \`$sql\` | ${result:0:60} | ${ms:-failed} | ${mb:-?} | ${local_mb:-?} |"
done
echo "results: $RESULTS"
