#!/usr/bin/env bash
# bench/pgbench_scope_all.sh: what a scope 'all' capture costs other
# sessions, in pgbench TPS (a benchmark, not a test: it reports, never fails).
#
# Starts a throwaway server (pg_ctl, port 55803, unix socket in its temporary
# directory, no TCP), pgbench -i -s 10, then:
#
# 1. Capture on/off.  ROUNDS rounds, each of two runs of
#        pgbench -S -M prepared -c 2 -j 2 -T DURATION
#    (a) with no capture anywhere, and (b) while another psql session holds
#    a capq_begin(scope => 'all') capture open for the whole run (it begins
#    before pgbench connects and ends after pgbench exits; between the two it
#    is an idle session, as a test waiting for its application would be).
#    The order alternates from round to round (a b, b a, ...) so that drift
#    (caches, clocks, neighbours) does not favour either.  Reported: TPS of
#    each run, the ratio b/a per round and its median (target >= 0.95), and
#    what each capture counted.  A 32MB ring holds far fewer statements than
#    DURATION seconds of pgbench run, so the ring wraps and the capture
#    counts "lost" statements: expected here, and reported.
#
# 2. Preloaded or not.  ROUNDS rounds of the same pgbench run with no
#    capture anywhere (capquery.session empty in every session), on the same
#    server restarted with shared_preload_libraries = 'capquery' and with it
#    empty, alternating the order.  The median ratio (preloaded / not)
#    shows what an idle capquery costs: its hooks' one load and compare.
#
# Each run also reports the CPU time its two backends used per transaction
# (from the postmaster's cutime + cstime once it has reaped them), which
# moves less than TPS when other processes compete for the CPUs.
#
# Output: stdout and bench/out/pgbench_scope_all.md.
# Settings (environment): ROUNDS (6), DURATION (10 s), SCALE (10),
# BENCH_PORT (55803), PGBINDIR (/usr/lib/postgresql/15/bin), SKIP_PRELOAD=1
# to skip part 2, SKIP_PGSS=1 to skip part 3 (pg_stat_statements preloaded
# or not, alternated like part 2).  Needs root (the server runs as the postgres OS user) and
# capquery installed (make install).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
PORT=${BENCH_PORT:-55803}
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-10}
SCALE=${SCALE:-10}
OUT=$HERE/out
RESULTS=$OUT/pgbench_scope_all.md
PYTHON=/usr/bin/python3

TMP=
OWNER_PID=
cleanup() {
  set +e
  if [[ -n "$OWNER_PID" ]]; then exec 3>&- 2>/dev/null; kill "$OWNER_PID" 2>/dev/null; wait "$OWNER_PID" 2>/dev/null; fi
  if [[ -n "$TMP" && -f "$TMP/data/postmaster.pid" ]]; then
    runuser -u postgres -- "$BINDIR/pg_ctl" -D "$TMP/data" -m immediate -w stop >/dev/null 2>&1
  fi
  [[ -n "$TMP" ]] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 1 >/dev/null 2>&1 ||
   ls /tmp/.s.PGSQL."$PORT" >/dev/null 2>&1; then
  echo "pgbench_scope_all: port $PORT seems in use; set BENCH_PORT" >&2
  exit 1
fi
[[ -f "$("$BINDIR/pg_config" --pkglibdir 2>/dev/null || /usr/lib/postgresql/15/bin/pg_config --pkglibdir)/capquery.so" ]] ||
  { echo "pgbench_scope_all: capquery is not installed (make install)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/capq-pgbench.XXXXXX)
chown postgres:postgres "$TMP"
chmod 700 "$TMP"
mkdir -p "$OUT"

psql_() { "$BINDIR/psql" -X -q -h "$TMP" -p "$PORT" -U postgres -d bench -v ON_ERROR_STOP=1 "$@"; }

as_pg "$BINDIR/initdb" -D "$TMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$TMP/initdb.log" 2>&1
cat >>"$TMP/data/postgresql.conf" <<EOF
port = $PORT
unix_socket_directories = '$TMP'
listen_addresses = ''
shared_buffers = '256MB'
max_connections = 20
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
logging_collector = off
EOF

# start [PRELOAD]: (re)start the server with shared_preload_libraries = PRELOAD
start() {
  if [[ -f "$TMP/data/postmaster.pid" ]]; then
    as_pg "$BINDIR/pg_ctl" -D "$TMP/data" -m fast -w stop >/dev/null
  fi
  as_pg "$BINDIR/pg_ctl" -D "$TMP/data" -l "$TMP/log" -w -t 60 \
    -o "-c shared_preload_libraries='$1'" start >/dev/null
}

# CPU time (clock ticks) of the server's exited children: the postmaster's
# cutime + cstime, which grow when it reaps a backend.
pm_ticks() {
  local pm
  pm=$(head -n 1 "$TMP/data/postmaster.pid")
  awk '{ print $16 + $17 }' "/proc/$pm/stat"
}

# bench_run: one pgbench run; prints "TPS TRANSACTIONS CPU_US_PER_TX": TPS
# without connection time, and the CPU time its two backends used (user +
# system, read when the postmaster has reaped them) per transaction.  The
# CPU figure depends less than TPS on what else the machine runs (though in
# a VM, steal and shared caches still move it).
bench_run() {
  local out=$TMP/pgbench.out t0 t1 tps tx
  t0=$(pm_ticks)
  "$BINDIR/pgbench" -h "$TMP" -p "$PORT" -U postgres -n -S -M prepared -c 2 -j 2 \
    -T "$DURATION" bench >"$out" 2>&1 || { cat "$out" >&2; return 1; }
  sleep 0.5                               # let the postmaster reap them
  t1=$(pm_ticks)
  tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)$/\1/p' "$out")
  tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$out")
  echo "$tps $tx $("$PYTHON" -c "print('%.2f' % (($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / $tx))")"
}

# warm: a short run, not reported (after a restart: empty buffers)
warm() { DURATION=3 bench_run >/dev/null; }

# captured_run ROUND: bench_run while another session holds a scope 'all'
# capture; prints "TPS TRANSACTIONS CPU_US_PER_TX STATEMENTS LOST"
captured_run() {
  local label="bench-round-$1" tps row
  mkfifo "$TMP/owner.in"
  psql_ -A -t <"$TMP/owner.in" >"$TMP/owner.out" 2>&1 &
  OWNER_PID=$!
  exec 3>"$TMP/owner.in"
  echo "SELECT capq_begin(label => '$label', scope => 'all');" >&3
  for _ in $(seq 1 200); do
    [[ "$(psql_ -A -t -c "SELECT count(*) FROM capq_sessions() WHERE label = '$label' AND state = 'active'")" == 1 ]] && break
    sleep 0.05
  done
  tps=$(bench_run)                        # "TPS TRANSACTIONS CPU"
  echo "SELECT 'counted', statements, lost FROM capq_sessions() WHERE label = '$label' AND state = 'active';" >&3
  echo "SELECT capq_end();" >&3
  exec 3>&-
  wait "$OWNER_PID"
  OWNER_PID=
  rm -f "$TMP/owner.in"
  row=$(grep '^counted|' "$TMP/owner.out" | tail -n 1) ||
    { echo "the capture of round $1 did not report:" >&2; cat "$TMP/owner.out" >&2; return 1; }
  IFS='|' read -r _ statements lost <<<"$row"
  echo "$tps $statements $lost"
}

# median of the ratios given on stdin, one per line
median() { "$PYTHON" -c 'import statistics,sys; print("%.4f" % statistics.median(float(x) for x in sys.stdin if x.strip()))'; }
ratio() { "$PYTHON" -c "print('%.4f' % ($1 / $2))"; }

start capquery
"$BINDIR/createdb" -h "$TMP" -p "$PORT" -U postgres bench
psql_ -c "CREATE EXTENSION capquery"
echo "pgbench -i -s $SCALE ..."
"$BINDIR/pgbench" -h "$TMP" -p "$PORT" -U postgres -i -s "$SCALE" -q bench >"$TMP/init.log" 2>&1
psql_ -c "VACUUM ANALYZE"
ring=$(psql_ -A -t -c "SHOW capquery.buffer_size")
warm

{
  echo "# pgbench -S -M prepared -c 2 -j 2 -T $DURATION, scale $SCALE ($(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "## 1. scope 'all' capture held by another session (ring $ring)"
  echo
  echo "| round | order | TPS no capture (a) | TPS capture 'all' (b) | b/a | CPU µs/tx a | CPU µs/tx b | a/b | captured | lost |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} | tee "$RESULTS"

ratios=()
cpu_ratios=()
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2 == 1)); then
    order="a b"
    read -r a _ ca < <(bench_run)
    read -r b _ cb stm lost < <(captured_run "$r")
  else
    order="b a"
    read -r b _ cb stm lost < <(captured_run "$r")
    read -r a _ ca < <(bench_run)
  fi
  q=$(ratio "$b" "$a")
  cq=$(ratio "$ca" "$cb")
  ratios+=("$q")
  cpu_ratios+=("$cq")
  echo "| $r | $order | $a | $b | $q | $ca | $cb | $cq | $stm | $lost |" | tee -a "$RESULTS"
done
med=$(printf '%s\n' "${ratios[@]}" | median)
cmed=$(printf '%s\n' "${cpu_ratios[@]}" | median)
verdict=$("$PYTHON" -c "print('meets' if $med >= 0.95 else 'MISSES')")
{
  echo
  echo "median TPS ratio capture 'all' / no capture: **$med** ($verdict the 0.95 target)"
  echo "median backend CPU ratio per transaction, no capture / capture 'all': **$cmed**"
  echo "(the CPU ratio approximates the TPS ratio of CPU-bound backends with the"
  echo "machine to themselves; TPS swings with whatever else runs)"
} | tee -a "$RESULTS"

if [[ "${SKIP_PRELOAD:-0}" != 1 ]]; then
  {
    echo
    echo "## 2. no capture anywhere: capquery preloaded (p) or not (n)"
    echo
    echo "| round | order | TPS preloaded (p) | TPS not loaded (n) | p/n | CPU µs/tx p | CPU µs/tx n | n/p |"
    echo "|---|---|---|---|---|---|---|---|"
  } | tee -a "$RESULTS"
  idle=()
  idle_cpu=()
  for r in $(seq 1 "$ROUNDS"); do
    if ((r % 2 == 1)); then
      order="p n"
      start capquery; warm; read -r p _ cp < <(bench_run)
      start ''; warm; read -r n _ cn < <(bench_run)
    else
      order="n p"
      start ''; warm; read -r n _ cn < <(bench_run)
      start capquery; warm; read -r p _ cp < <(bench_run)
    fi
    q=$(ratio "$p" "$n")
    cq=$(ratio "$cn" "$cp")
    idle+=("$q")
    idle_cpu+=("$cq")
    echo "| $r | $order | $p | $n | $q | $cp | $cn | $cq |" | tee -a "$RESULTS"
  done
  med2=$(printf '%s\n' "${idle[@]}" | median)
  cmed2=$(printf '%s\n' "${idle_cpu[@]}" | median)
  {
    echo
    echo "median TPS ratio preloaded-idle / not loaded: **$med2**"
    echo "median backend CPU ratio per transaction, not loaded / preloaded-idle: **$cmed2**"
  } | tee -a "$RESULTS"
fi

# 3. what users would otherwise preload: pg_stat_statements (s) against no
# library (n), alternated the same way
if [[ "${SKIP_PGSS:-0}" != 1 ]]; then
  {
    echo
    echo "## 3. pg_stat_statements preloaded (s) or no library (n)"
    echo
    echo "| round | order | TPS pg_stat_statements (s) | TPS no library (n) | s/n | CPU µs/tx s | CPU µs/tx n | n/s |"
    echo "|---|---|---|---|---|---|---|---|"
  } | tee -a "$RESULTS"
  pgss=()
  pgss_cpu=()
  for r in $(seq 1 "$ROUNDS"); do
    if ((r % 2 == 1)); then
      order="s n"
      start pg_stat_statements; warm; read -r p _ cp < <(bench_run)
      start ''; warm; read -r n _ cn < <(bench_run)
    else
      order="n s"
      start ''; warm; read -r n _ cn < <(bench_run)
      start pg_stat_statements; warm; read -r p _ cp < <(bench_run)
    fi
    q=$(ratio "$p" "$n")
    cq=$(ratio "$cn" "$cp")
    pgss+=("$q")
    pgss_cpu+=("$cq")
    echo "| $r | $order | $p | $n | $q | $cp | $cn | $cq |" | tee -a "$RESULTS"
  done
  {
    echo
    echo "median TPS ratio pg_stat_statements / no library: **$(printf '%s\n' "${pgss[@]}" | median)**"
    echo "median backend CPU ratio per transaction, no library / pg_stat_statements: **$(printf '%s\n' "${pgss_cpu[@]}" | median)**"
  } | tee -a "$RESULTS"
fi
echo
echo "results: $RESULTS"
