#!/usr/bin/env bash
# bench/memory.sh: memory footprint of a capturing backend over 1,000,000
# statements.
#
# Starts a throwaway server (pg_ctl, port 55701, unix socket in its temporary
# directory, no TCP, capquery preloaded with its default settings), opens ONE
# psql session that runs SELECT capq_begin(), then 1,000,000 primary-key
# SELECTs generated with \gexec in chunks of 100,000.  Between chunks psql
# runs bench/mem_sample.sh with \!, which reads that backend's
# /proc/<pid>/status (VmRSS, RssAnon, RssShmem) and /proc/<pid>/smaps_rollup
# (Private_Dirty); the session also reports the bytes in its memory contexts
# (pg_backend_memory_contexts).
#
# The default 32 MB ring holds a few hundred thousand such statements, so
# 1,000,000 wrap it: the capture then counts lost statements and reading it
# fails with SQLSTATE 53400.  That is expected here; the point is that the
# backend's own memory stays flat.
#
# A control session on the same server, without capture, runs the same
# statements afterwards (MEM_CONTROL=0 skips it), so that what PostgreSQL
# itself does with memory is not mistaken for capquery's.
#
# Output: stdout, bench/out/memory.md (samples), bench/out/memory.log.
# Settings (environment): MEM_STATEMENTS (1000000), MEM_STEP (100000),
# MEM_PORT (55701), PGBINDIR (/usr/lib/postgresql/15/bin).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BINDIR=${PGBINDIR:-/usr/lib/postgresql/15/bin}
PORT=${MEM_PORT:-55701}
TOTAL=${MEM_STATEMENTS:-1000000}
STEP=${MEM_STEP:-100000}
ROWS=10000
OUT=$HERE/out
RESULTS=$OUT/memory.md

TMP=
DATA=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$DATA" && -f "$DATA/postmaster.pid" ]]; then
    echo "+ runuser -u postgres -- $BINDIR/pg_ctl -D $DATA -m fast stop"
    (cd "$TMP" && runuser -u postgres -- "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1) ||
      (cd "$TMP" && runuser -u postgres -- "$BINDIR/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1) || true
  fi
  if [[ -n "$TMP" && -d "$TMP" ]]; then
    echo "+ rm -rf $TMP"
    rm -rf "$TMP"
  fi
  exit "$rc"
}

psql_cmd() { "$BINDIR/psql" -X -h "$TMP" -p "$PORT" -U postgres -d postgres "$@"; }

# One psql session: sample, then chunks of \gexec'd statements, sampling
# after each; query output goes to /dev/null, \! output to stdout.
run_session() {	# capture|control
  local mode=$1 n
  local script=$TMP/session.$mode.sql samples=$TMP/samples.$mode.tsv
  : >"$samples"
  chmod 666 "$samples"
  {
    echo '\set ON_ERROR_STOP 1'
    echo '\set VERBOSITY verbose'
    echo 'SELECT pg_backend_pid() AS bpid \gset'
    echo '\setenv CAPQ_BPID :bpid'
    echo "\\setenv CAPQ_SAMPLES $samples"
    echo '\echo backend pid :bpid'
    echo "SELECT sum(total_bytes) AS ctx FROM pg_backend_memory_contexts \\gset"
    echo '\setenv CAPQ_CTX :ctx'
    if [[ $mode == capture ]]; then
      echo "\\! bash $HERE/mem_sample.sh before-capture"
      echo "SELECT capq_begin('memory') AS capture_id \\gset"
      echo '\echo capture :capture_id begun'
      echo "SELECT sum(total_bytes) AS ctx FROM pg_backend_memory_contexts \\gset"
      echo '\setenv CAPQ_CTX :ctx'
    fi
    echo "\\! bash $HERE/mem_sample.sh 0"
    for ((n = STEP; n <= TOTAL; n += STEP)); do
      echo '\o /dev/null'
      echo "SELECT format('SELECT v FROM bench WHERE id = %s', (g::bigint * 7919) % $ROWS + 1) FROM generate_series($((n - STEP + 1)), $n) g \\gexec"
      echo '\o'
      echo "SELECT sum(total_bytes) AS ctx FROM pg_backend_memory_contexts \\gset"
      echo '\setenv CAPQ_CTX :ctx'
      echo "\\! bash $HERE/mem_sample.sh $n"
    done
    if [[ $mode == capture ]]; then
      echo "SELECT capq_end() AS ended \\gset"
      echo "\\echo 'capq_end() returned' :ended"
      echo 'SELECT capture, state, statements, lost FROM capq_sessions();'
      echo '\set ON_ERROR_STOP 0'
      echo "\\echo 'reading it back (53400 expected: the ring wrapped):'"
      echo 'SELECT capq_count();'
    fi
  } >"$script"
  say "== session: $mode"
  say "+ psql -X -h $TMP -p $PORT -U postgres -d postgres < $script    ($(wc -l <"$script") lines; chunk: $(grep -m1 gexec "$script"))"
  local start=$SECONDS
  psql_cmd <"$script" 2>&1 | tee "$TMP/session.$mode.out"
  say "(session took $((SECONDS - start)) s)"
  say ""
}

main() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  (( (TOTAL % STEP) == 0 )) || { echo "memory: MEM_STATEMENTS must be a multiple of MEM_STEP" >&2; exit 1; }

  local lib
  lib=$("$BINDIR/pg_config" --pkglibdir)/capquery.so
  [[ -f "$lib" ]] || { echo "memory: $lib is not installed: run make && make install" >&2; exit 1; }
  mkdir -p "$OUT"
  : >"$RESULTS"

  say "== capquery memory footprint: one capturing session, $TOTAL statements"
  say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  say "measured: $lib (sha256 $(sha256sum "$lib" | cut -c1-16)..., installed $(date -u -r "$lib" '+%H:%M:%S UTC'); loaded once at server start)"
  say ""

  TMP=$(mktemp -d /tmp/capq-memory.XXXXXX)
  chown postgres:postgres "$TMP"
  chmod 700 "$TMP"
  DATA=$TMP/data
  say "+ runuser -u postgres -- $BINDIR/initdb -D $DATA -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync"
  as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log"; exit 1; }
  cat >>"$DATA/postgresql.conf" <<EOF

# bench/memory.sh
port = $PORT
unix_socket_directories = '$TMP'
listen_addresses = ''
shared_preload_libraries = 'capquery'
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
logging_collector = off
EOF
  say "+ (postgresql.conf) $(sed -n '/# bench\/memory.sh/,$p' "$DATA/postgresql.conf" | tail -n +2 | tr '\n' ';' | sed 's/;/; /g')"
  say "+ runuser -u postgres -- $BINDIR/pg_ctl -D $DATA -l $TMP/server.log -w start"
  as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$TMP/server.log" -w -t 60 start >/dev/null ||
    { cat "$TMP/server.log"; exit 1; }

  local -a setup=(
    -c "CREATE EXTENSION capquery"
    -c "CREATE TABLE bench (id int PRIMARY KEY, v text NOT NULL)"
    -c "INSERT INTO bench SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g"
    -c "VACUUM ANALYZE bench")
  say "+ psql -X -h $TMP -p $PORT -U postgres -d postgres -v ON_ERROR_STOP=1 -q$(printf ' %q' "${setup[@]}")"
  psql_cmd -v ON_ERROR_STOP=1 -q "${setup[@]}"

  run_session capture
  if [[ "${MEM_CONTROL:-1}" != 0 ]]; then
    run_session control
  fi

  report "## Memory of one backend over $TOTAL statements"
  report ""
  report "Statement: \`SELECT v FROM bench WHERE id = <k>;\` ($ROWS rows), generated by \\gexec in chunks of $STEP, one psql session, capquery preloaded with default settings (32MB ring). Sampled between statements from /proc/<pid>/status and /proc/<pid>/smaps_rollup (kB); contexts = sum(total_bytes) of pg_backend_memory_contexts (bytes)."
  report ""
  local mode title samples first mid last from
  for mode in capture control; do
    samples=$TMP/samples.$mode.tsv
    [[ -s "$samples" ]] || continue
    if [[ $mode == capture ]]; then
      title="capturing: SELECT capq_begin() first"
    else
      title="control: a second session on the same server, no capture"
    fi
    report "### $title"
    report ""
    report "| statements | VmRSS kB | RssAnon kB | RssShmem kB | Private_Dirty kB | memory contexts bytes |"
    report "|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$samples" | tee -a "$RESULTS"
    report ""
    first=$(awk -F'\t' -v s="$STEP" '$1 == s' "$samples")
    last=$(tail -1 "$samples")
    mid=$(awk -F'\t' -v s="$(( (TOTAL / STEP / 2) * STEP ))" '$1 == s' "$samples")
    for from in "$first" "$mid"; do
      [[ -n "$from" ]] || continue
      report "$(awk -v a="$from" -v b="$last" 'BEGIN {
          split(a, x, "\t"); split(b, y, "\t")
          printf "From %s to %s statements: RssAnon %+d kB, memory contexts %+d bytes, RssShmem %+d kB, Private_Dirty %+d kB.",
            x[1], y[1], y[3] - x[3], y[6] - x[6], y[4] - x[4], y[5] - x[5] }')"
      report ""
    done
  done
  if [[ -s "$TMP/samples.control.tsv" ]]; then
    report "$(awk -v a="$(tail -1 "$TMP/samples.capture.tsv")" -v b="$(tail -1 "$TMP/samples.control.tsv")" 'BEGIN {
        split(a, x, "\t"); split(b, y, "\t")
        printf "At %s statements, capturing minus control: RssAnon %+d kB, memory contexts %+d bytes, RssShmem %+d kB (the ring), VmRSS %+d kB.",
          x[1], x[3] - y[3], x[6] - y[6], x[4] - y[4], x[2] - y[2] }')"
    report ""
  fi
  report "How to read it: RssShmem is shared memory this backend has touched (shared_buffers pages and, when capturing, the capture ring); it grows until the 32MB ring has been written once and then stays put. Private_Dirty counts dirty pages mapped by this process alone, which includes the ring pages only this backend wrote, so it follows RssShmem while the ring fills: it is not backend-private heap. The backend's own memory is RssAnon (heap and stack) and the memory contexts: those must stay flat. The capture's statement count also includes the \\gexec generator queries and the sampling queries."
  report ""
  if grep -q '53400' "$TMP/session.capture.out"; then
    report "The ring wrapped: the capture counts lost statements and reading it back fails with SQLSTATE 53400 (see the session output above). That is expected with $TOTAL statements in the default 32MB ring, and is not a memory problem."
  else
    report "The ring did not wrap in this run (it holds a few hundred thousand of these statements), so the capture lost nothing."
  fi
  report ""
  say "results: $RESULTS; log: $OUT/memory.log"
}

mkdir -p "$OUT"
main "$@" 2>&1 | tee "$OUT/memory.log"
exit "${PIPESTATUS[0]}"
