"""Connections for the stress tests: the harness's preloaded server (PGHOST,
PGPORT, PGUSER, PGDATABASE exported; the database has capquery), or a
throwaway server of a test's own (own_server)."""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile

import psycopg2
import pytest


def connect(host_var="PGHOST", port_var="PGPORT"):
    """A new autocommit psycopg2 connection: a backend of its own.  By default
    on the main instance; connect("CAPQ_TINY_HOST", "CAPQ_TINY_PORT") reaches
    the instance whose ring is deliberately tiny."""
    for var in (host_var, port_var):
        if not os.environ.get(var):
            pytest.fail("%s is not exported: run through test/run-all.sh, or export "
                        "the instance's socket directory and port" % var)
    conn = psycopg2.connect(host=os.environ[host_var], port=int(os.environ[port_var]),
                            user=os.environ.get("PGUSER", "postgres"),
                            dbname=os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    return conn


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*cmd):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + list(cmd), check=True, capture_output=True, cwd="/")


@contextlib.contextmanager
def own_server(settings, prefix="capq-own-"):
    """A throwaway server preloading capquery with settings (lines of
    postgresql.conf), on a unix socket in its own directory: yields an
    autocommit connection to it and a function that opens more."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.fail("initdb/pg_ctl of PostgreSQL 15 must be on PATH (test/run-all.sh puts them there)")
    tmp = tempfile.mkdtemp(prefix=prefix)
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
    data, port = os.path.join(tmp, "data"), free_port()
    as_postgres(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    with open(os.path.join(data, "postgresql.conf"), "a") as conf:
        conf.write("shared_preload_libraries = 'capquery'\n" + settings +
                   f"port = {port}\nunix_socket_directories = '{tmp}'\n"
                   "listen_addresses = ''\nfsync = off\n")
    as_postgres(pg_ctl, "-D", data, "-l", os.path.join(tmp, "log"), "-w", "start")

    def connect_own():
        conn = psycopg2.connect(host=tmp, port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        return conn

    try:
        conn = connect_own()
        yield conn, connect_own
        conn.close()
    finally:
        as_postgres(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)
