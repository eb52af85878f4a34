"""SQLAlchemy 1.4 ORM workloads captured at the server.

Each test begins a capture on the very connection the Session uses (scope
'backend' is per connection), runs ORM code, and reads back what the server
executed: the number of SELECTs each loader strategy really costs.
"""
import re

import pytest
from sqlalchemy import exc, select
from sqlalchemy.orm import Session, joinedload, selectinload

from capq_helpers import SENSOR_KINDS, SENSORS_PER_PANEL, norm
from models import AlarmPanel


def run_captured(engine, workload):
    """Run workload(session) under a capture on the session's connection.

    Returns (workload result, SELECT count, entries) where entries are the
    captured (seq, kind, query) rows in order."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT capq_begin('orm')")
        with Session(bind=conn) as session:
            result = workload(session)
        selects = conn.exec_driver_sql("SELECT capq_count('select')").scalar()
        entries = conn.exec_driver_sql(
            "SELECT seq, kind, query FROM capq_queries()").all()
        ended = conn.exec_driver_sql("SELECT capq_end()").scalar()
        assert ended == len(entries)
        assert all(e.seq == i for i, e in enumerate(entries, 1))
    return result, selects, entries


def sensors_by_panel(panels):
    """Touch every panel's sensors, as a template rendering them would."""
    return {p.id: [s.kind for s in p.sensors] for p in panels}


def inlined_panel_id(query):
    m = re.search(r"(\d+) = sensors\.panel_id|sensors\.panel_id = (\d+)", query)
    assert m, query
    return int(m.group(1) or m.group(2))


def first_panels(k):
    return select(AlarmPanel).order_by(AlarmPanel.id).limit(k)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_lazy_loading_runs_one_select_per_panel(engine, alarm_db, k):
    def workload(session):
        return sensors_by_panel(session.execute(first_panels(k)).scalars().all())

    loaded, selects, entries = run_captured(engine, workload)

    # The workload really loaded k panels with their sensors ...
    assert sorted(loaded) == alarm_db[:k]
    assert all(kinds == list(SENSOR_KINDS[:SENSORS_PER_PANEL]) for kinds in loaded.values())
    # ... and the server saw 1 query for the panels plus 1 per panel.
    assert selects == 1 + k

    queries = [norm(e.query) for e in entries if e.kind == "select"]
    assert "FROM alarm_panels" in queries[0]
    lazy = queries[1:]
    assert all("FROM sensors" in q and "panel_id" in q for q in lazy)
    # psycopg2 inlines parameters: each lazy load names its own panel id.
    assert [inlined_panel_id(q) for q in lazy] == alarm_db[:k]


def test_selectinload_runs_two_selects(engine, alarm_db):
    def workload(session):
        stmt = select(AlarmPanel).order_by(AlarmPanel.id).options(selectinload(AlarmPanel.sensors))
        return sensors_by_panel(session.execute(stmt).scalars().all())

    loaded, selects, entries = run_captured(engine, workload)

    assert sorted(loaded) == alarm_db
    assert sum(len(v) for v in loaded.values()) == len(alarm_db) * SENSORS_PER_PANEL
    assert selects == 2
    queries = [norm(e.query) for e in entries if e.kind == "select"]
    assert "FROM alarm_panels" in queries[0]
    assert "FROM sensors" in queries[1] and " IN " in queries[1]


def test_joinedload_runs_one_select(engine, alarm_db):
    def workload(session):
        stmt = select(AlarmPanel).order_by(AlarmPanel.id).options(joinedload(AlarmPanel.sensors))
        return sensors_by_panel(session.execute(stmt).unique().scalars().all())

    loaded, selects, entries = run_captured(engine, workload)

    assert sorted(loaded) == alarm_db
    assert sum(len(v) for v in loaded.values()) == len(alarm_db) * SENSORS_PER_PANEL
    assert selects == 1
    (query,) = [norm(e.query) for e in entries if e.kind == "select"]
    assert "FROM alarm_panels LEFT OUTER JOIN sensors" in query


def test_assert_max_fails_on_n_plus_one_and_lists_the_statements(engine, alarm_db):
    n = len(alarm_db)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT capq_begin('orm n+1')")
        with Session(bind=conn) as session:
            sensors_by_panel(session.execute(first_panels(n)).scalars().all())
        captured = [(seq, norm(q)) for seq, q in conn.exec_driver_sql(
            "SELECT seq, query FROM capq_queries() WHERE kind = 'select'")]
        assert len(captured) == 1 + n

        # Within the budget: no error.
        conn.exec_driver_sql("SELECT capq_assert_max(%d, 'select')" % (1 + n))
        conn.exec_driver_sql("SELECT capq_assert_count(%d, 'select')" % (1 + n))

        with pytest.raises(exc.DBAPIError) as excinfo:
            conn.exec_driver_sql("SELECT capq_assert_max(2, 'select')")
        conn.connection.rollback()
        err = excinfo.value.orig
        conn.exec_driver_sql("SELECT capq_end()")

    assert err.pgcode == "P0004"
    message = err.diag.message_primary
    # The message states the limit against what was captured.
    assert re.search(r"\b2\b", message) and re.search(r"\b%d\b" % (1 + n), message), message

    detail = err.diag.message_detail
    assert detail, "P0004 must list the captured statements in errdetail"
    flat = norm(detail)
    # Every captured SELECT is listed, in order, and preceded by its number.
    pos = 0
    for seq, query in captured:
        at = flat.find(query, pos)
        assert at >= 0, "statement %d (%s) missing from detail:\n%s" % (seq, query, detail)
        before = flat[pos:at]
        assert re.search(r"\b%d\b" % seq, before), \
            "statement %d is not numbered in detail:\n%s" % (seq, detail)
        pos = at + len(query)
    assert flat.count("FROM sensors") >= n


def test_same_workload_same_connection_new_capture_is_independent(engine, alarm_db):
    """Two captures in a row on one connection: the second counts only its own
    statements, and the first stays readable by id."""
    with engine.connect() as conn:
        first = conn.exec_driver_sql("SELECT capq_begin()").scalar()
        with Session(bind=conn) as session:
            sensors_by_panel(session.execute(first_panels(2)).scalars().all())
        conn.exec_driver_sql("SELECT capq_end()")
        second = conn.exec_driver_sql("SELECT capq_begin()").scalar()
        with Session(bind=conn) as session:
            sensors_by_panel(session.execute(first_panels(4)).scalars().all())
        conn.exec_driver_sql("SELECT capq_end()")
        assert second != first
        assert conn.exec_driver_sql("SELECT capq_count('select')").scalar() == 5
        assert conn.exec_driver_sql(
            "SELECT capq_count('select', %d)" % first).scalar() == 3
