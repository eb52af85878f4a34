"""Connections for the stress tests: the harness's preloaded server (PGHOST,
PGPORT, PGUSER, PGDATABASE exported; the database has capquery)."""
import os

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
