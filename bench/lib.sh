# bench/lib.sh: helpers shared by the benchmark scripts (sourced, not run).
# The sourcing script sets TMP (its temporary directory, where the postgres
# OS user works), RESULTS (its markdown report) and, for gen_input, ROWS.

say() { printf '%s\n' "$*"; }

# append to the report and print
report() { printf '%s\n' "$*" | tee -a "$RESULTS"; }

# run a command as the postgres OS user, from a directory it can read
as_pg() { (cd "$TMP" && runuser -u postgres -- "$@"); }

# stop a process and its descendants, children first
kill_tree() {
  local c
  for c in $(pgrep -P "$1"); do kill_tree "$c"; done
  kill "$1" 2>/dev/null || true
}

# total Ir of a callgrind output file
cg_total() {
  local t
  t=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$1" | head -1)
  [[ -n "$t" ]] || t=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$1" | head -1)
  printf '%s\n' "$t"
}

# n primary-key SELECTs over a table of ROWS rows, after an optional first
# statement: gen_input n first-statement
gen_input() {
  awk -v n="$1" -v first="$2" -v rows="$ROWS" 'BEGIN {
    if (first != "") print first
    for (i = 0; i < n; i++) printf "SELECT v FROM bench WHERE id = %d;\n", (i * 7919) % rows + 1 }'
}
