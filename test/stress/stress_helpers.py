"""Connections for the stress tests: the harness's preloaded server (PGHOST,
PGPORT, PGUSER, PGDATABASE exported; the database has capquery)."""
import os

import psycopg2
import pytest


def connect():
    """A new autocommit psycopg2 connection: a backend of its own."""
    for var in ("PGHOST", "PGPORT"):
        if not os.environ.get(var):
            pytest.exit("stress tests need %s exported (see test/run-all.sh)" % var, returncode=2)
    conn = psycopg2.connect(host=os.environ["PGHOST"], port=int(os.environ["PGPORT"]),
                            user=os.environ.get("PGUSER", "postgres"),
                            dbname=os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    return conn
