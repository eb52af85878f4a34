"""Helpers shared by the tests of test/python (imported by conftest.py and the
test modules; kept out of conftest.py so no module named "conftest" is
imported by name)."""
import os
import re
from contextlib import contextmanager

import psycopg2
import pytest

PANELS = 5
SENSORS_PER_PANEL = 3
SENSOR_KINDS = ("door", "motion", "smoke")


def pg_env():
    """Connection parameters from the harness's libpq environment."""
    missing = [v for v in ("PGHOST", "PGPORT") if not os.environ.get(v)]
    if missing:
        pytest.exit("capquery tests need %s exported (see test/run-all.sh)"
                    % ", ".join(missing), returncode=2)
    return {
        "host": os.environ["PGHOST"],
        "port": int(os.environ["PGPORT"]),
        "user": os.environ.get("PGUSER", "postgres"),
        "dbname": os.environ.get("PGDATABASE", "postgres"),
    }


def connect(autocommit=True, **kwargs):
    """A new psycopg2 connection (a new backend) to the test database."""
    conn = psycopg2.connect(**pg_env(), **kwargs)
    conn.autocommit = autocommit
    return conn


def sqlalchemy_url():
    env = pg_env()
    # libpq connects through the socket directory given as host=.
    return "postgresql+psycopg2://%s@/%s?host=%s&port=%d" % (
        env["user"], env["dbname"], env["host"], env["port"])


def sqlstate_of(excinfo):
    """The SQLSTATE of a psycopg2 error, or of the DBAPI error SQLAlchemy wraps."""
    err = excinfo.value
    return getattr(getattr(err, "orig", err), "pgcode", None)


def norm(sql):
    """Collapse whitespace, so texts can be compared across line breaks."""
    return re.sub(r"\s+", " ", sql).strip()


@contextmanager
def capture(cur, label=None):
    """Begin a capture on cur's connection, end it on leaving the block.
    Yields the capture id."""
    cur.execute("SELECT capq_begin(%s)", (label,))
    cap = cur.fetchone()[0]
    try:
        yield cap
    finally:
        if cur.connection.closed == 0:
            if cur.connection.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
                cur.connection.rollback()
            cur.execute("SELECT state FROM capq_sessions() WHERE capture = %s", (cap,))
            row = cur.fetchone()
            if row and row[0] == "active":
                cur.execute("SELECT capq_end()")
