#!/usr/bin/env bash
# test/run-all.sh (= make test, what .ci/run calls): build, install, start three
# throwaway PostgreSQL 15 instances, run every test suite against them, and end
# with the line "capquery: N passed, M failed" (N, M = individual tests).
#
# Instances (scripts/pgtemp.sh; host = a private unix socket directory, also 127.0.0.1:PORT):
#   main  54329  shared_preload_libraries='capquery'
#   tiny  54330  shared_preload_libraries='capquery', capquery.buffer_size='64kB'
#   local 54331  no preload (the library loads on first use)
# Suites, each skipped when it has no files:
#   regress     make installcheck-regress: the pg_regress files sql/*.sql (REGRESS
#               in the Makefile) on pg_regress's own temporary preloaded instance
#   isolation   make installcheck-isolation: specs/*.spec with pg_isolation_regress
#   tap         make prove_installcheck: t/*.pl (PostgreSQL::Test::Cluster), which
#               also run sql/overflow*.sql (64kB ring) and sql/local*.sql (no
#               preload); TAP_KNOWN_FAILURES in the Makefile are left out
#               These three run as the postgres OS user (initdb refuses root) on a
#               copy of the tree, with the pg_config of the install (CAPQ_PG_ROOT's,
#               else the system's); their servers listen on unix sockets only.
#               results/ and regression.diffs are copied back (TAP logs to
#               results/tap/ when a TAP test fails).
#   pgTAP       test/pgtap/*.sql with pg_prove, database capq_tap (pgtap + capquery)
#   Python      test/python/test_*.py, pytest, database capq_py
#   stress      test/stress/test_*.py, pytest, database capq_stress
#   pyplugin    test/pyplugin/test_*.py, pytest: bin/capquery-tmpdb and the pytest
#               plugin in clients/python, database capq_pyplugin
#   Node        test/node (package.json): npm install, node --test *.test.{js,mjs}, database capq_node
#   nodeclient  clients/node/test/*.test.mjs (the Node module), database capq_node_client
#   go java ruby  the recipes in examples/<lang> (run.sh; ruby: minitest), database capq_<lang>
# Python and Node tests get PGHOST/PGPORT/PGUSER/PGDATABASE (main instance) and
# CAPQ_{MAIN,TINY,LOCAL}_{HOST,PORT}, CAPQ_TCP_HOST=127.0.0.1; their database
# exists on all three instances, with capquery created on main and tiny (not
# on local: the test's CREATE EXTENSION there is what loads the library).
# Options (environment): CAPQ_SUITES="regress isolation tap pgtap python stress pyplugin node nodeclient go java ruby" to run
# only some; CAPQ_SUITE_TIMEOUT seconds per suite (default 900);
# CAPQ_PORT_BASE (default 54329: main, +1 tiny, +2 local); CAPQ_PG_ROOT=DIR
# installs into a private copy of PostgreSQL 15 under DIR (made on first use)
# instead of the system's, so that two checkouts can run the suite at once.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

PG_ROOT=${CAPQ_PG_ROOT:-}
PG_BIN=$PG_ROOT/usr/lib/postgresql/15/bin
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PORT_BASE=${CAPQ_PORT_BASE:-54329}
export PGTEMP_BINDIR=$PG_BIN
PYTHON=/usr/bin/python3
SUITE_TIMEOUT=${CAPQ_SUITE_TIMEOUT:-900}
SUITES=${CAPQ_SUITES:-regress isolation tap pgtap python stress pyplugin node nodeclient go java ruby}

# shellcheck source=../scripts/pgtemp.sh
source "$REPO/scripts/pgtemp.sh"

WORK=$(mktemp -d /tmp/capq-test.XXXXXX)
RUNNING_PIDFILE=""
FINISHED=0
ERR_LINE=""
# on any exit: stop the instances; if the script stopped before finish (a bug
# here, or a signal), still end with the summary line, counting one failure
cleanup() {
  local rc=$?
  pgtemp_stop_all
  rm -rf "$WORK"
  if ((FINISHED == 0)); then
    record harness 0 1 "test/run-all.sh stopped early (exit $rc${ERR_LINE:+, line $ERR_LINE})"
    print_summary
    exit 1
  fi
}
# Ctrl-C / TERM: stop the running suite (its own process group, see
# run_limited), then exit through cleanup
on_signal() {
  if [[ -n "$RUNNING_PIDFILE" && -s "$RUNNING_PIDFILE" ]]; then
    kill -TERM "$(cat "$RUNNING_PIDFILE")" 2>/dev/null || true
  fi
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM
trap 'ERR_LINE=$LINENO' ERR

PASSED=0
FAILED=0
REPORT=()

banner() { printf '\n===== %s =====\n' "$*"; }
want() { [[ " $SUITES " == *" $1 "* ]]; }

# record SUITE PASSED FAILED [NOTE]
record() {
  PASSED=$((PASSED + $2))
  FAILED=$((FAILED + $3))
  REPORT+=("$(printf '%-22s %4d passed, %4d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

# run_limited LOG DIR CMD...: run CMD in DIR with stdin /dev/null under the per-suite time
# limit (timeout kills its whole process group, so hung children go too),
# showing its output and keeping it in LOG; returns CMD's status, 124 when it
# timed out. It runs in the background so that a signal reaches on_signal.
run_limited() {
  local log=$1 dir=$2 rc; shift 2
  RUNNING_PIDFILE=$log.pid
  rm -f "$log.pid" "$log.rc"
  {
    cd "$dir"
    timeout -k 30 "$SUITE_TIMEOUT" "$@" </dev/null 2>&1 &
    echo $! >"$log.pid"
    if wait $!; then echo 0 >"$log.rc"; else echo $? >"$log.rc"; fi
  } | tee "$log" &
  wait $! || true
  RUNNING_PIDFILE=""
  rc=$(cat "$log.rc" 2>/dev/null || echo 1)
  if ((rc == 124 || rc == 137)); then echo "!!! timed out after ${SUITE_TIMEOUT}s: $*"; fi
  return "$rc"
}

# first integer captured by an extended regex group in a file (default 0)
num() { local v; v=$(sed -nE "s/$1/\\1/p" "$2" | tail -n 1); echo "${v:-0}"; }

print_summary() {
  banner "summary"
  local line
  for line in "${REPORT[@]}"; do echo "$line"; done
  echo "capquery: $PASSED passed, $FAILED failed"
}

finish() {
  pgtemp_stop_all
  FINISHED=1
  print_summary
  if ((FAILED > 0)); then exit 1; fi
  exit 0
}

# psql as postgres against an instance, stopping on the first error
sql() { local inst=$1; shift; pgtemp_psql "$inst" -q -v ON_ERROR_STOP=1 "$@" </dev/null; }

# make_db DB EXT...: create DB on every instance, with the extensions on main
# (all of them) and tiny (capquery); on local the database stays empty, since
# creating the extension there is what loads the library (tests do it).
# Returns non-zero on error.
make_db() {
  local db=$1 inst ext; shift
  for inst in main tiny local; do
    sql "$inst" -d postgres -c "CREATE DATABASE $db" || return 1
    for ext in "$@"; do
      case "$inst:$ext" in
        main:*|tiny:capquery) sql "$inst" -d "$db" -c "CREATE EXTENSION $ext" || return 1 ;;
      esac
    done
  done
}

# ---------------------------------------------------------------- build
banner "dependencies and build"
bash "$REPO/scripts/deps.sh"
if [[ -n "$PG_ROOT" && ! -x "$PG_BIN/postgres" ]]; then
  # PostgreSQL finds its share and lib directories relative to its binaries
  mkdir -p "$PG_ROOT/usr/lib/postgresql" "$PG_ROOT/usr/share/postgresql"
  cp -a /usr/lib/postgresql/15 "$PG_ROOT/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$PG_ROOT/usr/share/postgresql/"
  chmod 755 "$PG_ROOT"
fi
rm -rf "$REPO/results" "$REPO/regression.diffs"
# warnings are errors here (CI), not in users' builds
if ! make -C "$REPO" PG_CONFIG="$PG_CONFIG" COPT=-Werror all </dev/null ||
   ! make -C "$REPO" PG_CONFIG="$PG_CONFIG" ${PG_ROOT:+DESTDIR="$PG_ROOT"} install </dev/null >"$WORK/install.log" 2>&1; then
  [[ -s "$WORK/install.log" ]] && cat "$WORK/install.log"
  record build 0 1 "make or make install failed"
  finish
fi
echo "built and installed into $PG_ROOT$($PG_CONFIG --pkglibdir)"

# ---------------------------------------------------------------- instances
banner "instances"
if ! pgtemp_start main "$PORT_BASE" "shared_preload_libraries='capquery'" ||
   ! pgtemp_start tiny $((PORT_BASE + 1)) "shared_preload_libraries='capquery'" "capquery.buffer_size='64kB'" ||
   ! pgtemp_start local $((PORT_BASE + 2)); then
  record instances 0 1 "a server did not start"
  finish
fi

export PGUSER=postgres
export PGHOST=$PGTEMP_MAIN_HOST PGPORT=$PGTEMP_MAIN_PORT
export CAPQ_MAIN_HOST=$PGTEMP_MAIN_HOST CAPQ_MAIN_PORT=$PGTEMP_MAIN_PORT
export CAPQ_TINY_HOST=$PGTEMP_TINY_HOST CAPQ_TINY_PORT=$PGTEMP_TINY_PORT
export CAPQ_LOCAL_HOST=$PGTEMP_LOCAL_HOST CAPQ_LOCAL_PORT=$PGTEMP_LOCAL_PORT
export CAPQ_TCP_HOST=127.0.0.1
export PYTHONDONTWRITEBYTECODE=1
# tests that start "python3" themselves get the Debian one too, and psql,
# pg_dump, pgbench... are PostgreSQL 15's
mkdir -p "$WORK/bin" && ln -s "$PYTHON" "$WORK/bin/python3" && ln -s "$PYTHON" "$WORK/bin/python"
export PATH="$WORK/bin:$PG_BIN:$PATH"

# ---------------------------------------------------------------- make installcheck
# pg_regress, isolation and TAP tests start their own servers (initdb refuses
# root), so they run as postgres on a copy of the tree it can write, with the
# pg_config of the install the extension went into.
CHECK=$WORK/check
CHECK_PG_CONFIG=$PG_BIN/pg_config
if want regress || want isolation || want tap; then
  chmod 711 "$WORK"
  mkdir -p "$CHECK"
  tar -C "$REPO" --exclude=./.git --exclude=node_modules --exclude=./results \
    --exclude='./tmp_check*' --exclude=./output_iso --exclude=./log -cf - . | tar -C "$CHECK" -xf -
  chown -R postgres:postgres "$CHECK"
fi

# installcheck_part SUITE TARGET [MAKE ARGS...]: run one part of make installcheck,
# counting its "... ok" / "... FAILED" lines (pg_regress, pg_isolation_regress)
installcheck_part() {
  local suite=$1 target=$2 log=$WORK/$1.log rc=0; shift 2
  run_limited "$log" "$CHECK" env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
    runuser -u postgres -- make -s PG_CONFIG="$CHECK_PG_CONFIG" "$target" "$@" || rc=$?
  local p fl note=""
  p=$(grep -cE '^(test +)?[^ ]+ +\.\.\. ok' "$log" || true)
  fl=$(grep -cE '\.\.\. FAILED' "$log" || true)
  if ((rc != 0 && fl == 0)); then fl=1; note="make $target exit $rc"; fi
  ((rc == 124 || rc == 137)) && note="timed out after ${SUITE_TIMEOUT}s"
  record "$suite" "$p" "$fl" "$note"
}

# copy_check_results DIR: results/*.out and regression.diffs of a pg_regress run
copy_check_results() {
  mkdir -p "$REPO/results"
  cp "$1"/results/*.out "$REPO/results/" 2>/dev/null || true
  if [[ -s "$1/regression.diffs" ]]; then
    banner "regression.diffs ($1)"
    cat "$1/regression.diffs"
    cat "$1/regression.diffs" >>"$REPO/regression.diffs"
  fi
}

if want regress && compgen -G "$REPO/sql/*.sql" >/dev/null; then
  banner "pg_regress (make installcheck-regress)"
  installcheck_part "pg_regress" installcheck-regress
  copy_check_results "$CHECK"
fi

if want isolation && compgen -G "$REPO/specs/*.spec" >/dev/null; then
  banner "isolation (make installcheck-isolation)"
  installcheck_part isolation installcheck-isolation
  copy_check_results "$CHECK/output_iso"
fi

if want tap && compgen -G "$REPO/t/*.pl" >/dev/null; then
  banner "TAP (make prove_installcheck)"
  log=$WORK/tap.log
  rc=0
  run_limited "$log" "$CHECK" env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
    runuser -u postgres -- make -s PG_CONFIG="$CHECK_PG_CONFIG" prove_installcheck || rc=$?
  total=$(num '^Files=[0-9]+, Tests=([0-9]+),.*' "$log")
  failed=$(grep -oE '\(Wstat: [0-9]+.*Tests: [0-9]+ Failed: [0-9]+\)' "$log" |
           sed -E 's/.*Failed: ([0-9]+)\)/\1/' | awk '{s+=$1} END {print s+0}' || true)
  known=$(make -s -C "$CHECK" PG_CONFIG="$CHECK_PG_CONFIG" print-TAP_KNOWN_FAILURES 2>/dev/null || true)
  note=${known:+"not run, known failures: $known"}
  if ((rc != 0 && failed == 0)); then failed=1; note="prove exit $rc${note:+; $note}"; fi
  ((rc == 124 || rc == 137)) && note="timed out after ${SUITE_TIMEOUT}s"
  if ((rc != 0)) && [[ -d "$CHECK/tmp_check/log" ]]; then
    mkdir -p "$REPO/results/tap"
    cp -r "$CHECK/tmp_check/log/." "$REPO/results/tap/"
    echo "TAP logs (regress_log_* and server logs) are in results/tap/"
  fi
  record TAP "$((total > failed ? total - failed : 0))" "$failed" "$note"
fi

# ---------------------------------------------------------------- pgTAP
if want pgtap && compgen -G "$REPO/test/pgtap/*.sql" >/dev/null; then
  banner "pgTAP (pg_prove)"
  log=$WORK/pgtap.log
  if ! make_db capq_tap pgtap capquery; then
    record pgTAP 0 1 "could not create capq_tap"
  else
    rc=0
    run_limited "$log" "$REPO" pg_prove --psql-bin "$PG_BIN/psql" \
      -h "$PGTEMP_MAIN_HOST" -p "$PGTEMP_MAIN_PORT" -U postgres -d capq_tap test/pgtap/*.sql || rc=$?
    total=$(num '^Files=[0-9]+, Tests=([0-9]+),.*' "$log")
    failed=$(grep -oE '\(Wstat: [0-9]+ Tests: [0-9]+ Failed: [0-9]+\)' "$log" |
             sed -E 's/.*Failed: ([0-9]+)\)/\1/' | awk '{s+=$1} END {print s+0}' || true)
    note=""
    if ((rc != 0 && failed == 0)); then failed=1; note="pg_prove exit $rc"; fi
    ((rc == 124 || rc == 137)) && note="timed out after ${SUITE_TIMEOUT}s"
    passed=$((total > failed ? total - failed : 0))
    record pgTAP "$passed" "$failed" "$note"
  fi
fi

# ---------------------------------------------------------------- pytest suites
# run_pytest NAME DIR DATABASE
run_pytest() {
  local name=$1 dir=$2 db=$3 log=$WORK/$1.log rc=0
  banner "$name (pytest: $dir)"
  if ! make_db "$db" capquery; then record "$name" 0 1 "could not create $db"; return; fi
  run_limited "$log" "$REPO" env PGDATABASE="$db" \
    "$PYTHON" -m pytest -q -p no:cacheprovider "$dir" || rc=$?
  local summary passed failed errors note=""
  summary=$(grep -E '[0-9]+ (passed|failed|errors?|skipped)|no tests ran' "$log" | tail -n 1 || true)
  passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  failed=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  errors=$(grep -oE '[0-9]+ errors?' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  failed=$((failed + errors))
  if ((rc == 5)); then note="no tests collected"; fi
  if ((rc != 0 && failed == 0)); then failed=1; note=${note:-"pytest exit $rc"}; fi
  ((rc == 124 || rc == 137)) && note="timed out after ${SUITE_TIMEOUT}s"
  record "$name" "$passed" "$failed" "$note"
}

if want python && compgen -G "$REPO/test/python/test_*.py" >/dev/null; then
  run_pytest python test/python capq_py
fi
if want stress && compgen -G "$REPO/test/stress/test_*.py" >/dev/null; then
  run_pytest stress test/stress capq_stress
fi
if want pyplugin && compgen -G "$REPO/test/pyplugin/test_*.py" >/dev/null; then
  run_pytest pyplugin test/pyplugin capq_pyplugin
fi

# ---------------------------------------------------------------- Node
if want node && [[ -f "$REPO/test/node/package.json" ]]; then
  banner "Node (node --test: test/node)"
  mapfile -t node_files < <(cd "$REPO/test/node" &&
    find . -path ./node_modules -prune -o -type f \( -name '*.test.js' -o -name '*.test.mjs' \) -print | sort)
  if ! make_db capq_node capquery; then
    record node 0 1 "could not create capq_node"
  elif ! run_limited "$WORK/npm.log" "$REPO/test/node" npm install --no-audit --no-fund; then
    record node 0 1 "npm install failed"
  elif ((${#node_files[@]} == 0)); then
    record node 0 1 "package.json but no *.test.js / *.test.mjs"
  else
    rc=0
    # --test-force-exit: a file that leaves a pool or socket open does not hang
    # the run (it also cuts reporter files short, so counts come from stdout)
    # --test-timeout: Node >= 20 only (Debian 12 ships 18, which refuses it;
    # run_limited's time limit covers a hang there).  Probed, never assumed.
    node_opts=()
    node_help=$(node --help 2>/dev/null || true)
    for opt in --test-force-exit --test-timeout; do
      if grep -q -- "$opt" <<<"$node_help"; then
        case $opt in --test-timeout) node_opts+=(--test-timeout=300000) ;; *) node_opts+=("$opt") ;; esac
      fi
    done
    run_limited "$WORK/node.log" "$REPO/test/node" env PGDATABASE=capq_node \
      node --test "${node_opts[@]}" --test-reporter=spec \
      "${node_files[@]}" || rc=$?
    passed=$(num '^ℹ pass ([0-9]+)$' "$WORK/node.log")
    failed=$(num '^ℹ fail ([0-9]+)$' "$WORK/node.log")
    cancelled=$(num '^ℹ cancelled ([0-9]+)$' "$WORK/node.log")
    failed=$((failed + cancelled))
    note=""
    if ((rc != 0 && failed == 0)); then failed=1; note="node exit $rc"; fi
    ((rc == 124 || rc == 137)) && note="timed out after ${SUITE_TIMEOUT}s"
    record node "$passed" "$failed" "$note"
  fi
fi

# ---------------------------------------------------------------- Node client module
# clients/node (the capquery module for node --test, Jest, Vitest): its own
# tests, clients/node/test/*.test.mjs, with pg from npm, database capq_node_client.
if want nodeclient && [[ -f "$REPO/clients/node/package.json" ]]; then
  banner "Node client module (node --test: clients/node/test)"
  nc_files=("$REPO"/clients/node/test/*.test.mjs)
  if ! make_db capq_node_client capquery; then
    record "node client" 0 1 "could not create capq_node_client"
  elif ! run_limited "$WORK/npm-client.log" "$REPO/clients/node" \
         npm install --no-audit --no-fund --no-package-lock; then
    record "node client" 0 1 "npm install failed"
  else
    rc=0
    # (--test-force-exit where node has it, as for test/node above)
    nc_opts=()
    grep -q -- --test-force-exit <<<"$(node --help 2>/dev/null || true)" && nc_opts+=(--test-force-exit)
    run_limited "$WORK/node-client.log" "$REPO/clients/node" env PGDATABASE=capq_node_client \
      node --test "${nc_opts[@]}" --test-reporter=spec "${nc_files[@]}" || rc=$?
    passed=$(num '^ℹ pass ([0-9]+)$' "$WORK/node-client.log")
    failed=$(( $(num '^ℹ fail ([0-9]+)$' "$WORK/node-client.log") +
               $(num '^ℹ cancelled ([0-9]+)$' "$WORK/node-client.log") ))
    skipped=$(num '^ℹ skipped ([0-9]+)$' "$WORK/node-client.log")
    note=""
    ((skipped > 0)) && note="$skipped skipped"
    if ((rc != 0 && failed == 0)); then failed=1; note="node exit $rc"; fi
    ((rc == 124 || rc == 137)) && note="timed out after ${SUITE_TIMEOUT}s"
    record "node client" "$passed" "$failed" "$note"
  fi
fi

# ---------------------------------------------------------------- recipes (Go, Java, Ruby)
# examples/{go,java,ruby}: the AlarmPanel/Sensor recipes, each against the main
# instance in a database of its own (capq_<lang>, capquery created), each
# counted from its runner's own output: go test -v's "--- PASS/FAIL" lines,
# the JUnit console launcher's "[ N tests successful/failed ]", minitest's
# "N runs, N assertions, N failures, N errors, N skips".
# run_recipe NAME DB LOG CMD...: create DB, run CMD with PGDATABASE=DB; sets rc
run_recipe() {
  local name=$1 db=$2 log=$3; shift 3
  banner "$name recipe ($*)"
  rc=0
  if ! make_db "$db" capquery; then echo "could not create $db" >"$log"; rc=1; return; fi
  run_limited "$log" "$REPO" env PGDATABASE="$db" "$@" || rc=$?
}
# record_recipe NAME PASSED FAILED: a non-zero exit counts as one failure when none was counted
record_recipe() {
  local note=""
  local failed=$3
  if ((rc != 0 && failed == 0)); then failed=1; note="exit $rc"; fi
  ((rc == 124 || rc == 137)) && note="timed out after ${SUITE_TIMEOUT}s"
  record "$1" "$2" "$failed" "$note"
}
if want go && [[ -f "$REPO/examples/go/run.sh" ]]; then
  run_recipe go capq_go "$WORK/go.log" bash examples/go/run.sh
  record_recipe "go recipe" "$(grep -cE '^ *--- PASS: ' "$WORK/go.log" || true)" \
    "$(grep -cE '^ *--- FAIL: ' "$WORK/go.log" || true)"
fi
if want java && [[ -f "$REPO/examples/java/run.sh" ]]; then
  run_recipe java capq_java "$WORK/java.log" bash examples/java/run.sh
  record_recipe "java recipe" "$(num '^\[ *([0-9]+) tests successful *\]$' "$WORK/java.log")" \
    "$(num '^\[ *([0-9]+) tests failed *\]$' "$WORK/java.log")"
fi
if want ruby && [[ -f "$REPO/examples/ruby/alarm_recipe_test.rb" ]]; then
  run_recipe ruby capq_ruby "$WORK/ruby.log" ruby examples/ruby/alarm_recipe_test.rb -v
  runs=$(num '^([0-9]+) runs, [0-9]+ assertions, .*' "$WORK/ruby.log")
  bad=$(( $(num '^[0-9]+ runs, [0-9]+ assertions, ([0-9]+) failures.*' "$WORK/ruby.log") +
          $(num '^[0-9]+ runs, .* ([0-9]+) errors.*' "$WORK/ruby.log") ))
  record_recipe "ruby recipe" $((runs > bad ? runs - bad : 0)) "$bad"
fi

# ---------------------------------------------------------------- server health
# a backend that crashed fails the run even if no test noticed
for inst in main tiny local; do
  crashes=$(pgtemp_log "$inst" | grep -E 'terminated by signal (4|6|7|8|11)|PANIC:|TRAP:' || true)
  if [[ -n "$crashes" ]]; then
    banner "server log of $inst: crash"
    pgtemp_log "$inst" | grep -B 5 -A 5 -E 'terminated by signal|PANIC:|TRAP:' | head -n 200
    record "server $inst" 0 1 "backend crash in the server log"
  fi
done

finish
