"""Fixtures for capquery's driver- and ORM-level tests.

The harness starts a PostgreSQL 15 with shared_preload_libraries='capquery'
and exports PGHOST (socket directory), PGPORT, PGUSER and PGDATABASE; the
database already has the extension.  Every connection here goes to that
database.  A capture with scope 'backend' belongs to one connection, so a
test always begins it, runs its workload and reads it back on the same
connection.
"""
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from capq_helpers import (PANELS, SENSOR_KINDS, SENSORS_PER_PANEL, connect,
                          sqlalchemy_url)
from models import AlarmPanel, Base, Sensor


@pytest.fixture(scope="session", autouse=True)
def capquery_installed():
    """Fail early and clearly if the server does not preload capquery."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS capquery")
        cur.execute("SHOW shared_preload_libraries")
        preload = cur.fetchone()[0]
    conn.close()
    if "capquery" not in preload:
        pytest.exit("the server must preload capquery (shared_preload_libraries = %r)"
                    % preload, returncode=2)


@pytest.fixture
def conn():
    """A psycopg2 connection in autocommit mode, closed after the test."""
    c = connect()
    yield c
    c.close()


@pytest.fixture
def new_conn():
    """Factory for extra psycopg2 connections, all closed after the test."""
    opened = []

    def factory(autocommit=True, **kwargs):
        c = connect(autocommit=autocommit, **kwargs)
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()


@pytest.fixture(scope="module")
def engine():
    """A SQLAlchemy 1.4 engine on psycopg2, disposed after the module."""
    eng = create_engine(sqlalchemy_url())
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def alarm_db(engine):
    """alarm_panels and sensors, created fresh for each test module:
    PANELS panels with SENSORS_PER_PANEL sensors each.  Returns the panel ids
    in ascending order."""
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for p in range(PANELS):
            session.add(AlarmPanel(
                mac_address="00:11:22:33:44:%02x" % p,
                is_online=(p % 2 == 0),
                sensors=[Sensor(kind=k) for k in SENSOR_KINDS[:SENSORS_PER_PANEL]],
            ))
        session.commit()
        ids = [pid for (pid,) in session.query(AlarmPanel.id).order_by(AlarmPanel.id)]
    assert len(ids) == PANELS
    yield ids
    Base.metadata.drop_all(engine)
