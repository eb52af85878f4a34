#!/usr/bin/env bash
# bench/workloads.sh: instructions per statement on four workloads for
# capquery and what users would otherwise pick, counted by callgrind (never
# timed); a report, not a test.
#
# Method (as bench/run.sh): a single-user backend (postgres --single, as
# the postgres OS user) on a copy of one data directory runs a workload of
# N1 and of N2 statements under callgrind; the marginal cost of one
# statement, (Ir(N2) - Ir(N1)) / (N2 - N1), cancels start-up, library
# loading and shutdown.  A configuration's first statement (capq_begin(...),
# a PREPARE) is in both runs, so it cancels too.
#
# Workloads: pk      SELECT v FROM bench WHERE id = k      (primary key)
#            join3   the same row joined through two more tables
#            insert  INSERT INTO sink (k, v) VALUES (k, '...')
#            bound   EXECUTE p(k) of PREPARE p(int) AS SELECT ... $1
#                    (a statement with a bound parameter)
# Configurations: no library; capquery idle; capturing; capturing with
# plans 'on' and 'analyze'; pg_stat_statements; auto_explain idle (its
# default log_min_duration -1) and logging every plan (0); pgaudit logging
# reads (pgaudit.log = 'read'; Debian's postgresql-15-pgaudit, installed by
# bench/deps.sh, preloaded by path).  auto_explain and pgaudit write to the
# backend's stderr, a file.
#
# Also: the instructions capquery executes while holding its lock, per
# append (capturing, pk workload): capq_ring_append's inclusive cost less
# LWLockAcquire's and the few before it, so an upper bound; and the ceiling
# it implies on appends per second per core at 3 * 10^9 instructions per
# second (one core saturating the lock).
#
# Output: stdout and bench/out/workloads.md.  Settings: WL_N1 (100),
# WL_N2 (300), PGBINDIR (/usr/lib/postgresql/15/bin).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
N1=${WL_N1:-100}
N2=${WL_N2:-300}
ROWS=10000
OUT=$HERE/out
RESULTS=$OUT/workloads.md
PKGLIB=$("$BINDIR/pg_config" --pkglibdir)
PGAUDIT=
for d in "$PKGLIB" /usr/lib/postgresql/15/lib; do
  [[ -f $d/pgaudit.so ]] && { PGAUDIT=$d/pgaudit; break; }
done

# name|label|shared_preload_libraries|-c settings (space-separated)|first statement
CONFIGS=(
  "base|no library|||"
  "idle|capquery, idle|capquery||"
  "cap|capquery capturing|capquery|capquery.buffer_size=256MB|SELECT capq_begin();"
  "plans_on|capquery capturing, plans 'on'|capquery|capquery.buffer_size=256MB|SELECT capq_begin(plans => 'on');"
  "plans_an|capquery capturing, plans 'analyze'|capquery|capquery.buffer_size=256MB|SELECT capq_begin(plans => 'analyze');"
  "pgss|pg_stat_statements|pg_stat_statements||"
  "ae_idle|auto_explain, idle|auto_explain||"
  "ae_log|auto_explain logging every plan|auto_explain|auto_explain.log_min_duration=0|"
)
[[ -n $PGAUDIT ]] && CONFIGS+=("pgaudit|pgaudit logging reads|$PGAUDIT|pgaudit.log=read|")
WORKLOADS=(pk join3 insert bound)

TMP=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

gen() {	# workload n first: the input of one run
  awk -v w="$1" -v n="$2" -v first="$3" -v rows=$ROWS 'BEGIN {
    if (first != "") print first
    if (w == "bound") print "PREPARE p (int) AS SELECT v FROM bench WHERE id = $1"
    for (i = 0; i < n; i++) {
      k = (i * 7919) % rows + 1
      if (w == "pk") printf "SELECT v FROM bench WHERE id = %d\n", k
      else if (w == "join3") printf "SELECT b.v, c.w, d.x FROM bench b JOIN bench_c c ON c.id = b.id JOIN bench_d d ON d.id = c.id WHERE b.id = %d\n", k
      else if (w == "insert") printf "INSERT INTO sink (k, v) VALUES (%d, %cvalue %d%c)\n", k, 39, k, 39
      else printf "EXECUTE p(%d)\n", k } }'
}

grind() {	# config workload which: Ir of one run
  local name=$1 w=$2 which=$3 n=$N1 preload extra first
  [[ $which == n2 ]] && n=$N2
  for conf in "${CONFIGS[@]}"; do
    IFS='|' read -r cname _ preload extra first <<<"$conf"
    [[ $cname == "$name" ]] && break
  done
  local f=$TMP/$name.$w.$which args=(-c "shared_preload_libraries=$preload" -c jit=off)
  for s in $extra; do args+=(-c "$s"); done
  gen "$w" "$n" "$first" >"$f.sql"
  cp -a "$TMP/data" "$f.data"
  as_pg valgrind --tool=callgrind --callgrind-out-file="$f.out" "$BINDIR/postgres" --single \
    -D "$f.data" "${args[@]}" postgres <"$f.sql" >"$f.stdout" 2>"$f.stderr" ||
    { echo "workloads: $name $w $which failed:" >&2; grep -v '^==' "$f.stderr" | tail -5 >&2; return 1; }
  if grep -q -E '(ERROR|FATAL|PANIC):' "$f.stderr"; then
    echo "workloads: $name $w $which reported an error:" >&2; grep -E '(ERROR|FATAL)' "$f.stderr" | head -3 >&2; return 1
  fi
  rm -rf "$f.data"
  cg_total "$f.out" >"$f.ir"
}

mkdir -p "$OUT"
: >"$RESULTS"
[[ -f $PKGLIB/capquery.so ]] || { echo "workloads: capquery is not installed for $BINDIR" >&2; exit 1; }
TMP=$(mktemp -d /tmp/capq-workloads.XXXXXX)
chown postgres:postgres "$TMP"
chmod 700 "$TMP"
as_pg "$BINDIR/initdb" -D "$TMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
  >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log"; exit 1; }
cat >"$TMP/setup.sql" <<EOF
CREATE TABLE bench (id int PRIMARY KEY, v text NOT NULL)
CREATE TABLE bench_c (id int PRIMARY KEY, w text NOT NULL)
CREATE TABLE bench_d (id int PRIMARY KEY, x text NOT NULL)
CREATE TABLE sink (k int NOT NULL, v text NOT NULL)
INSERT INTO bench SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g
INSERT INTO bench_c SELECT g, md5((g + 1)::text) FROM generate_series(1, $ROWS) g
INSERT INTO bench_d SELECT g, md5((g + 2)::text) FROM generate_series(1, $ROWS) g
VACUUM (FREEZE, ANALYZE)
CREATE EXTENSION capquery
CREATE EXTENSION pg_stat_statements
CHECKPOINT
EOF
as_pg "$BINDIR/postgres" --single -D "$TMP/data" -c shared_preload_libraries=capquery postgres \
  <"$TMP/setup.sql" >"$TMP/setup.stdout" 2>"$TMP/setup.stderr" || { cat "$TMP/setup.stderr"; exit 1; }

say "workloads: ${#CONFIGS[@]} configurations x ${#WORKLOADS[@]} workloads x 2 runs ($N1, $N2 statements), two at a time"
for conf in "${CONFIGS[@]}"; do
  IFS='|' read -r name _ _ _ _ <<<"$conf"
  for w in "${WORKLOADS[@]}"; do
    grind "$name" "$w" n1 & p1=$!
    grind "$name" "$w" n2 & p2=$!
    wait "$p1"; wait "$p2"
  done
  say "workloads: $name done"
done

per() { awk -v a="$(cat "$TMP/$1.$2.n1.ir")" -v b="$(cat "$TMP/$1.$2.n2.ir")" -v d=$((N2 - N1)) 'BEGIN { printf "%.0f", (b - a) / d }'; }
report "## Instructions per statement, four workloads ($(date -u '+%Y-%m-%d %H:%M UTC'))"
report ""
report "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}'), \`bash bench/workloads.sh\`: callgrind, single-user backend, marginal between $N1 and $N2 statements. First row: instructions per statement with no library; other rows: added over it."
report ""
report "| configuration | pk SELECT | 3-table join | INSERT | bound parameter (EXECUTE) |"
report "|---|---:|---:|---:|---:|"
row="| no library (instructions / statement) |"
for w in "${WORKLOADS[@]}"; do row+=" $(per base "$w") |"; done
report "$row"
for conf in "${CONFIGS[@]:1}"; do
  IFS='|' read -r name label _ _ _ <<<"$conf"
  row="| $label |"
  for w in "${WORKLOADS[@]}"; do
    row+=" $(awk -v a="$(per "$name" "$w")" -v b="$(per base "$w")" 'BEGIN { printf "%+.0f", a - b }') |"
  done
  report "$row"
done
[[ -n $PGAUDIT ]] || report "| pgaudit logging reads | (pgaudit.so not installed: bench/deps.sh) | | | |"

# the lock: capq_ring_append inclusive, less LWLockAcquire, per call
cp "$TMP/cap.pk.n2.out" "$OUT/workloads-cap-pk.callgrind"
tree=$(callgrind_annotate --tree=calling --inclusive=yes --threshold=100 "$TMP/cap.pk.n2.out" 2>/dev/null)
# (callgrind files a function's cost by source file when headers are
# inlined into it: the function-level entry is the largest; LWLockAcquire
# is called from the ring.h piece)
read -r calls incl acq <<<"$(printf '%s\n' "$tree" | awk '
  function num(s) { gsub(/[ ,]/, "", s); return s + 0 }
  /^ *[0-9,]+ .*\*  .*:capq_ring_append( |$)/ { split($0, a, "("); v = num(a[1]); if (v > incl) incl = v; inside = 1; next }
  /^ *[0-9,]+ .*\*  / { inside = 0 }
  inside && />   .*:LWLockAcquire / { split($0, a, "("); acq += num(a[1])
                                     match($0, /\(([0-9,]+)x\)/); calls += num(substr($0, RSTART + 1, RLENGTH - 3)) }
  END { print calls + 0, incl + 0, acq + 0 }')"
if ((calls > 0)); then
  held=$(awk -v i="$incl" -v a="$acq" -v c="$calls" 'BEGIN { printf "%.0f", (i - a) / c - 20 }')
  report ""
  report "Lock: capq_ring_append executed $calls times in the $N2-statement capturing run (pk); under capquery's exclusive lock it executes about **$held instructions per append** (its inclusive cost less LWLockAcquire and the ~20 before it: LWLockRelease included, an upper bound). At 3 x 10^9 instructions per second that is a ceiling of about **$(awk -v h="$held" 'BEGIN { printf "%.1f", 3e9 / h / 1e6 }') million appends per second** on the one lock, whatever the number of cores."
fi
echo "results: $RESULTS"
