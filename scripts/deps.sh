#!/usr/bin/env bash
# scripts/deps.sh: install the Debian packages that build, test and demo capquery.
# Idempotent: when every package is already installed it only checks (dpkg-query)
# and returns at once; otherwise it runs apt-get update + install once.
# pgbench comes with postgresql-client-15 (a dependency of postgresql-15).
# The TAP tests (t/*.pl) use PostgreSQL::Test::Cluster from
# postgresql-server-dev-15, which needs IPC::Run; prove comes with perl.
#
# What a fresh Debian 12 (bookworm with bookworm-updates and -security) gets,
# measured by scripts/fresh-check.sh (before the Go, Java, Ruby and Django
# packages were added; see README, Contributing, for the current figures):
# PostgreSQL 15.20, gcc 12.2, pgTAP 1.2.0
# with pg_prove 3.36, psycopg2 2.9.5, psycopg 3.1.7, SQLAlchemy 1.4.46,
# pytest 7.2.1, valgrind 3.19, and (no Node.js on such a machine) Debian's
# nodejs 18.20.4 (18.19 without bookworm-security) and npm 9.2.0.  The test
# runner may only use options those versions have, or probe for newer ones
# (test/run-all.sh probes node's --test-timeout and --test-force-exit, which
# Node 18 lacks).  Everything comes to about 590 packages and 300 MB on top
# of a minbase root's 52 MB: LLVM/clang 14 (postgresql-server-dev-15 needs them
# for JIT bitcode) ~90 MB, gcc ~45 MB, valgrind ~20 MB, PostgreSQL ~20 MB,
# nodejs + npm ~20 MB in ~350 small packages.
set -euo pipefail

PACKAGES=(
  make gcc
  postgresql-15 postgresql-server-dev-15 postgresql-client-15
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  perl libipc-run-perl
  python3-psycopg2 python3-psycopg python3-sqlalchemy python3-pytest
  python3-django python3-pytest-django python3-pytest-xdist
  valgrind
  # capq_report()'s HTML page is checked in a real browser (test/python/test_report.py)
  chromium
  # the recipes in examples/ (Go, Java, Ruby) and their drivers
  golang-go golang-github-lib-pq-dev
  default-jdk-headless libpostgresql-jdbc-java junit5
  ruby ruby-pg ruby-activerecord
)

# Node.js and npm come with some machines (not from apt: the project's CI
# machines have Node 20 and a newer npm); Debian's 18.20 and 9.2 are the
# fallback where they are absent, as on a fresh Debian 12 (test/node needs them)
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
