#!/usr/bin/env bash
# bench/plans_callgrind.sh: instructions per statement of capquery's plan
# capture, against auto_explain logging every plan.  Counted by valgrind
# --tool=callgrind, never timed; a report, not a test.
#
# Method (as bench/run.sh): a single-user backend (postgres --single, as the
# postgres OS user) on a copy of one data directory runs N primary-key
# SELECTs
#     SELECT v FROM bench WHERE id = <k>;      (k varies, table of ROWS rows)
# under callgrind, once with N1 and once with N2 statements.  The marginal
# cost of one statement, (Ir(N2) - Ir(N1)) / (N2 - N1), cancels start-up,
# library loading, shared memory set-up and shutdown.  Capturing
# configurations start their input with SELECT capq_begin(...); in both
# runs, so that cancels too.
#
# Configurations (CONFIGS below): baseline; capquery capturing with plans
# 'off', 'on' (EXPLAIN COSTS OFF at ExecutorEnd) and 'analyze' (row counts,
# TIMING OFF); auto_explain with log_min_duration = 0 (every plan, text
# format, costs on: what it does by default), and with log_analyze = on,
# log_timing = off (the counterpart of 'analyze').  auto_explain writes each
# plan to the server log, here the backend's stderr (a file).
#
# A native run of each configuration first checks that it does what it says:
# every statement captured with a plan (or without, for 'off'), every
# statement logged by auto_explain.
#
# The library measured is a copy of the installed capquery.so taken at start
# (others may reinstall it meanwhile), preloaded by path; the catalog's
# '$libdir/capquery' is pointed at the same copy.
#
# Output: stdout and bench/out/plans_callgrind.md.  Settings (environment):
# PLANS_N1 (1000), PLANS_N2 (3000), PLANS_ROWS (10000), PGBINDIR
# (/usr/lib/postgresql/15/bin), PLANS_KEEP (keep the temporary directory).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
ROOT=$(dirname "$HERE")
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
N1=${PLANS_N1:-1000}
N2=${PLANS_N2:-3000}
ROWS=${PLANS_ROWS:-10000}
OUT=$HERE/out
RESULTS=$OUT/plans_callgrind.md

# name|label|shared_preload_libraries|settings (space-separated)|first statement
CONFIGS=(
  "base|1. baseline: no library|||"
  "capoff|2. capquery capturing, plans => 'off'|capquery|capquery.buffer_size=256MB|SELECT capq_begin(plans => 'off');"
  "capon|3. capquery capturing, plans => 'on'|capquery|capquery.buffer_size=256MB|SELECT capq_begin(plans => 'on');"
  "capanalyze|4. capquery capturing, plans => 'analyze'|capquery|capquery.buffer_size=256MB|SELECT capq_begin(plans => 'analyze');"
  "ae|5. auto_explain, log_min_duration = 0|auto_explain|auto_explain.log_min_duration=0|"
  "aeanalyze|6. auto_explain, log_min_duration = 0, log_analyze, log_timing off|auto_explain|auto_explain.log_min_duration=0 auto_explain.log_analyze=on auto_explain.log_timing=off|"
)

TMP=
RUNNING=()
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${RUNNING[@]}"; do kill_tree "$p"; done
  wait 2>/dev/null
  if [[ -n "$TMP" && -d "$TMP" && -n "${PLANS_KEEP:-}" ]]; then
    echo "kept $TMP (PLANS_KEEP is set)"
  elif [[ -n "$TMP" && -d "$TMP" ]]; then
    rm -rf "$TMP"
  fi
  exit "$rc"
}

# -c arguments of a configuration ("capquery" is the copy of the library)
conf_args() {	# preload settings arrayname
  local -n _args=$3
  local preload=$1 s
  [[ $preload == capquery ]] && preload=$TMP/lib/capquery
  _args=(-c "shared_preload_libraries=$preload" -c jit=off -c huge_pages=off)
  for s in $2; do _args+=(-c "$s"); done
  return 0
}

# one single-user run: name which input preload settings [valgrind]
backend_run() {
  local name=$1 which=$2 input=$3 preload=$4 settings=$5 grind=${6:-}
  local data="$TMP/d.$name.$which"
  local -a args cmd=()
  conf_args "$preload" "$settings" args
  [[ -n "$grind" ]] && cmd=(valgrind --tool=callgrind --callgrind-out-file="$TMP/cg/$name.$which.out" --trace-children=no)
  cp -a "$TMP/data" "$data"
  if ! as_pg "${cmd[@]}" "$BINDIR/postgres" --single -D "$data" "${args[@]}" postgres \
       <"$input" >"$TMP/$name.$which.stdout" 2>"$TMP/$name.$which.stderr"; then
    echo "run $name.$which failed:" >&2
    grep -v '^==' "$TMP/$name.$which.stderr" | tail -20 >&2
    return 1
  fi
  rm -rf "$data"
  if grep -q -E '(ERROR|FATAL|PANIC):' "$TMP/$name.$which.stderr"; then
    echo "run $name.$which reported an error:" >&2
    grep -E '(ERROR|FATAL|PANIC):' "$TMP/$name.$which.stderr" | head -5 >&2
    return 1
  fi
}

main() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$OUT"
  : >"$RESULTS"

  local tool lib
  for tool in valgrind runuser; do
    command -v "$tool" >/dev/null || { echo "plans_callgrind: $tool is required" >&2; exit 1; }
  done
  lib=$("$BINDIR/pg_config" --pkglibdir)/capquery.so
  [[ -f "$lib" ]] || { echo "plans_callgrind: $lib is not installed: run make && make install" >&2; exit 1; }
  [[ -f "$("$BINDIR/pg_config" --pkglibdir)/auto_explain.so" ]] ||
    { echo "plans_callgrind: auto_explain.so is missing (postgresql-15 contrib)" >&2; exit 1; }
  ((N2 > N1)) || { echo "plans_callgrind: PLANS_N2 must exceed PLANS_N1" >&2; exit 1; }

  TMP=$(mktemp -d /tmp/capq-plans.XXXXXX)
  chown postgres:postgres "$TMP"
  chmod 700 "$TMP"
  mkdir "$TMP/cg" "$TMP/lib"
  cp "$lib" "$TMP/lib/capquery.so"
  chown -R postgres:postgres "$TMP/cg" "$TMP/lib"

  say "== capquery plan capture vs auto_explain: instructions per statement (valgrind --tool=callgrind)"
  say "git:         $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  say "measured:    copy of $lib (sha256 $(sha256sum "$TMP/lib/capquery.so" | cut -c1-16)...)"
  say "postgres:    $("$BINDIR/postgres" --version)"
  say "statements:  N1=$N1, N2=$N2; per statement = (Ir(N2) - Ir(N1)) / $((N2 - N1))"

  as_pg "$BINDIR/initdb" -D "$TMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log"; exit 1; }
  cat >"$TMP/setup.sql" <<EOF
CREATE TABLE bench (id int PRIMARY KEY, v text NOT NULL)
INSERT INTO bench SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g
VACUUM (FREEZE, ANALYZE) bench
CREATE EXTENSION capquery
UPDATE pg_proc SET probin = '$TMP/lib/capquery' WHERE probin = '\$libdir/capquery'
CHECKPOINT
EOF
  # preloaded by name here: CREATE EXTENSION loads '$libdir/capquery', and a
  # second copy of the library would define its settings twice
  as_pg "$BINDIR/postgres" --single -D "$TMP/data" -c shared_preload_libraries=capquery postgres \
    <"$TMP/setup.sql" >"$TMP/setup.stdout" 2>"$TMP/setup.stderr" || { cat "$TMP/setup.stderr"; exit 1; }
  if grep -q -E '(ERROR|FATAL|PANIC):' "$TMP/setup.stderr"; then cat "$TMP/setup.stderr"; exit 1; fi

  local conf name label preload settings first which n
  for conf in "${CONFIGS[@]}"; do
    IFS='|' read -r name label preload settings first <<<"$conf"
    for which in n1 n2; do
      n=$N1; [[ $which == n2 ]] && n=$N2
      gen_input "$n" "$first" >"$TMP/$name.$which.sql"
    done
  done

  say ""
  say "== sanity: each configuration natively, $N1 statements"
  local check
  for conf in "${CONFIGS[@]}"; do
    IFS='|' read -r name label preload settings first <<<"$conf"
    cp "$TMP/$name.n1.sql" "$TMP/$name.chk.sql"
    if [[ $preload == capquery ]]; then
      echo "SELECT count(*) AS captured, count(plan) AS with_plan, sum((plan LIKE '%actual rows=1 %')::int) AS with_rows FROM capq_queries()" \
        >>"$TMP/$name.chk.sql"
    fi
    backend_run "$name" chk "$TMP/$name.chk.sql" "$preload" "$settings"
    case $name in
      base) check="(nothing to check)" ;;
      cap*)
        check=$(sed -n 's/^\t *[0-9]*: \([a-z_]*\) = "\(.*\)"\t.*/\1=\2/p' "$TMP/$name.chk.stdout" |
                grep -E '^(captured|with_plan|with_rows)=' | tr '\n' ' ') ;;
      ae*) check="logged plans=$(grep -c 'LOG:  duration: .* plan:' "$TMP/$name.chk.stderr" || true)" ;;
    esac
    say "   $name: $check"
    { grep -m1 -A3 'plan:$' "$TMP/$name.chk.stderr" || true; } | sed 's/^/        /' >"$TMP/$name.sample"
  done
  say "   (expected: capoff captured=$N1 with_plan=0; capon with_plan=$N1 with_rows=0; capanalyze with_plan=$N1 with_rows=$N1; ae* logged plans=$N1)"
  say "   an auto_explain log entry:"
  cat "$TMP/ae.sample"

  say ""
  say "== callgrind runs (N1 and N2 side by side)"
  local -A per_stmt
  local p1 p2 failed
  for conf in "${CONFIGS[@]}"; do
    IFS='|' read -r name label preload settings first <<<"$conf"
    backend_run "$name" n1 "$TMP/$name.n1.sql" "$preload" "$settings" grind &
    p1=$!
    backend_run "$name" n2 "$TMP/$name.n2.sql" "$preload" "$settings" grind &
    p2=$!
    RUNNING=("$p1" "$p2")
    failed=0
    wait "$p1" || failed=1
    wait "$p2" || failed=1
    RUNNING=()
    ((failed == 0)) || { echo "plans_callgrind: callgrind run of $name failed" >&2; exit 1; }
    local t1 t2
    t1=$(cg_total "$TMP/cg/$name.n1.out")
    t2=$(cg_total "$TMP/cg/$name.n2.out")
    per_stmt[$name]=$(awk -v a="$t1" -v b="$t2" -v d=$((N2 - N1)) 'BEGIN { printf "%.1f", (b - a) / d }')
    say "   $name: Ir($N1)=$t1 Ir($N2)=$t2 -> ${per_stmt[$name]} per statement"
  done

  local base=${per_stmt[base]} ae=${per_stmt[ae]} aeanalyze=${per_stmt[aeanalyze]}
  local ae_delta aea_delta
  ae_delta=$(awk -v a="$ae" -v b="$base" 'BEGIN { printf "%.1f", a - b }')
  aea_delta=$(awk -v a="$aeanalyze" -v b="$base" 'BEGIN { printf "%.1f", a - b }')
  say ""
  report "## Plan capture vs auto_explain: instructions per statement (callgrind Ir, marginal over $((N2 - N1)) statements)"
  report ""
  report "Statement: \`SELECT v FROM bench WHERE id = <k>;\` (primary key, $ROWS rows), single-user backend, $("$BINDIR/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /'); capquery $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')."
  report ""
  report "| configuration | instructions / statement | over baseline | vs auto_explain (same analyze setting) |"
  report "|---|---:|---:|---|"
  for conf in "${CONFIGS[@]}"; do
    IFS='|' read -r name label preload settings first <<<"$conf"
    local v=${per_stmt[$name]} delta cmp=""
    delta=$(awk -v a="$v" -v b="$base" 'BEGIN { printf "%+.1f", a - b }')
    case $name in
      base) delta=0 ;;
      capon) cmp=$(awk -v d="$delta" -v r="$ae_delta" 'BEGIN { printf "%.2f x auto_explain (%s)", d / r, (d <= r) ? "no more: within" : "MORE" }') ;;
      capanalyze) cmp=$(awk -v d="$delta" -v r="$aea_delta" 'BEGIN { printf "%.2f x auto_explain log_analyze (%s)", d / r, (d <= r) ? "no more: within" : "MORE" }') ;;
    esac
    report "| $label | $v | $delta | $cmp |"
  done
  report ""
  report "Target (issue 4): plan capture costs no more instructions per statement than auto_explain logging every plan. auto_explain's figure includes writing each plan to the log (stderr, a file here); capquery's includes copying the plan text into the shared ring."
  report ""
  say ""
  say "results: $RESULTS"
}

mkdir -p "$OUT"
main "$@"
