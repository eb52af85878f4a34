#!/usr/bin/env bash
# bench/readme_perf.sh TABLES README: replace the README's generated
# performance section (between the bench:begin and bench:end markers) with
# the tables file that bench/all.sh (make bench) wrote, bench/out/bench.md.
set -euo pipefail
TABLES=$1
README=$2
grep -q '^<!-- bench:begin' "$README" && grep -q '^<!-- bench:end' "$README" ||
  { echo "readme_perf: no bench:begin/bench:end markers in $README" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
awk -v tables="$TABLES" '
  /^<!-- bench:begin/ { print
                        while ((getline line < tables) > 0) {
                          # the tables file has its own title: the README has one
                          if (line ~ /^# /) continue
                          print line }
                        print ""; skip = 1; next }
  /^<!-- bench:end/   { skip = 0 }
  !skip' "$README" >"$tmp"
cat "$tmp" >"$README"
echo "readme_perf: $README updated from $TABLES"
