#!/usr/bin/env bash
# bench/rss_sampler.sh: the peak RssAnon (kB) of a process while a file
# exists, for bench/million.sh.  Run in the background:
#     rss_sampler.sh PID FLAG_FILE OUT_FILE
# samples /proc/PID/status every 10 ms until FLAG_FILE is removed, then
# writes the largest RssAnon seen to OUT_FILE.
set -uo pipefail
pid=$1 flag=$2 out=$3
peak=0
while [[ -e "$flag" ]]; do
  kb=$(awk '/^RssAnon/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  [[ -n "$kb" ]] && ((kb > peak)) && peak=$kb
  sleep 0.01
done
echo "$peak" >"$out.tmp" && mv "$out.tmp" "$out"
