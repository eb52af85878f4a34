#!/usr/bin/env bash
# scripts/deps.sh: install the Debian packages that build, test and demo capquery.
# Idempotent: when every package is already installed it only checks (dpkg-query)
# and returns at once; otherwise it runs apt-get update + install once.
# pgbench comes with postgresql-client-15 (a dependency of postgresql-15).
# The TAP tests (t/*.pl) use PostgreSQL::Test::Cluster from
# postgresql-server-dev-15, which needs IPC::Run; prove comes with perl.
set -euo pipefail

PACKAGES=(
  make gcc
  postgresql-15 postgresql-server-dev-15 postgresql-client-15
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  perl libipc-run-perl
  python3-psycopg2 python3-psycopg python3-sqlalchemy python3-pytest
  valgrind
  # capq_report()'s HTML page is checked in a real browser (test/python/test_report.py)
  chromium
  # the recipes in examples/ (Go, Java, Ruby) and their drivers
  golang-go golang-github-lib-pq-dev
  default-jdk-headless libpostgresql-jdbc-java junit5
  ruby ruby-pg ruby-activerecord
)

# Node.js and npm come with the machine (not from apt); Debian's are the
# fallback where they are absent (test/node needs them)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#PACKAGES[@]} Debian packages already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages (${missing[*]}) and not root: install them with apt-get" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${missing[*]}"
