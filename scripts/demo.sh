#!/usr/bin/env bash
# scripts/demo.sh (= make demo): capquery's demonstration.
# Installs dependencies, builds and installs the extension, starts a throwaway
# PostgreSQL 15 with capquery preloaded (bin/capquery-tmpdb: a free port, a
# private socket directory), loads a small alarm-panel schema, then runs
# scripts/demo.sql in psql: an N+1 access pattern captured and caught by
# capq_assert_max(), and the fixed version (one JOIN) that passes.
# The instance is stopped and deleted on exit, even on failure.
# CAPQ_PG_ROOT=DIR installs into a private copy of PostgreSQL made by
# test/run-all.sh instead of the system's.
# Exits 0 only if every step did what it should.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PG_ROOT=${CAPQ_PG_ROOT:-}
BINDIR=$PG_ROOT/usr/lib/postgresql/15/bin
TMPDB=$REPO/bin/capquery-tmpdb

unset CAPQUERY_TMPDB     # only the instance started below is ours to stop
trap '[[ -n "${CAPQUERY_TMPDB:-}" ]] && "$TMPDB" stop "$CAPQUERY_TMPDB"' EXIT
trap 'exit 130' INT TERM
demo_psql() { "$BINDIR/psql" -X "$@"; }

bash "$REPO/scripts/deps.sh"
make -s -C "$REPO" PG_CONFIG="$PG_CONFIG" all </dev/null
make -s -C "$REPO" PG_CONFIG="$PG_CONFIG" ${PG_ROOT:+DESTDIR="$PG_ROOT"} install </dev/null >/dev/null
echo "demo: capquery built and installed"

# two steps, so that set -e stops the demo if the server does not start
tmpdb_env=$("$TMPDB" start --bindir "$BINDIR" --parent $$)
eval "$tmpdb_env"

# from template0: the demo creates the extension itself
demo_psql -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE capq_demo TEMPLATE template0" </dev/null
demo_psql -q -v ON_ERROR_STOP=1 -d capq_demo <<'SQL'
CREATE EXTENSION capquery;
CREATE TABLE alarm_panels (
    id          serial PRIMARY KEY,
    mac_address text,
    is_online   boolean
);
CREATE TABLE sensors (
    id       serial PRIMARY KEY,
    panel_id int REFERENCES alarm_panels,
    kind     text,
    reading  numeric
);
INSERT INTO alarm_panels (mac_address, is_online)
SELECT format('00:11:22:33:44:%s', to_char(i, 'FM00')), i % 2 = 1
FROM generate_series(1, 5) AS i;
INSERT INTO sensors (panel_id, kind, reading)
SELECT p.id, k.kind, round((p.id * 10 + k.n)::numeric / 3, 2)
FROM alarm_panels p,
     (VALUES (1, 'door'), (2, 'motion'), (3, 'smoke')) AS k(n, kind)
ORDER BY p.id, k.n;
SQL
echo "demo: schema loaded (5 alarm_panels, 15 sensors)"
echo

# psql reads the script from stdin so that messages carry no file:line prefix;
# its errors go to stdout so that they appear where they happen
demo_psql -d capq_demo -v ON_ERROR_STOP=1 <"$REPO/scripts/demo.sql" 2>&1

echo
echo "demo: OK"
