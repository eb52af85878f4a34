#!/usr/bin/env bash
# bench/mem_sample.sh: one memory sample of a backend, for bench/memory.sh.
# Run from psql with \! between statements (so the backend is idle):
#     mem_sample.sh LABEL
# Environment (set with \setenv): CAPQ_BPID (backend pid), CAPQ_CTX (bytes in
# the backend's memory contexts), CAPQ_SAMPLES (file to append the row to).
# Prints and appends one row: label, VmRSS, RssAnon, RssShmem,
# Private_Dirty (kB) and memory-context bytes.
set -euo pipefail
label=$1
pid=${CAPQ_BPID:?CAPQ_BPID is not set}
status=/proc/$pid/status
rollup=/proc/$pid/smaps_rollup

field() { awk -v k="$1:" '$1 == k { print $2; exit }' "$2"; }

row=$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$label" \
  "$(field VmRSS "$status")" "$(field RssAnon "$status")" "$(field RssShmem "$status")" \
  "$(field Private_Dirty "$rollup")" "${CAPQ_CTX:-?}")
printf '%s\n' "$row" >>"${CAPQ_SAMPLES:?CAPQ_SAMPLES is not set}"
printf 'sample\t%s\n' "$row"
