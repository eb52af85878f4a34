#!/usr/bin/env bash
# bench/deps.sh: the Debian packages only the benchmarks need, on top of
# scripts/deps.sh (which the build and tests need): gnuplot-nox for the
# read-path plot, postgresql-15-pgaudit to compare with pgaudit.  Idempotent: returns at once when they are installed.
set -euo pipefail
PACKAGES=(gnuplot-nox postgresql-15-pgaudit)
missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "bench deps: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
