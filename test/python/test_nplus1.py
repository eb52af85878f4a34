"""N+1 detection on the SQLAlchemy AlarmPanel/Sensor workload (psycopg2).

Lazy loading (AlarmPanel.sensors, lazy='select') runs one sensors SELECT
per panel: capq_assert_no_repeats names that statement and its count,
capq_assert_same_count sees the count grow with the number of panels, and
capquery.max_repeats stops the application at the first excess execution.
selectinload (two queries) and joinedload (one) pass all of them.  Call
sites come from sqlcommenter-style comments on the statements.
"""
import pytest
from sqlalchemy import create_engine, event, exc, select
from sqlalchemy.orm import Session, joinedload, selectinload

from capq_helpers import PANELS, SENSORS_PER_PANEL, norm, sqlalchemy_url
from models import AlarmPanel

# The statement SQLAlchemy 1.4 writes for a lazy load of AlarmPanel.sensors,
# as capquery normalizes it.
LAZY_SENSORS = ("SELECT sensors.id AS sensors_id, sensors.panel_id AS sensors_panel_id, "
                "sensors.kind AS sensors_kind FROM sensors WHERE $1 = sensors.panel_id "
                "ORDER BY sensors.id")

EAGER = {
    "lazy": (),
    "selectinload": (selectinload(AlarmPanel.sensors),),
    "joinedload": (joinedload(AlarmPanel.sensors),),
}


def render_panels(session, strategy, limit=None):
    """What a page listing panels with their sensors does: load the panels,
    then touch every panel's sensors.  Returns {panel id: [sensor kinds]}."""
    stmt = select(AlarmPanel).order_by(AlarmPanel.id).options(*EAGER[strategy])
    if limit is not None:
        stmt = stmt.limit(limit)
    result = session.execute(stmt)
    if strategy == "joinedload":
        result = result.unique()
    return {p.id: [s.kind for s in p.sensors] for p in result.scalars().all()}


def captured(engine, strategy, limit=None, label=None):
    """Run render_panels under a capture on the session's own connection.
    Returns (capture id, what was rendered)."""
    with engine.connect() as conn:
        cap = conn.exec_driver_sql("SELECT capq_begin(%s)", (label,)).scalar()
        with Session(bind=conn) as session:
            rendered = render_panels(session, strategy, limit)
        conn.exec_driver_sql("SELECT capq_end()")
    return cap, rendered


def assertion_error(engine, sql, *args):
    """Run a capq_assert_* call; return the psycopg2 error it raised (or None)."""
    with engine.connect() as conn:
        try:
            conn.exec_driver_sql(sql, args)
        except exc.DBAPIError as e:
            conn.connection.rollback()
            return e.orig
    return None


def fingerprint(engine, sql):
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT capq_fingerprint(%s)", (sql,)).scalar()


# ---------------------------------------------------------------- no repeats

def test_lazy_loading_fails_no_repeats_naming_the_sensors_select(engine, alarm_db):
    cap, rendered = captured(engine, "lazy")
    assert sorted(rendered) == alarm_db
    assert all(len(kinds) == SENSORS_PER_PANEL for kinds in rendered.values())

    err = assertion_error(engine, "SELECT capq_assert_no_repeats(1, %s)", cap)
    assert err is not None, "lazy loading passed capq_assert_no_repeats"
    assert err.pgcode == "P0004"
    # errmsg: which shape, how many times, in which phase, against the limit
    shape = fingerprint(engine, LAZY_SENSORS)
    assert err.diag.message_primary == \
        "statement shape %s ran %d times in phase 1, more than 1" % (shape, PANELS)
    # errdetail: the normalized statement and example parameter sets
    detail = err.diag.message_detail
    first, *rest = detail.splitlines()
    assert first == "Shape %s (select), %d executions in phase 1: %s" % (shape, PANELS, LAZY_SENSORS)
    examples = [line.strip() for line in rest if line.strip().startswith("example:")]
    assert examples, detail
    assert examples == ["example: $1 = '%d'" % pid for pid in alarm_db[:len(examples)]], detail
    # only the sensors SELECT repeated: the panels query is not named
    assert "alarm_panels" not in detail
    # errhint: how to load eagerly
    hint = err.diag.message_hint
    assert "JOIN" in hint and "IN (...)" in hint, hint


def test_lazy_loading_passes_with_a_limit_above_its_count(engine, alarm_db):
    cap, _ = captured(engine, "lazy")
    assert assertion_error(engine, "SELECT capq_assert_no_repeats(%s, %s)", PANELS, cap) is None
    err = assertion_error(engine, "SELECT capq_assert_no_repeats(%s, %s)", PANELS - 1, cap)
    assert err is not None and err.pgcode == "P0004"
    assert err.diag.message_primary.endswith(
        "ran %d times in phase 1, more than %d" % (PANELS, PANELS - 1))


@pytest.mark.parametrize("strategy, selects", [("selectinload", 2), ("joinedload", 1)])
def test_eager_loading_passes_no_repeats(engine, alarm_db, strategy, selects):
    cap, rendered = captured(engine, strategy)
    assert sorted(rendered) == alarm_db
    assert sum(len(kinds) for kinds in rendered.values()) == PANELS * SENSORS_PER_PANEL
    assert assertion_error(engine, "SELECT capq_assert_no_repeats(1, %s)", cap) is None
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT capq_count('select', %s)", (cap,)).scalar() == selects


def test_summary_shows_one_row_per_shape(engine, alarm_db):
    cap, _ = captured(engine, "lazy")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT phase, fingerprint, query, kind, executions, rows, relations "
            "FROM capq_summary(%s) WHERE kind = 'select'", (cap,)).all()
    panels, sensors = rows
    assert (panels.kind, panels.executions, panels.rows, panels.relations) == \
        ("select", 1, PANELS, ["alarm_panels"])
    assert "FROM alarm_panels" in panels.query
    assert (sensors.phase, sensors.query, sensors.executions, sensors.rows, sensors.relations) == \
        (1, LAZY_SENSORS, PANELS, PANELS * SENSORS_PER_PANEL, ["sensors"])
    assert sensors.fingerprint == fingerprint(engine, LAZY_SENSORS)


# ---------------------------------------------------------------- same count

def test_lazy_loading_fails_same_count_at_2_vs_5_panels(engine, alarm_db):
    small, rendered_small = captured(engine, "lazy", limit=2)
    large, rendered_large = captured(engine, "lazy", limit=5)
    assert len(rendered_small) == 2 and len(rendered_large) == 5

    with engine.connect() as conn:
        total_small = conn.exec_driver_sql("SELECT capq_count(NULL, %s)", (small,)).scalar()
        total_large = conn.exec_driver_sql("SELECT capq_count(NULL, %s)", (large,)).scalar()
    # one panels SELECT plus one sensors SELECT per panel; the rest
    # (transaction control) is the same in both
    assert total_large - total_small == 5 - 2

    err = assertion_error(engine, "SELECT capq_assert_same_count(%s, %s)", small, large)
    assert err is not None, "lazy loading passed capq_assert_same_count"
    assert err.pgcode == "P0004"
    assert err.diag.message_primary == "captures %d and %d differ in statements: %d != %d" % (
        small, large, total_small, total_large)
    # per shape and per relation, only what differs: the sensors SELECT ran
    # once per panel (2 != 5); the panels SELECT ran once in both
    assert err.diag.message_detail.splitlines() == [
        "Per shape:",
        "  %s: 2 != 5" % LAZY_SENSORS,
        "Per relation:",
        "  sensors (select): 2 != 5",
    ]
    assert "N+1" in err.diag.message_hint

    # only the SELECTs
    err = assertion_error(engine, "SELECT capq_assert_same_count(%s, %s, 'select')", small, large)
    assert err is not None and err.pgcode == "P0004"
    assert err.diag.message_primary.endswith(": %d != %d" % (1 + 2, 1 + 5))


def test_selectinload_passes_same_count_at_2_vs_5_panels(engine, alarm_db):
    small, rendered_small = captured(engine, "selectinload", limit=2)
    large, rendered_large = captured(engine, "selectinload", limit=5)
    assert len(rendered_small) == 2 and len(rendered_large) == 5
    assert assertion_error(engine, "SELECT capq_assert_same_count(%s, %s)", small, large) is None
    assert assertion_error(engine, "SELECT capq_assert_same_count(%s, %s, 'select')",
                           small, large) is None


# ---------------------------------------------------------------- strict mode

def test_max_repeats_stops_the_third_lazy_load_in_the_application(engine, alarm_db):
    rendered = {}
    with engine.connect() as conn:
        conn.exec_driver_sql("SET capquery.max_repeats = 2")
        cap = conn.exec_driver_sql("SELECT capq_begin('strict')").scalar()
        with pytest.raises(exc.DBAPIError) as excinfo:
            with Session(bind=conn) as session:
                stmt = select(AlarmPanel).order_by(AlarmPanel.id)
                for panel in session.execute(stmt).scalars().all():
                    rendered[panel.id] = [s.kind for s in panel.sensors]
        conn.connection.rollback()
        conn.exec_driver_sql("SELECT capq_end()")
        entries = conn.exec_driver_sql(
            "SELECT kind, query, error FROM capq_queries(%s) WHERE kind = 'select'",
            (cap,)).all()
        conn.exec_driver_sql("RESET capquery.max_repeats")

    err = excinfo.value.orig
    assert err.pgcode == "P0004"
    # SQLAlchemy raised it from the third panel's lazy load, in the application
    assert sorted(rendered) == alarm_db[:2]
    assert err.diag.message_primary == \
        "statement shape %s ran 3 times in phase 1, more than capquery.max_repeats (2)" % \
        fingerprint(engine, LAZY_SENSORS)
    assert err.diag.message_detail == \
        "The select statement was stopped before it ran: %s" % LAZY_SENSORS
    # it did not run: the capture holds the panels SELECT, two lazy loads,
    # and the third, sent by the application and failed with P0004 (1.1)
    assert len(entries) == 4
    assert "FROM alarm_panels" in norm(entries[0].query)
    assert all("WHERE %d = sensors.panel_id" % pid in norm(e.query)
               for e, pid in zip(entries[1:], alarm_db))
    assert [e.error for e in entries] == [None, None, None, "P0004"]


def test_max_repeats_lets_eager_loading_through(engine, alarm_db):
    with engine.connect() as conn:
        conn.exec_driver_sql("SET capquery.max_repeats = 2")
        conn.exec_driver_sql("SELECT capq_begin('strict eager')")
        with Session(bind=conn) as session:
            rendered = render_panels(session, "selectinload")
        conn.exec_driver_sql("SELECT capq_end()")
        conn.exec_driver_sql("RESET capquery.max_repeats")
    assert sorted(rendered) == alarm_db


def test_max_repeats_is_silent_where_not_set(engine, alarm_db):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW capquery.max_repeats").scalar() == "0"
        conn.exec_driver_sql("SELECT capq_begin('not strict')")
        with Session(bind=conn) as session:
            rendered = render_panels(session, "lazy")
        conn.exec_driver_sql("SELECT capq_end()")
    assert sorted(rendered) == alarm_db


# ---------------------------------------------------------------- call sites

@pytest.fixture
def tagged_engine():
    """An engine that appends sqlcommenter-style tags to every statement, as
    sqlcommenter's SQLAlchemy integration does: tags["action"] is set by the
    "controller action" running; traceparent changes with every statement."""
    eng = create_engine(sqlalchemy_url())
    tags = {"controller": "panels", "action": None}
    counter = iter(range(1, 1000000))

    @event.listens_for(eng, "before_cursor_execute", retval=True)
    def add_comment(conn, cursor, statement, parameters, context, executemany):
        if tags["action"] is None or "capq_" in statement:
            return statement, parameters
        trace = "00-%032x-%016x-01" % (next(counter), 1)
        return ("%s /*controller='%s',action='%s',traceparent='%s'*/" % (
            statement, tags["controller"], tags["action"], trace), parameters)

    yield eng, tags
    eng.dispose()


def test_call_sites_point_at_the_code_that_caused_the_n_plus_one(tagged_engine, alarm_db):
    eng, tags = tagged_engine
    with eng.connect() as conn:
        cap = conn.exec_driver_sql("SELECT capq_begin('tagged')").scalar()
        with Session(bind=conn) as session:
            tags["action"] = "index"
            panels = session.execute(select(AlarmPanel).order_by(AlarmPanel.id)).scalars().all()
            tags["action"] = "show"
            rendered = {p.id: [s.kind for s in p.sensors] for p in panels}
            tags["action"] = None
        conn.exec_driver_sql("SELECT capq_end()")
        queries = [q for (q,) in conn.exec_driver_sql(
            "SELECT query FROM capq_queries(%s) WHERE kind = 'select'", (cap,))]
        summary = {r.query: r for r in conn.exec_driver_sql(
            "SELECT query, executions, call_sites FROM capq_summary(%s) "
            "WHERE kind = 'select'", (cap,))}
    assert sorted(rendered) == alarm_db
    # the statements really carried the comments
    assert len(queries) == 1 + PANELS
    assert all("/*controller='panels'" in q for q in queries)

    # the comment (and its traceparent, different every time) does not split
    # the shape; the summary shows the tags, less the trace
    sensors = summary[LAZY_SENSORS]
    assert sensors.executions == PANELS
    assert sensors.call_sites == ["controller='panels',action='show'"]
    (panels_row,) = [r for q, r in summary.items() if "FROM alarm_panels" in q]
    assert panels_row.call_sites == ["controller='panels',action='index'"]

    # the N+1 report names the call site
    err = assertion_error(eng, "SELECT capq_assert_no_repeats(1, %s)", cap)
    assert err is not None and err.pgcode == "P0004"
    detail_lines = [line.strip() for line in err.diag.message_detail.splitlines()]
    assert detail_lines[0].endswith(": " + LAZY_SENSORS)
    assert "call site: controller='panels',action='show'" in detail_lines
    assert not any("traceparent" in line for line in detail_lines)
    assert not any("action='index'" in line for line in detail_lines)
    # nor does the snapshot, which leaves comments out
    with eng.connect() as conn:
        snapshot = conn.exec_driver_sql("SELECT capq_snapshot(%s)", (cap,)).scalar()
    assert "controller=" not in snapshot
    assert snapshot.count(LAZY_SENSORS) == PANELS

