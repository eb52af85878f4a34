#!/usr/bin/env bash
# examples/snapshot-suite/run.sh: run this example pg_regress suite against a
# running PostgreSQL (with capquery installed) and compare each sql/NAME.sql's
# output with the approved expected/NAME.out.
#
#   ./run.sh [TEST...]            run the tests (default: every sql/*.sql)
#   ./run.sh --update [TEST...]   run them, then copy results/*.out over
#                                 expected/: "update mode", after a
#                                 deliberate change; review the diff of
#                                 expected/ before committing it
#
# The server is the one libpq's environment names: PGHOST, PGPORT, PGUSER
# (PGHOST may be a unix socket directory).  pg_regress drops and creates the
# database CAPQ_SUITE_DB (default capq_snapshot_suite) and sends every file
# through psql, so the server never reads these files.  PG_CONFIG (default
# pg_config on PATH) locates pg_regress and psql.  Output goes to results/
# and regression.diffs next to this script.
set -euo pipefail

SUITE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
DB=${CAPQ_SUITE_DB:-capq_snapshot_suite}

update=0
if [[ "${1:-}" == "--update" ]]; then update=1; shift; fi
tests=("$@")
if ((${#tests[@]} == 0)); then
  for f in "$SUITE"/sql/*.sql; do tests+=("$(basename "$f" .sql)"); done
fi

bindir=$("$PG_CONFIG" --bindir)
pg_regress=$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress
opts=(--inputdir="$SUITE" --outputdir="$SUITE" --bindir="$bindir" --dbname="$DB")
[[ -n "${PGHOST:-}" ]] && opts+=(--host="$PGHOST")
[[ -n "${PGPORT:-}" ]] && opts+=(--port="$PGPORT")
[[ -n "${PGUSER:-}" ]] && opts+=(--user="$PGUSER")

# pg_regress needs an expected file to compare with: start a new test from
# an empty one (it fails until --update approves its first output)
mkdir -p "$SUITE/expected"
for t in "${tests[@]}"; do
  [[ -e "$SUITE/expected/$t.out" ]] || : >"$SUITE/expected/$t.out"
done

rc=0
"$pg_regress" "${opts[@]}" "${tests[@]}" || rc=$?

if ((update)); then
  if ((rc == 2)); then
    echo "run.sh: pg_regress could not run the tests; expected/ left as it was" >&2
    exit 2
  fi
  for t in "${tests[@]}"; do
    if [[ -f "$SUITE/results/$t.out" ]] && ! cmp -s "$SUITE/results/$t.out" "$SUITE/expected/$t.out"; then
      cp "$SUITE/results/$t.out" "$SUITE/expected/$t.out"
      echo "run.sh: updated expected/$t.out"
    fi
  done
  exit 0
fi
exit "$rc"
