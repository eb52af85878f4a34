#!/usr/bin/env bash
# scripts/fresh-check.sh: run the README's two commands (make demo, make test) as a new user would,
# in a fresh Debian 12 root (debootstrap minbase + ca-certificates git make), as root; not part of make test.
#
# Usage: sudo bash scripts/fresh-check.sh [--keep] [--disk] [--root DIR] [--ref REF] [--no-cache] [REPO]
#   REPO        the repository to clone (default: the one this script is in); its
#               committed HEAD is cloned, never the work tree, so commit first
#   --ref REF   check out REF (branch, tag or commit of REPO) instead of its HEAD
#   --root DIR  build the root in DIR (must be absent or empty; default: a new
#               directory under /var/tmp)
#   --keep      leave the root (and the logs in it) in place at the end; implies --disk
#   --disk      build the root on DIR's disk (about 2 GB free needed) even when
#               there is memory for a tmpfs (the default with 8 GB available:
#               the root is about 2 GB and thousands of small files, which a
#               disk mounted with discard takes minutes to delete)
#   --no-cache  download debootstrap's packages again instead of using the
#               tarball cached in /var/cache/capquery-fresh
#
# Steps: debootstrap bookworm from this machine's own Debian mirror (read from
# /etc/apt/sources.list and /etc/apt/sources.list.d/*.sources, with its
# bookworm-updates and bookworm-security suites in the root's sources.list
# when this machine has them), trust this machine's local CA certificates
# (/usr/local/share/ca-certificates), clone REPO into /root/capquery, mount
# proc, sys, dev, dev/pts and a tmpfs on dev/shm, then run "make demo" and
# "make test" in the clone through chroot, each in a clean environment
# (env -i: PATH, HOME=/root, LANG=C.UTF-8, no CI, no stdin).  Prints each
# command's exit code, wall time and summary, and how much was downloaded.
# Exits 0 only if both commands exited 0.
#
# On any exit (also Ctrl-C or TERM) it kills every process whose root is the
# chroot (the PostgreSQL instances of an interrupted run), unmounts in reverse
# order (lazily if busy) and removes the root unless --keep.  The root shares
# this machine's network: the test suite listens on 127.0.0.1:54329-54331 and
# the demo on 54339, so nothing else may use those ports meanwhile.
# Services that packages would start at install (the default cluster on 5432)
# stay stopped, as in a container: a policy-rc.d in the root refuses them.
set -euo pipefail

# the whole script is one block, read before it runs: a checkout that changes
# under a running check (a commit, a rebase) cannot change what it executes
{
SELF_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITE=bookworm
INCLUDE=ca-certificates,git,make
CACHE_DIR=/var/cache/capquery-fresh
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CLONE_DIR=/root/capquery
MIN_FREE_KB=$((2 * 1024 * 1024))

KEEP=0 DISK=0 USE_CACHE=1 ROOT="" REF="" REPO=""
usage() { sed -n '5,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --keep) KEEP=1 DISK=1 ;;
    --disk) DISK=1 ;;
    --no-cache) USE_CACHE=0 ;;
    --root) ROOT=${2:?--root needs a directory}; shift ;;
    --root=*) ROOT=${1#--root=} ;;
    --ref) REF=${2:?--ref needs a branch, tag or commit}; shift ;;
    --ref=*) REF=${1#--ref=} ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "fresh-check: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [[ -z "$REPO" ]] || { echo "fresh-check: one repository only" >&2; exit 2; }; REPO=$1 ;;
  esac
  shift
done
REPO=${REPO:-$SELF_REPO}

say() { printf '\n===== fresh-check: %s =====\n' "$*"; }
die() { echo "fresh-check: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, mount and chroot need it)"
git -C "$REPO" rev-parse --verify -q "${REF:-HEAD}^{commit}" >/dev/null ||
  die "$REPO has no commit ${REF:-HEAD}"

# ---------------------------------------------------------------- the root and its cleanup
mem_kb=$(awk '$1 == "MemAvailable:" {print $2}' /proc/meminfo)
((mem_kb >= 4 * MIN_FREE_KB)) || DISK=1
if [[ -z "$ROOT" ]]; then
  if ((DISK)); then
    free_kb=$(df -Pk /var/tmp | awk 'NR == 2 {print $4}')
    ((free_kb >= MIN_FREE_KB)) || die "/var/tmp has $((free_kb / 1024)) MB free, about 2 GB is needed: use --root DIR"
  fi
  ROOT=$(mktemp -d /var/tmp/capquery-fresh.XXXXXX)
else
  [[ "$ROOT" != *[[:space:]]* ]] || die "--root: no spaces in the path, please"
  mkdir -p "$ROOT"
  [[ -z "$(ls -A "$ROOT")" ]] || die "--root $ROOT is not empty"
fi
ROOT=$(realpath "$ROOT")
[[ "$ROOT" != / ]] || die "--root / is not a fresh root"
chmod 755 "$ROOT"

MOUNTED=()      # mount points at or under $ROOT, in the order they were mounted
STARTED=$SECONDS

# mounts_under DIR: mount points at or below DIR, deepest (most recent) last
mounts_under() {
  awk -v r="$1" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo
}

# processes whose root directory is the chroot: what the commands left running
procs_in_root() {
  local p link
  for p in /proc/[0-9]*; do
    link=$(readlink "$p/root" 2>/dev/null) || continue
    [[ "$link" == "$ROOT" || "$link" == "$ROOT"/* ]] && echo "${p#/proc/}"
  done
  return 0
}

stop_root_processes() {
  local pids i
  mapfile -t pids < <(procs_in_root)
  ((${#pids[@]})) || return 0
  echo "fresh-check: stopping ${#pids[@]} process(es) left in the root: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    mapfile -t pids < <(procs_in_root)
    ((${#pids[@]})) || return 0
    sleep 0.5
  done
  echo "fresh-check: killing ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  sleep 1
}

unmount_all() {
  local i m
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    m=${MOUNTED[i]}
    umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null || echo "fresh-check: could not unmount $m" >&2
  done
  MOUNTED=()
  # anything mounted below the root by the commands themselves (binfmt_misc...)
  mapfile -t left < <(mounts_under "$ROOT" | tac)
  for m in "${left[@]}"; do umount -l "$m" 2>/dev/null || true; done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_root_processes
  unmount_all
  rm -f "$ROOT.debootstrap.log"
  if [[ -n "$(mounts_under "$ROOT")" ]]; then
    echo "fresh-check: still mounted under $ROOT, NOT removing it:" >&2
    mounts_under "$ROOT" >&2
  elif ((KEEP)); then
    echo "fresh-check: root kept in $ROOT (logs in $ROOT/var/log/fresh-check)"
  else
    rm -rf --one-file-system "$ROOT"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "fresh-check: interrupted"; exit 130' INT TERM

mount_in_root() {           # mount_in_root TARGET MOUNT-ARGS...
  local target=$ROOT$1; shift
  mkdir -p "$target"
  mount "$@" "$target" || return 1
  MOUNTED+=("$target")
}

if ((DISK)); then
  echo "fresh-check: root on disk: $ROOT"
else
  mount_in_root "" -t tmpfs -o size=8G,mode=755 capquery-fresh
  echo "fresh-check: root on a tmpfs (--disk to build it on disk): $ROOT"
fi

# ---------------------------------------------------------------- this machine's mirror
# "URI SUITE" for each Debian bookworm* suite this machine's apt uses, from
# one-line sources.list files and deb822 .sources files
host_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
                       print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
         { types = ""; uris = ""; suites = ""; enabled = "yes"
           for (i = 1; i <= NF; i++) {
             if ($i ~ /^#/ || $i !~ /:/) continue
             key = tolower(substr($i, 1, index($i, ":") - 1))
             val = substr($i, index($i, ":") + 1); gsub(/^[ \t]+|[ \t]+$/, "", val)
             if (key == "types") types = val; else if (key == "uris") uris = val
             else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val)
           }
           if (enabled == "no" || (" " types " ") !~ / deb /) next
           split(uris, u, /[ \t]+/); n = split(suites, s, /[ \t]+/)
           for (j = 1; j <= n; j++) print u[1], s[j] }' "$f"
  done
}
mapfile -t SOURCES < <(host_sources | awk -v s="$SUITE" '$2 == s || $2 == s "-updates" || $2 == s "-security"' | sort -u -k2,2)
MIRROR=$(printf '%s\n' "${SOURCES[@]}" | awk -v s="$SUITE" '$2 == s {print $1; exit}')
if [[ -z "$MIRROR" ]]; then
  MIRROR=http://deb.debian.org/debian
  SOURCES=("$MIRROR $SUITE")
  echo "fresh-check: no $SUITE mirror in /etc/apt, using $MIRROR"
fi

if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap on this machine"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

# ---------------------------------------------------------------- debootstrap
say "debootstrap --variant=minbase --include=$INCLUDE $SUITE from $MIRROR into $ROOT"
t0=$SECONDS
# the packages are fetched once into a tarball (the cache), then installed from it
key=$(printf '%s %s %s %s\n' "$SUITE" "$INCLUDE" "$MIRROR" "$(dpkg --print-architecture)" | md5sum | cut -c1-12)
tarball=$CACHE_DIR/$SUITE-minbase-$key.tgz
DEB_CACHED=0
if ((USE_CACHE)) && [[ -s "$tarball" ]]; then
  DEB_CACHED=1
  echo "using cached packages $tarball (--no-cache to download them again)"
else
  mkdir -p "$CACHE_DIR"
  rm -f "$tarball.part"
  debootstrap --variant=minbase --include="$INCLUDE" --make-tarball="$tarball.part" \
    "$SUITE" "$ROOT/download" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
    { tail -n 30 "$ROOT.debootstrap.log"; rm -f "$ROOT.debootstrap.log"; die "debootstrap could not download"; }
  rm -f "$ROOT.debootstrap.log"
  mv "$tarball.part" "$tarball"
  rm -rf "$ROOT/download"
fi
DEB_BYTES=$(tar -tvzf "$tarball" | awk '$NF ~ /\.deb$/ {s += $3} END {print s + 0}')
debootstrap --variant=minbase --include="$INCLUDE" --unpack-tarball="$tarball" \
  "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
  { tail -n 30 "$ROOT.debootstrap.log"; rm -f "$ROOT.debootstrap.log"; die "debootstrap failed"; }
rm -f "$ROOT.debootstrap.log"
echo "debootstrap: $((SECONDS - t0)) s, $((DEB_BYTES / 1024 / 1024)) MB of packages$( ((DEB_CACHED)) && echo ' (from the cache)')"

# ---------------------------------------------------------------- configure the root
LOGS=$ROOT/var/log/fresh-check
mkdir -p "$LOGS"

{ echo "# written by capquery's scripts/fresh-check.sh: this machine's Debian mirror"
  for s in "${SOURCES[@]}"; do echo "deb ${s% *} ${s#* } main"; done
} >"$ROOT/etc/apt/sources.list"
echo "sources.list:"; sed 's/^/  /' "$ROOT/etc/apt/sources.list"

# how this machine reaches its mirror (a proxy; no Valid-Until check for a snapshot)
grep -hE '^[[:space:]]*Acquire::([a-z]+::Proxy|Check-Valid-Until|Check-Date)[[:space:]]' \
  /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null >"$ROOT/etc/apt/apt.conf.d/99fresh-check-mirror" || true
[[ -s "$ROOT/etc/apt/apt.conf.d/99fresh-check-mirror" ]] || rm -f "$ROOT/etc/apt/apt.conf.d/99fresh-check-mirror"

[[ -s "$ROOT/etc/resolv.conf" ]] || cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
grep -qs localhost "$ROOT/etc/hosts" || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >>"$ROOT/etc/hosts"

# no daemon starts at package installation (this is a chroot, not a machine)
printf '#!/bin/sh\n# fresh-check: no service starts in this chroot\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

mapfile -t LOCAL_CAS < <(find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort)
if ((${#LOCAL_CAS[@]})); then
  echo "trusting this machine's local CA certificates: ${LOCAL_CAS[*]##*/}"
  cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" /usr/bin/env -i PATH="$CHROOT_PATH" update-ca-certificates >/dev/null 2>&1 ||
    die "update-ca-certificates failed in the root"
fi

say "cloning $REPO${REF:+ at $REF} into $CLONE_DIR"
git clone -q --no-hardlinks "$REPO" "$ROOT$CLONE_DIR"
[[ -z "$REF" ]] || git -C "$ROOT$CLONE_DIR" checkout -q --detach "$(git -C "$REPO" rev-parse --verify "$REF^{commit}")"
git -C "$ROOT$CLONE_DIR" log --oneline -1

mount_in_root /proc -t proc proc
mount_in_root /sys -t sysfs sysfs 2>/dev/null || mount_in_root /sys --rbind /sys
mount_in_root /dev --bind /dev
mount --make-private "$ROOT/dev"       # mounts below it stay out of this machine's /dev
mount_in_root /dev/pts --bind /dev/pts
mount_in_root /dev/shm -t tmpfs -o mode=1777,nosuid,nodev shm

# ---------------------------------------------------------------- the README's two commands
# in_root LOG COMMAND: run COMMAND in the clone as a new user would, in the
# background so that a signal reaches the trap at once; returns its status
in_root() {
  local log=$1 cmd=$2
  rm -f "$log.rc"
  { chroot "$ROOT" /usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
      ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
      ${no_proxy:+no_proxy=$no_proxy} \
      /bin/bash -c "cd $CLONE_DIR && $cmd" </dev/null 2>&1
    echo $? >"$log.rc"
  } | tee "$log" &
  wait $! || true
  return "$(cat "$log.rc" 2>/dev/null || echo 1)"
}

RESULTS=()
OVERALL=0
for cmd in "make demo" "make test"; do
  say "$cmd"
  log=$LOGS/${cmd// /-}.log
  t0=$SECONDS
  rc=0
  in_root "$log" "$cmd" || rc=$?
  secs=$((SECONDS - t0))
  case $cmd in
    "make demo") summary=$(grep -E '^demo: OK$' "$log" | tail -n 1 || true) ;;
    *) summary=$(grep -E '^capquery: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true) ;;
  esac
  RESULTS+=("$(printf '%-10s exit %d, %d min %02d s  %s' "$cmd" "$rc" $((secs / 60)) $((secs % 60)) "${summary:-(no summary line)}")")
  ((rc == 0)) || OVERALL=1
done

# ---------------------------------------------------------------- figures
apt_bytes=$(find "$ROOT/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
apt_count=$(find "$ROOT/var/cache/apt/archives" -maxdepth 1 -name '*.deb' | wc -l)
npm_bytes=$(du -sb "$ROOT/root/.npm" 2>/dev/null | cut -f1 || true)
lists_bytes=$(du -sb "$ROOT/var/lib/apt/lists" 2>/dev/null | cut -f1 || true)
root_bytes=$(du -sbx "$ROOT" | cut -f1)
mb() { awk -v b="${1:-0}" 'BEGIN {printf "%.0f MB", b / 1048576}'; }

say "results"
for line in "${RESULTS[@]}"; do echo "$line"; done
echo "downloaded: packages $(mb $((DEB_BYTES + apt_bytes))) = debootstrap $(mb "$DEB_BYTES")$( ((DEB_CACHED)) && echo ' (cached this time)') + apt $(mb "$apt_bytes") ($apt_count .deb); npm cache $(mb "$npm_bytes"); apt lists $(mb "$lists_bytes") once unpacked"
echo "root size at the end: $(mb "$root_bytes"); total time $(((SECONDS - STARTED) / 60)) min $(((SECONDS - STARTED) % 60)) s"
exit "$OVERALL"
}
