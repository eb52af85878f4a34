#!/usr/bin/env bash
# bench/read_scale.sh: what every reader costs on captures of realistic
# statements (bench/gen_realistic.py: ORM-style SELECTs with joins, DML with
# RETURNING, DDL, transaction control; texts average about 170 bytes, about
# half the statements of a shape not seen before) of READ_SIZES statements.
#
# Times: a throwaway server (scripts/pgtemp.sh, port READ_PORT, default
# 55951; psql over its unix socket; capquery.buffer_size = 1GB so nothing
# is lost) captures each size in one
# psql session (scope 'backend'), then each reader runs READ_REPEAT times
# (default 5) in its own session, psql \timing; the table shows the median.
# Instructions: the server is stopped and a single-user backend under
# callgrind captures READ_GRIND_SIZE statements (default 10000; 0 skips) and
# runs each reader once, collecting only inside the reader functions; the
# table shows instructions per captured statement.  These do not depend on
# what else the machine runs.
#
# Output: stdout, bench/out/read_scale.md (markdown), bench/out/read_scale.tsv
# (size, reader, median ms: for the plot), bench/out/read_scale.log,
# bench/out/read_scale.callgrind (the profile, for callgrind_annotate).
# Settings: READ_SIZES ("1000 10000 44000 100000"), READ_REPEAT, READ_PORT,
# READ_GRIND_SIZE, PGBINDIR (/usr/lib/postgresql/15/bin).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=../scripts/pgtemp.sh
source "$HERE/../scripts/pgtemp.sh"
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
PGTEMP_BINDIR=$BINDIR
PORT=${READ_PORT:-55951}
SIZES=${READ_SIZES:-1000 10000 44000 100000}
REPEAT=${READ_REPEAT:-5}
GRIND=${READ_GRIND_SIZE:-10000}
OUT=$HERE/out
RESULTS=$OUT/read_scale.md
TSV=$OUT/read_scale.tsv
LOG=$OUT/read_scale.log
GEN=$HERE/gen_realistic.py

READERS=(
  "queries|SELECT count(*) FROM capq_queries(:cap)|capq_queries_1_1|100"
  "summary|SELECT count(*) FROM capq_summary(:cap)|capq_summary|250"
  "snapshot|SELECT length(capq_snapshot(:cap))|capq_snapshot|250"
  "no_repeats|SELECT capq_assert_no_repeats(1000000, :cap)|capq_assert_no_repeats|250"
)

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
: >"$LOG"
[[ -f "$("$BINDIR/pg_config" --pkglibdir)/capquery.so" ]] ||
  { echo "read_scale: capquery is not installed for $BINDIR" >&2; exit 1; }

TMP=$(mktemp -d /tmp/capq-read.XXXXXX)
chown postgres:postgres "$TMP"
chmod 700 "$TMP"
pgtemp_start read "$PORT" "shared_preload_libraries = 'capquery'" \
  "capquery.buffer_size = '1GB'" >/dev/null
HOST=$PGTEMP_READ_HOST
DATA=$PGTEMP_READ_DATA
psql_() { "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres -d postgres "$@"; }

{ echo "CREATE EXTENSION capquery;"; python3 "$GEN" schema; } | psql_ >/dev/null
: >"$TSV"
declare -A MEDIAN SHAPES BYTES TEXTBYTES
for n in $SIZES; do
  python3 "$GEN" workload "$n" >"$TMP/w$n.sql"
  TEXTBYTES[$n]=$(awk '{ b += length($0) - 1 } END { print b }' "$TMP/w$n.sql")
  { echo "SELECT capq_begin('real $n');"; echo '\o /dev/null'; cat "$TMP/w$n.sql"
    echo '\o'; echo "SELECT capq_end();"; } |
    "$BINDIR/psql" -X -q -h "$HOST" -p "$PORT" -U postgres -d postgres >>"$LOG" 2>&1
  cap=$(psql_ -At -c "SELECT capture FROM capq_sessions() WHERE label = 'real $n'")
  SHAPES[$n]=$(psql_ -At -c "SELECT count(*) FROM capq_summary($cap)")
  BYTES[$n]=$(psql_ -At -c "SELECT length(capq_snapshot($cap))")
  for r in "${READERS[@]}"; do
    IFS='|' read -r name sql _ _ <<<"$r"
    for ((i = 0; i < REPEAT; i++)); do
      printf '\\timing on\n%s\n' "${sql//:cap/$cap}" | psql_ -o /dev/null |
        awk '/^Time: / { print $2 }'
    done >"$TMP/times"
    MEDIAN[$n,$name]=$(sort -g "$TMP/times" | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }')
    printf '%s\t%s\t%s\n' "$n" "$name" "${MEDIAN[$n,$name]}" >>"$TSV"
    echo "read_scale: $n statements, $name: ${MEDIAN[$n,$name]} ms (median of $REPEAT)"
  done
done
# the single-user backend below reuses the data directory
as_pg "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null

declare -A IR
if ((GRIND > 0)) && command -v valgrind >/dev/null; then
  f=$TMP/grind
  python3 "$GEN" workload "$GRIND" >"$f.w"
  { echo "SELECT capq_begin('grind')"; sed 's/;$//' "$f.w"; echo "SELECT capq_end()"
    for r in "${READERS[@]}"; do IFS='|' read -r _ sql _ _ <<<"$r"; echo "${sql//:cap/NULL}"; done
  } >"$f.sql"
  toggles=()
  for r in "${READERS[@]}"; do IFS='|' read -r _ _ fn _ <<<"$r"; toggles+=("--toggle-collect=$fn"); done
  (cd "$TMP" && runuser -u postgres -- valgrind --tool=callgrind --callgrind-out-file="$f.out" \
     "${toggles[@]}" "$BINDIR/postgres" --single -D "$DATA" \
     -c shared_preload_libraries=capquery -c capquery.buffer_size=256MB postgres \
     <"$f.sql" >"$f.stdout" 2>"$f.stderr") ||
    { grep -v '^==' "$f.stderr" | tail -5 >&2; exit 1; }
  cp "$f.out" "$OUT/read_scale.callgrind"
  callgrind_annotate --inclusive=yes --threshold=100 "$f.out" >"$f.annotated" 2>/dev/null
  for r in "${READERS[@]}"; do
    IFS='|' read -r name _ fn _ <<<"$r"
    IR[$name]=$(awk -v fn="$fn" '{ gsub(",", "", $1) } $0 ~ ":" fn " " || $0 ~ ":" fn "$" { print $1; exit }' "$f.annotated")
  done
fi

report "## Reading realistic captures ($(date -u '+%Y-%m-%d %H:%M UTC'))"
report ""
report "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}'), $(nproc) cores; \`bash bench/read_scale.sh\`; capture of bench/gen_realistic.py statements, scope 'backend'; median of $REPEAT runs, psql \\timing over a unix socket (round trip included)."
report ""
header="| statements | shapes | statement bytes | snapshot bytes |"
sep="|---:|---:|---:|---:|"
for r in "${READERS[@]}"; do IFS='|' read -r _ sql _ _ <<<"$r"; sql=${sql//(:cap)/()}; header+=" \`${sql//, :cap)/)}\` ms |"; sep+="---:|"; done
report "$header"
report "$sep"
for n in $SIZES; do
  row="| $n | ${SHAPES[$n]} | ${TEXTBYTES[$n]} | ${BYTES[$n]} |"
  for r in "${READERS[@]}"; do IFS='|' read -r name _ _ _ <<<"$r"; row+=" ${MEDIAN[$n,$name]} |"; done
  report "$row"
done
report ""
report "Targets at about 44,000 statements: capq_queries <= 100 ms, capq_summary, capq_snapshot and capq_assert_no_repeats <= 250 ms each."
if ((GRIND > 0)) && [[ -n "${IR[queries]:-}" ]]; then
  report ""
  report "Instructions inside each reader per captured statement (callgrind, single-user backend, capture of $GRIND statements):"
  report ""
  report "| reader | instructions | per statement |"
  report "|---|---:|---:|"
  for r in "${READERS[@]}"; do
    IFS='|' read -r name _ fn _ <<<"$r"
    report "| \`$fn\` | ${IR[$name]} | $(awk -v a="${IR[$name]}" -v n="$GRIND" 'BEGIN { printf "%.0f", a / n }') |"
  done
fi
echo "results: $RESULTS, $TSV"
