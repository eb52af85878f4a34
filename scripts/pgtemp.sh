# scripts/pgtemp.sh: throwaway PostgreSQL 15 instances for tests and the demo.
# Source it, then:
#   pgtemp_start NAME PORT [CONF_LINE...]   initdb + start; exports PGTEMP_<NAME>_{HOST,PORT,DIR,DATA}
#   pgtemp_psql NAME [psql args...]         psql -X as postgres against the instance
#   pgtemp_stop NAME                        stop (-m fast) and delete its directory
#   pgtemp_stop_all                         stop every instance this shell started (for traps)
# The server runs as the postgres OS user (PostgreSQL refuses root) in a fresh
# mktemp -d directory owned by postgres; it reads nothing from the repository.
# It listens on a private unix socket directory (HOST = that directory) and on
# 127.0.0.1:PORT, with trust authentication. Clients may run as root.
# Directories go under $PGTEMP_ROOT (default /tmp: it must be searchable by postgres).

PGTEMP_BINDIR=${PGTEMP_BINDIR:-/usr/lib/postgresql/15/bin}
PGTEMP_NAMES=${PGTEMP_NAMES:-}

# NAME -> upper-case identifier used in variable names
_pgtemp_id() { local n=${1^^}; printf '%s' "${n//[^A-Z0-9]/_}"; }

# run a command as the postgres OS user, from a directory it can read
_pgtemp_as_pg() {
  local dir=$1; shift
  (cd "$dir" && runuser -u postgres -- "$@")
}

pgtemp_start() {
  if (($# < 2)); then echo "usage: pgtemp_start NAME PORT [CONF_LINE...]" >&2; return 2; fi
  local name=$1 port=$2; shift 2
  local id; id=$(_pgtemp_id "$name")
  local dir data line

  if "$PGTEMP_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1 >/dev/null 2>&1 ||
     (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "pgtemp: port $port on 127.0.0.1 is already in use; stop whatever listens there:" >&2
    ss -ltnp "sport = :$port" >&2 2>/dev/null || true
    local pidfile
    for pidfile in "${PGTEMP_ROOT:-/tmp}"/pgtemp-*/data/postmaster.pid; do
      [[ -f "$pidfile" && "$(sed -n 4p "$pidfile")" == "$port" ]] || continue
      echo "pgtemp: it is a pgtemp instance (another run, or one left behind); if no run is using it:" >&2
      echo "  runuser -u postgres -- $PGTEMP_BINDIR/pg_ctl -D ${pidfile%/postmaster.pid} -m fast stop && rm -rf ${pidfile%/data/postmaster.pid}" >&2
    done
    return 1
  fi

  dir=$(mktemp -d "${PGTEMP_ROOT:-/tmp}/pgtemp-$name.XXXXXX") || return 1
  data=$dir/data
  chown postgres:postgres "$dir" && chmod 700 "$dir" || { rm -rf "$dir"; return 1; }

  if ! _pgtemp_as_pg "$dir" "$PGTEMP_BINDIR/initdb" -D "$data" -U postgres --auth=trust \
         -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
    echo "pgtemp: initdb for '$name' failed:" >&2
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    return 1
  fi

  {
    echo ""
    echo "# pgtemp instance '$name'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "listen_addresses = '127.0.0.1'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "logging_collector = off"
    echo "max_connections = 100"
    for line in "$@"; do echo "$line"; done
  } >>"$data/postgresql.conf"

  # record before starting, so a trap cleans up even a half-started instance
  PGTEMP_NAMES="$PGTEMP_NAMES $name"
  printf -v "PGTEMP_${id}_DIR" '%s' "$dir"
  printf -v "PGTEMP_${id}_DATA" '%s' "$data"
  printf -v "PGTEMP_${id}_HOST" '%s' "$dir"
  printf -v "PGTEMP_${id}_PORT" '%s' "$port"
  export "PGTEMP_${id}_DIR" "PGTEMP_${id}_DATA" "PGTEMP_${id}_HOST" "PGTEMP_${id}_PORT"

  if ! _pgtemp_as_pg "$dir" "$PGTEMP_BINDIR/pg_ctl" -D "$data" -l "$dir/log" -w -t 60 -s start \
         >"$dir/pg_ctl.log" 2>&1; then
    echo "pgtemp: starting '$name' on port $port failed:" >&2
    cat "$dir/pg_ctl.log" >&2
    echo "---- server log ($dir/log) ----" >&2
    cat "$dir/log" >&2 2>/dev/null || true
    pgtemp_stop "$name"
    return 1
  fi
  echo "pgtemp: '$name' up: host=$dir port=$port (also 127.0.0.1:$port)${*:+; }$*"
}

pgtemp_psql() {
  local id; id=$(_pgtemp_id "$1"); shift
  local host=PGTEMP_${id}_HOST port=PGTEMP_${id}_PORT
  "$PGTEMP_BINDIR/psql" -X -h "${!host}" -p "${!port}" -U postgres "$@"
}

# print the server log of an instance (for diagnosing failures)
pgtemp_log() {
  local id; id=$(_pgtemp_id "$1")
  local dir=PGTEMP_${id}_DIR
  [[ -n "${!dir:-}" && -f "${!dir}/log" ]] && cat "${!dir}/log"
}

pgtemp_stop() {
  local name=$1 id; id=$(_pgtemp_id "$name")
  local dvar=PGTEMP_${id}_DIR
  local dir=${!dvar:-}
  if [[ -n "$dir" && -d "$dir" ]]; then
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      _pgtemp_as_pg "$dir" "$PGTEMP_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop \
        >/dev/null 2>&1 ||
        _pgtemp_as_pg "$dir" "$PGTEMP_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -s stop \
          >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
  fi
  unset "PGTEMP_${id}_DIR" "PGTEMP_${id}_DATA" "PGTEMP_${id}_HOST" "PGTEMP_${id}_PORT"
  local n rest=""
  for n in $PGTEMP_NAMES; do [[ "$n" == "$name" ]] || rest="$rest $n"; done
  PGTEMP_NAMES=$rest
  return 0
}

pgtemp_stop_all() {
  local n
  for n in $PGTEMP_NAMES; do pgtemp_stop "$n"; done
  return 0
}
