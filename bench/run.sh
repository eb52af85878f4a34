#!/usr/bin/env bash
# bench/run.sh: instructions per statement with and without capquery, counted
# by valgrind --tool=callgrind (never timed).  `make bench` runs it.
#
# Method.  A single-user backend (postgres --single, as the postgres OS user)
# on a throwaway data directory runs N primary-key SELECTs
#     SELECT v FROM bench WHERE id = <k>;      (k varies, table of ROWS rows)
# under callgrind, once with N1 and once with N2 statements, each run on a
# fresh copy of the same data directory.  The marginal cost of one statement
#     (Ir(N2) - Ir(N1)) / (N2 - N1)
# cancels start-up, library loading, shared memory set-up and shutdown.
#
# Configurations: see CONFIGS below (baseline twice, to show the noise;
# capquery idle; capturing with a 256MB ring, the default 32MB ring and a
# wrapping 64kB ring; pg_stat_statements).  Capturing configurations start
# their input with SELECT capq_begin(); in both runs, so it cancels too.  A
# native (no valgrind) run of each configuration first checks that it does
# what it says (statements captured, lost, pg_stat_statements calls).
#
# The library measured is a copy of the installed capquery.so taken at start
# (others may reinstall it meanwhile), preloaded by path; the catalog's
# '$libdir/capquery' is pointed at the same copy.
#
# Besides the table, it reports where the cost goes: per-function marginal
# Ir (configuration minus baseline), capquery's own functions (self and
# inclusive), and "capquery code and its calls" (capquery's self cost plus
# its callees except the standard executor it chains to).
#
# Output: stdout, bench/out/results.md (table and breakdowns),
# bench/out/run.log (everything), bench/out/callgrind/ (raw profiles, for
# callgrind_annotate or kcachegrind), bench/out/{idle,cap}-annotated.txt
# (per source line).
#
# Settings (environment): BENCH_N1 (2000), BENCH_N2 (10000), BENCH_ROWS
# (10000), PGBINDIR (/usr/lib/postgresql/15/bin), BENCH_KEEP (keep the
# temporary directory).  Reports only: never fails
# because of the numbers, only when a run itself fails.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
ROOT=$(dirname "$HERE")
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
N1=${BENCH_N1:-2000}
N2=${BENCH_N2:-10000}
ROWS=${BENCH_ROWS:-10000}
OUT=$HERE/out
RESULTS=$OUT/results.md

# Targets (instructions per statement over baseline)
TARGET_IDLE=150
TARGET_CAPTURE=2000
TARGET_PGSS=5000		# "about": a reference point, not a limit

# name|label|shared_preload_libraries|extra -c settings|first statement
CONFIGS=(
  "base|1. baseline: no library (shared_preload_libraries='')|||"
  "base_rep|1b. baseline again (shows measurement noise)|||"
  "lib|1c. another library preloaded that does no work per statement (passwordcheck)|passwordcheck||"
  "idle|2. capquery preloaded, no capture active|capquery||"
  "cap|3. capquery capturing (scope backend, buffer_size=256MB)|capquery|capquery.buffer_size=256MB|SELECT capq_begin();"
  "pgss|4. pg_stat_statements preloaded (compute_query_id=auto)|pg_stat_statements||"
  "capdef|5. capquery capturing, every capquery setting default (32MB ring)|capquery||SELECT capq_begin();"
  "capwrap|6. capquery capturing, ring wrapping (buffer_size=64kB)|capquery|capquery.buffer_size=64kB|SELECT capq_begin();"
)

TMP=
LIBCOPY=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$TMP" && -d "$TMP" && -n "${BENCH_KEEP:-}" ]]; then
    echo "kept $TMP (BENCH_KEEP is set)"
  elif [[ -n "$TMP" && -d "$TMP" ]]; then
    echo "+ rm -rf $TMP"
    rm -rf "$TMP"
  fi
  exit "$rc"
}

# print a command, then run it
run() { printf '+ %s\n' "$*"; "$@"; }

# "function<TAB>Ir" for every function of a callgrind file (self or inclusive)
cg_funcs() {
  callgrind_annotate --inclusive="$2" --threshold=100 --auto=no "$1" |
    awk 'match($0, /^ *[0-9,]+ +\( *[0-9.]+%\) +/) {
           c = substr($0, 1, RLENGTH); sub(/\(.*/, "", c); gsub(/[ ,]/, "", c)
           name = substr($0, RLENGTH + 1)
           # unnamed code: valgrind may file the same address under two
           # objects from one run to the next; key it by address alone
           if (name ~ /^\?\?\?:0x/) sub(/ \[.*\]$/, "", name)
           if (name != "PROGRAM TOTALS") sum[name] += c }
         END { for (n in sum) print n "\t" sum[n] }' |
    sort -t $'\t' -k1,1
}

# "function<TAB>marginal Ir per statement" of a configuration
cg_marginal() {
  local name=$1 incl=$2
  join -t $'\t' -a1 -a2 -e 0 -o 0,1.2,2.2 \
    <(cg_funcs "$TMP/cg/$name.n1.out" "$incl") <(cg_funcs "$TMP/cg/$name.n2.out" "$incl") |
    awk -F'\t' -v d=$((N2 - N1)) '{ printf "%s\t%.1f\n", $1, ($3 - $2) / d }'
}

# Ir spent in capquery's code and in what it calls, apart from the standard
# executor/utility functions its hooks chain to: the self cost of every
# capquery function (inlined pieces included) plus its calls out of capquery.
# Needs $TMP/capq.syms.
cg_capquery_ir() {
  callgrind_annotate --tree=calling --inclusive=no --threshold=100 --auto=no "$1" |
    awk -v symfile="$TMP/capq.syms" '
      BEGIN { while ((getline l < symfile) > 0) syms[l] = 1 }
      function fnof(s,   fn) { fn = s; sub(/ \([0-9,]+x\)/, "", fn); sub(/ \[.*\]$/, "", fn); sub(/^.*:/, "", fn)
                              sub(/'"'"'.*$/, "", fn); sub(/\..*$/, "", fn); return fn }
      function iscapq(s) { if (s ~ /capquery\.so\]$/) return 1; return (s !~ /\]$/) && (fnof(s) in syms) }
      match($0, /^ *[0-9,]+ +\( *[0-9.]+%\) +/) {
        c = substr($0, 1, RLENGTH); sub(/\(.*/, "", c); gsub(/[ ,]/, "", c); rest = substr($0, RLENGTH + 1)
        if (rest ~ /^\*  /) { in_capq = iscapq(substr(rest, 4)); if (in_capq) total += c; next }
        if (rest ~ /^>   / && in_capq) {
          callee = substr(rest, 5)
          if (iscapq(callee) || fnof(callee) ~ /^standard_(Executor(Start|Run|Finish|End)|ProcessUtility|planner)$/) next
          total += c
        }
      }
      END { printf "%d\n", total }'
}

# settings of a configuration as -c arguments; "capquery" means the copy of
# the library taken at start
conf_args() {	# preload extra
  local -n _args=$3
  local preload=$1
  [[ $preload == capquery ]] && preload=$LIBCOPY
  _args=(-c "shared_preload_libraries=$preload" -c jit=off -c huge_pages=off)
  [[ -n "$2" ]] && _args+=(-c "$2")
  return 0
}

# one callgrind run: name nlabel n input
cg_run() {
  local name=$1 which=$2 input=$3 preload=$4 extra=$5
  local data="$TMP/d.$name.$which" outf="$TMP/cg/$name.$which.out"
  local -a args
  conf_args "$preload" "$extra" args
  cp -a "$TMP/data" "$data"
  printf '+ runuser -u postgres -- valgrind --tool=callgrind --callgrind-out-file=%s --trace-children=no %s/postgres --single -D %s %s postgres < %s > %s 2> %s\n' \
    "$outf" "$BINDIR" "$data" "${args[*]}" "$input" "$TMP/$name.$which.stdout" "$TMP/$name.$which.stderr"
  if ! as_pg valgrind --tool=callgrind --callgrind-out-file="$outf" --trace-children=no \
       "$BINDIR/postgres" --single -D "$data" "${args[@]}" postgres \
       <"$input" >"$TMP/$name.$which.stdout" 2>"$TMP/$name.$which.stderr"; then
    echo "run $name.$which failed:" >&2
    grep -v '^==' "$TMP/$name.$which.stderr" | tail -20 >&2
    return 1
  fi
  if grep -q -E '(ERROR|FATAL|PANIC):' "$TMP/$name.$which.stderr"; then
    echo "run $name.$which reported an error:" >&2
    grep -E '(ERROR|FATAL|PANIC):' "$TMP/$name.$which.stderr" | head -5 >&2
    return 1
  fi
  rm -rf "$data"
}

# native run of N1 statements plus check queries; prints the check values
check_run() {	# name preload extra first checksql...
  local name=$1 preload=$2 extra=$3 first=$4; shift 4
  local data="$TMP/d.$name.chk" input="$TMP/$name.chk.sql"
  local -a args
  conf_args "$preload" "$extra" args
  { gen_input "$N1" "$first"; printf '%s\n' "$@"; } >"$input"
  cp -a "$TMP/data" "$data"
  printf '+ runuser -u postgres -- %s/postgres --single -D %s %s postgres < %s\n' \
    "$BINDIR" "$data" "${args[*]}" "$input" >&2
  as_pg "$BINDIR/postgres" --single -D "$data" "${args[@]}" postgres \
    <"$input" >"$TMP/$name.chk.stdout" 2>"$TMP/$name.chk.stderr" || {
      cat "$TMP/$name.chk.stderr" >&2; return 1; }
  rm -rf "$data"
  # values of the check queries: lines like   1: statements = "2000"  (typeid...
  sed -n 's/^\t *[0-9]*: \([a-z_]*\) = "\(.*\)"\t.*/\1=\2/p' "$TMP/$name.chk.stdout" |
    grep -v '^v=' | grep -v '^capq_begin=' | tr '\n' ' '
}

main() {
  local conf name label preload extra first

  trap cleanup EXIT
  trap 'exit 130' INT TERM

  mkdir -p "$OUT"
  rm -rf "$OUT/callgrind"
  mkdir -p "$OUT/callgrind"
  : >"$RESULTS"

  for tool in valgrind callgrind_annotate runuser; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
  done
  local lib
  lib=$("$BINDIR/pg_config" --pkglibdir)/capquery.so
  [[ -f "$lib" ]] || { echo "bench: $lib is not installed: run make && make install" >&2; exit 1; }
  [[ -f "$("$BINDIR/pg_config" --pkglibdir)/pg_stat_statements.so" ]] ||
    { echo "bench: pg_stat_statements.so is missing (postgresql-15 contrib)" >&2; exit 1; }
  ((N2 > N1)) || { echo "bench: BENCH_N2 must exceed BENCH_N1" >&2; exit 1; }

  # What is measured: the INSTALLED library.
  local sha_before newest
  sha_before=$(sha256sum "$lib" | cut -c1-16)
  say "== capquery benchmark: instructions per statement (valgrind --tool=callgrind)"
  say "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  say "git:         $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | grep -q . && echo ' (src/ has uncommitted changes)')"
  say "measured:    $lib (sha256 $sha_before..., installed $(date -u -r "$lib" '+%H:%M:%S UTC')), copied at start"
  if [[ -f "$ROOT/capquery.so" ]] && ! cmp -s "$ROOT/capquery.so" "$lib"; then
    say "WARNING:     $ROOT/capquery.so differs from the installed library: run make install to measure the working tree"
  fi
  newest=$(find "$ROOT/src" -name '*.[ch]' -newer "$lib" 2>/dev/null | head -3 | tr '\n' ' ')
  [[ -z "$newest" ]] || say "WARNING:     sources newer than the installed library: $newest(run make && make install)"
  say "postgres:    $("$BINDIR/postgres" --version)"
  say "valgrind:    $(valgrind --version)"
  say "statements:  N1=$N1, N2=$N2; table bench of $ROWS rows; per statement = (Ir(N2) - Ir(N1)) / $((N2 - N1))"
  say ""

  TMP=$(mktemp -d /tmp/capq-bench.XXXXXX)
  chown postgres:postgres "$TMP"
  chmod 700 "$TMP"
  mkdir "$TMP/cg"
  chown postgres:postgres "$TMP/cg"
  # Measure a copy: others may reinstall the library while this runs.  The
  # catalog's '$libdir/capquery' is pointed at the same copy, so that the
  # preloaded library and the SQL functions' library are one.
  mkdir "$TMP/lib"
  cp "$lib" "$TMP/lib/capquery.so"
  chown -R postgres:postgres "$TMP/lib"
  LIBCOPY=$TMP/lib/capquery
  [[ "$(sha256sum "$LIBCOPY.so" | cut -c1-16)" == "$sha_before" ]] ||
    { echo "bench: $lib changed while being copied; run again" >&2; exit 1; }
  say "== setup (temporary directory $TMP)"
  say "+ cp $lib $LIBCOPY.so    (\"capquery\" below means shared_preload_libraries=$LIBCOPY)"
  say "+ runuser -u postgres -- $BINDIR/initdb -D $TMP/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync"
  as_pg "$BINDIR/initdb" -D "$TMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$TMP/initdb.log" 2>&1 ||
    { cat "$TMP/initdb.log"; exit 1; }
  cat >"$TMP/setup.sql" <<EOF
CREATE TABLE bench (id int PRIMARY KEY, v text NOT NULL)
INSERT INTO bench SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g
VACUUM (FREEZE, ANALYZE) bench
CREATE EXTENSION capquery
UPDATE pg_proc SET probin = '$LIBCOPY' WHERE probin = '\$libdir/capquery'
CREATE EXTENSION pg_stat_statements
CHECKPOINT
EOF
  sed 's/^/    /' "$TMP/setup.sql"
  say "+ runuser -u postgres -- $BINDIR/postgres --single -D $TMP/data -c shared_preload_libraries=capquery postgres < $TMP/setup.sql"
  # (preloaded, like the measured runs: early builds could not be loaded
  # otherwise, their PGC_POSTMASTER settings were FATAL outside preloading)
  as_pg "$BINDIR/postgres" --single -D "$TMP/data" -c shared_preload_libraries=capquery postgres \
    <"$TMP/setup.sql" >"$TMP/setup.stdout" 2>"$TMP/setup.stderr" ||
    { cat "$TMP/setup.stderr"; exit 1; }
  if grep -q -E '(ERROR|FATAL|PANIC):' "$TMP/setup.stderr"; then cat "$TMP/setup.stderr"; exit 1; fi

  for which in n1 n2; do
    local n=$N1; [[ $which == n2 ]] && n=$N2
    gen_input "$n" "" >"$TMP/plain.$which.sql"
    gen_input "$n" "SELECT capq_begin();" >"$TMP/capture.$which.sql"
  done
  say "inputs:      $TMP/plain.{n1,n2}.sql ($(head -2 "$TMP/plain.n1.sql" | tr '\n' ' ')...)"
  say "             $TMP/capture.{n1,n2}.sql (the same, after SELECT capq_begin();)"
  say ""

  say "== sanity: each configuration, natively, $N1 statements, then check queries"
  local chk
  chk=$(check_run idle capquery "" "" "SELECT count(*) AS captures FROM capq_sessions()")
  say "   idle:    $chk (expect captures=0: library loaded, nothing captured)"
  for name in cap capdef capwrap; do
    for conf in "${CONFIGS[@]}"; do
      IFS='|' read -r cname label preload extra first <<<"$conf"
      [[ $cname == "$name" ]] || continue
      chk=$(check_run "$name" "$preload" "$extra" "$first" \
        "SELECT statements, lost FROM capq_sessions()")
      if [[ $name == capwrap ]]; then
        say "   $name: $chk (expect statements=$N1, lost>0: the ring wraps)"
      else
        say "   $name: $chk (expect statements=$N1 lost=0)"
      fi
    done
  done
  chk=$(check_run pgss pg_stat_statements "" "" \
    "SELECT calls FROM pg_stat_statements WHERE query LIKE 'SELECT v FROM bench WHERE id = \$1%'")
  say "   pgss:    $chk (expect calls=$N1)"
  say ""

  say "== callgrind runs (N1 and N2 side by side)"
  local -A per_stmt total1 total2
  for conf in "${CONFIGS[@]}"; do
    IFS='|' read -r name label preload extra first <<<"$conf"
    local kind=plain; [[ -n "$first" ]] && kind=capture
    cg_run "$name" n1 "$TMP/$kind.n1.sql" "$preload" "$extra" &
    local p1=$!
    cg_run "$name" n2 "$TMP/$kind.n2.sql" "$preload" "$extra" &
    local p2=$!
    local failed=0
    wait "$p1" || failed=1
    wait "$p2" || failed=1
    ((failed == 0)) || { echo "bench: callgrind run of $name failed" >&2; exit 1; }
    total1[$name]=$(cg_total "$TMP/cg/$name.n1.out")
    total2[$name]=$(cg_total "$TMP/cg/$name.n2.out")
    per_stmt[$name]=$(awk -v a="${total1[$name]}" -v b="${total2[$name]}" -v d=$((N2 - N1)) \
      'BEGIN { printf "%.1f", (b - a) / d }')
    say "   $name: Ir($N1)=${total1[$name]} Ir($N2)=${total2[$name]} -> ${per_stmt[$name]} per statement"
  done
  cp "$TMP"/cg/*.out "$OUT/callgrind/"
  say ""

  nm --defined-only "$LIBCOPY.so" | awk '$2 ~ /^[tT]$/ { print $3 }' | sed 's/\..*//' |
    grep -v -E '^(_init|_fini|frame_dummy|register_tm_clones|deregister_tm_clones|__do_global_dtors_aux)$' |
    sort -u >"$TMP/capq.syms"
  local -A attrib
  for conf in "${CONFIGS[@]}"; do
    IFS='|' read -r name label preload extra first <<<"$conf"
    [[ $preload == capquery ]] || continue
    attrib[$name]=$(awk -v a="$(cg_capquery_ir "$TMP/cg/$name.n1.out")" -v b="$(cg_capquery_ir "$TMP/cg/$name.n2.out")" \
      -v d=$((N2 - N1)) 'BEGIN { printf "%.1f", (b - a) / d }')
  done

  local base=${per_stmt[base]}
  report "## Instructions per statement (callgrind Ir, marginal over $((N2 - N1)) statements)"
  report ""
  report "Statement: \`SELECT v FROM bench WHERE id = <k>;\` (primary key, $ROWS rows), single-user backend, PostgreSQL 15."
  report ""
  report "| configuration | instructions / statement | delta over baseline | in capquery code and its calls | target |"
  report "|---|---:|---:|---:|---|"
  for conf in "${CONFIGS[@]}"; do
    IFS='|' read -r name label preload extra first <<<"$conf"
    local v=${per_stmt[$name]} delta target verdict
    delta=$(awk -v a="$v" -v b="$base" 'BEGIN { printf "%+.1f", a - b }')
    case $name in
      base) target="-"; delta="0" ;;
      base_rep) target="noise: should be ~0" ;;
      idle) target="<= $TARGET_IDLE" ;;
      cap|capdef|capwrap) target="<= $TARGET_CAPTURE" ;;
      pgss) target="about $TARGET_PGSS (reference)" ;;
    esac
    # judged on capquery's own instructions (see the note under the table)
    verdict=""
    case $name in
      idle) verdict=$(awk -v d="${attrib[$name]:-$delta}" -v t=$TARGET_IDLE 'BEGIN { print (d + 0 <= t) ? " (within)" : " (OVER)" }') ;;
      cap|capdef|capwrap) verdict=$(awk -v d="${attrib[$name]:-$delta}" -v t=$TARGET_CAPTURE 'BEGIN { print (d + 0 <= t) ? " (within)" : " (OVER)" }') ;;
    esac
    report "| $label | $v | $delta | ${attrib[$name]:--} | $target$verdict |"
  done
  report ""
  report "Targets: no capture <= $TARGET_IDLE over baseline; capturing <= $TARGET_CAPTURE over baseline; pg_stat_statements about $TARGET_PGSS over baseline. Verdicts use the \"in capquery code and its calls\" column: the delta column also moves, by up to about 90 instructions either way from one build to the next, with where PostgreSQL's own strings and allocations sit once any library is loaded (the string comparisons of the parser: see __strncmp_avx2 and __memcmp_avx2_movbe in the breakdown below, and row 1c), which is not work capquery does."
  report ""
  report "\"In capquery code and its calls\": self Ir of capquery.so's functions plus everything they call (LWLocks, memcpy, clock_gettime, sigsetjmp of PG_TRY), without the standard functions the hooks chain to (standard_Executor*, standard_ProcessUtility, standard_planner). The delta can differ from it by a few dozen instructions of layout effects: loading a library moves PostgreSQL's allocations, and e.g. __strcmp_avx2 on column names in the parser (scanRTEForColumn) costs more or less depending on where the strings sit; the baseline run twice (1b) shows that the method itself is exact to ~1 instruction."
  report ""

  # Where the cost goes: per-function marginal self cost, configuration minus baseline
  cg_marginal base no >"$TMP/m.base.self"
  local -A titles=([idle]="2. capquery preloaded, no capture" [cap]="3. capquery capturing" [capwrap]="6. capturing, ring wrapping" [pgss]="4. pg_stat_statements")
  for name in idle cap capwrap pgss; do
    cg_marginal "$name" no >"$TMP/m.$name.self"
    local top=30; [[ $name == pgss ]] && top=15
    report "### Where the cost goes: ${titles[$name]} minus baseline, self Ir per statement, by function (top $top)"
    report ""
    report '```'
    report "$(printf '%9s %9s %9s  %s' baseline config delta function)"
    join -t $'\t' -a1 -a2 -e 0 -o 0,1.2,2.2 "$TMP/m.base.self" "$TMP/m.$name.self" |
      awk -F'\t' '{ d = $3 - $2; if (d >= 1 || d <= -1) printf "%9.1f %9.1f %+9.1f  %s\n", $2, $3, d, $1 }' |
      sort -k3,3 -g -r >"$TMP/d.$name.txt"
    head -n "$top" "$TMP/d.$name.txt" | tee -a "$RESULTS"
    if (($(wc -l <"$TMP/d.$name.txt") > top)); then
      report "   ... (negative: $(awk '$3 < 0' "$TMP/d.$name.txt" | wc -l) functions, sum $(awk '$3 < 0 { s += $3 } END { printf "%+.1f", s }' "$TMP/d.$name.txt"))"
    fi
    report '```'
    report ""
  done
  report "(Per-function costs are marginal per statement like the table. ???:0x... entries are unnamed code, mostly PostgreSQL's static functions: Debian's postgres binary is stripped.)"
  report ""

  # capquery's own functions in configuration 3: self and inclusive, by
  # function.  callgrind splits a function's cost by source file when code
  # from other files (headers, ring.h, string_fortified.h) is inlined into
  # it: self is summed over those pieces; inclusive is the largest entry,
  # the function-level one.
  local -A ctitles=([idle]="with no capture (configuration 2)" [cap]="while capturing (configuration 3)")
  for name in idle cap; do
    cg_marginal "$name" yes >"$TMP/m.$name.incl"
    report "### capquery functions ${ctitles[$name]}: Ir per statement"
    report ""
    report '```'
    report "$(printf '%9s %9s  %s' self inclusive function)"
    join -t $'\t' -a1 -a2 -e 0 -o 0,1.2,2.2 "$TMP/m.$name.self" "$TMP/m.$name.incl" |
      awk -F'\t' 'NR == FNR { syms[$1] = 1; next }
        { fn = $1; obj = ($1 ~ /\]$/); sub(/ \[.*\]$/, "", fn); sub(/^.*:/, "", fn); sub(/'"'"'.*$/, "", fn); sub(/\..*$/, "", fn)
          if (!($1 ~ /capquery\.so\]$/ || (!obj && (fn in syms)))) next
          self[fn] += $2; if ($3 > incl[fn]) incl[fn] = $3 }
        END { for (f in self) if (self[f] >= 0.5 || incl[f] >= 0.5) printf "%9.1f %9.1f  %s\n", self[f], incl[f], f }' \
        "$TMP/capq.syms" - | sort -k1,1 -g -r >"$TMP/capq.$name.funcs"
    tee -a "$RESULTS" <"$TMP/capq.$name.funcs"
    report "$(awk '{ s += $1 } END { printf "%9.1f %9s  (sum of self: instructions executed in capquery.so code)", s, "" }' "$TMP/capq.$name.funcs")"
    report '```'
    report ""
  done
  report "Self: instructions in the function itself, including what the compiler inlined into it. Inclusive: with everything it calls (LWLockAcquire/Release, memcpy, clock_gettime...); for the hooks (capq_Executor*) that includes the standard executor they chain to, so only their self cost is capquery's. The delta over baseline minus the sum of self is spent in PostgreSQL and libc functions that capquery calls (see the previous list)."
  report ""

  # line-level views of capquery's sources (whole N2 runs), found through
  # the build directory recorded in the library's debug information
  local compdir
  compdir=$(readelf --debug-dump=info "$LIBCOPY.so" 2>/dev/null |
    sed -n 's/.*DW_AT_comp_dir.*: \(\/.*\)$/\1/p' | head -1)
  for name in idle cap; do
    (cd "$TMP" && callgrind_annotate --auto=yes --inclusive=no --threshold=100 \
       --include="${compdir:-$ROOT}" "$TMP/cg/$name.n2.out") >"$OUT/$name-annotated.txt" 2>&1 || true
  done
  report "Source lines: bench/out/idle-annotated.txt and bench/out/cap-annotated.txt (callgrind_annotate --auto=yes of the $N2-statement runs of configurations 2 and 3; counts are for the whole run, so divide by $N2; sources read from ${compdir:-$ROOT}, the build directory the library records, and valid only while they match the measured build)."
  report ""

  local sha_after
  sha_after=$(sha256sum "$lib" | cut -c1-16)
  report "Measured: capquery.so sha256 $sha_before... (a copy of the installed library taken at start)."
  if [[ "$sha_after" != "$sha_before" ]]; then
    report "Note: the installed $lib changed during the run (now $sha_after...); these numbers are for the copy."
  fi
  say ""
  say "results: $RESULTS; log: $OUT/run.log; profiles: $OUT/callgrind/"
}

mkdir -p "$OUT"
main "$@" 2>&1 | tee "$OUT/run.log"
exit "${PIPESTATUS[0]}"
