#!/usr/bin/env bash
# bench/plot_read_scale.sh: doc/read_scale.png from bench/out/read_scale.tsv
# (bench/read_scale.sh's medians): each reader's time against the number of
# statements captured, both axes logarithmic.  Needs gnuplot (gnuplot-nox).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TSV=${1:-$HERE/out/read_scale.tsv}
PNG=${2:-$HERE/../doc/read_scale.png}
command -v gnuplot >/dev/null || { echo "plot: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
[[ -s $TSV ]] || { echo "plot: $TSV is empty: run bench/read_scale.sh" >&2; exit 1; }
mkdir -p "$(dirname "$PNG")"
DATA=$(mktemp)
trap 'rm -f "$DATA"' EXIT
# one block per reader (gnuplot's "index"), sizes in order
for reader in queries summary snapshot no_repeats; do
  awk -F'\t' -v r="$reader" '$2 == r { print $1, $3 }' "$TSV" | sort -n
  printf '\n\n'
done >"$DATA"
gnuplot <<EOF
set terminal pngcairo size 800,500 font ",10" noenhanced
set output "$PNG"
set title "capquery readers: time against capture size (realistic statements, median)"
set xlabel "statements captured"
set ylabel "ms (psql \\\\timing)"
set logscale xy
set grid
set key top left
plot "$DATA" index 0 with linespoints title "count(*) FROM capq_queries()", \
     "$DATA" index 1 with linespoints title "count(*) FROM capq_summary()", \
     "$DATA" index 2 with linespoints title "length(capq_snapshot())", \
     "$DATA" index 3 with linespoints title "capq_assert_no_repeats(1000000)"
EOF
echo "plot: $PNG"
