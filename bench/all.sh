#!/usr/bin/env bash
# bench/all.sh (= make bench): every benchmark in one command, not in CI.
# About 15 minutes on a 2-core machine.  Reports, never fails on a number;
# fails only when a run itself fails.
#
#   1. bench/workloads.sh      instructions per statement (callgrind,
#                              marginal over two run lengths) on four
#                              workloads (pk SELECT, 3-table join, INSERT,
#                              bound parameter) for no library, capquery
#                              idle, capturing, plans 'on'/'analyze',
#                              pg_stat_statements, auto_explain idle and
#                              logging, pgaudit logging reads; instructions
#                              under capquery's lock per append
#   2. bench/run.sh            the pk SELECT in detail: where capquery's
#                              instructions go, function by function
#   3. bench/client_capture.sh  the SQLAlchemy workload captured by a
#                              before_cursor_execute listener vs capquery
#   4. bench/pgbench_scope_all.sh  pgbench -S -M prepared, 2 clients,
#                              alternated rounds: a scope 'all' capture held
#                              open vs none; capquery preloaded vs not;
#                              pg_stat_statements vs no library
#   5. bench/readers_writers.sh  a capturing backend's rate while two
#                              sessions read captures in a loop
#   6. bench/read_scale.sh     every reader at 1,000 / 10,000 / 44,000 /
#                              100,000 realistic statements (times, and
#                              instructions per statement), and the plot
#                              doc/read_scale.png
#
# Then bench/readme_perf.sh rewrites the README's generated performance
# section from bench/out/bench.md.  Ports: 55960-55963 (BENCH_PORT_BASE).
# Installs what only the benchmark needs (bench/deps.sh: gnuplot-nox,
# postgresql-15-pgaudit) when it is missing.
# Output: stdout, bench/out/bench.md (all the tables), bench/out/*.md, .log.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
BASE=${BENCH_PORT_BASE:-55960}
export PGBINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
mkdir -p "$OUT"

bash "$HERE/deps.sh"

start=$(date +%s)
FAILED=()
# name script [env...]: run one benchmark, its output to out/name.log; a
# failure is reported at the end, the other benchmarks still run.
# BENCH_ONLY="name ..." runs only those (the tables of the others are
# taken from their last run's files).
step() {
  local name=$1 script=$2 t0; shift 2
  t0=$(date +%s)
  [[ -z "${BENCH_ONLY:-}" || " $BENCH_ONLY " == *" $name "* ]] || return 0
  printf '\n===== %s (%s) =====\n' "$name" "$script"
  set +e
  env "$@" bash "$HERE/$script" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  set -e
  if ((rc != 0)); then
    echo "bench: $script failed (log: $OUT/$name.log)" >&2
    FAILED+=("$name")
  fi
  printf '(%s: %d s)\n' "$name" $(($(date +%s) - t0))
}

step workloads workloads.sh WL_N1=${WL_N1:-100} WL_N2=${WL_N2:-300}
step run run.sh BENCH_N1=${BENCH_N1:-2000} BENCH_N2=${BENCH_N2:-10000}
step client_capture client_capture.sh CC_PORT=$((BASE + 3)) CC_PAIRS=${CC_PAIRS:-7}
step pgbench pgbench_scope_all.sh BENCH_PORT=$BASE ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5}
step readers_writers readers_writers.sh RW_PORT=$((BASE + 1))
step read_scale read_scale.sh READ_PORT=$((BASE + 2)) READ_GRIND_SIZE=${READ_GRIND_SIZE:-3000}
if [[ -z "${BENCH_ONLY:-}" || " $BENCH_ONLY " == *" read_scale "* ]]; then
  bash "$HERE/plot_read_scale.sh" "$OUT/read_scale.tsv" "$ROOT/doc/read_scale.png"
fi

# all the tables, one file: what the README's section is made from
{
  printf '# capquery benchmarks\n\n'
  printf 'Run %s on %s (%d cores), PostgreSQL %s, command `make bench` (bench/all.sh)%s, %d minutes.\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -m)" "$(nproc)" \
    "$("$PGBINDIR/postgres" --version | awk '{print $3}')" \
    "${BENCH_ONLY:+ with BENCH_ONLY=\"$BENCH_ONLY\" (other tables from earlier runs)}" \
    $((($(date +%s) - start + 59) / 60))
  for f in workloads results client_capture pgbench_scope_all readers_writers read_scale; do
    # (run.sh's function-by-function breakdowns stay in bench/out/results.md)
    [[ -s "$OUT/$f.md" ]] && { printf '\n'; awk '/^### Where the cost goes/ { exit } { print }' "$OUT/$f.md" |
                                 sed 's/^## /### /; s/^# /### /'; }
    if [[ $f == read_scale && -s "$ROOT/doc/read_scale.png" ]]; then
      printf '\n![Reader time against capture size](doc/read_scale.png)\n'
    fi
  done
  if [[ -s "$OUT/readers_writers.log" && ! -s "$OUT/readers_writers.md" ]]; then
    printf '\n### A capturing backend while two sessions read\n\n```\n'
    grep -v '^+' "$OUT/readers_writers.log" | tail -15
    printf '```\n'
  fi
} >"$OUT/bench.md"
bash "$HERE/readme_perf.sh" "$OUT/bench.md" "$ROOT/README.md"
printf '\n===== bench: %d s; tables in %s =====\n' $(($(date +%s) - start)) "$OUT/bench.md"
if ((${#FAILED[@]} > 0)); then
  echo "bench: these failed: ${FAILED[*]}" >&2
  exit 1
fi
