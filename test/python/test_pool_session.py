"""An application's connection pool joins a capture by label.

The application here is SQLAlchemy 1.4 ORM code (AlarmPanel/Sensor, lazy
loading) running from several threads over one engine whose pool holds 3
psycopg2 connections.  The pool's connections carry
options='-c capquery.session=<label>' and nothing else: the application
code does not know it is being captured.  The test's own connection (a
separate backend) calls capq_begin(label => <label>) with the default scope
'backend' -- joining by label works whatever the capture's scope -- and then
asserts exactly what the pool's backends executed.

Each unit of work opens a Session, loads the first n panels and touches
each panel's sensors: psycopg2 sends BEGIN, 1 SELECT for the panels, n
lazy SELECTs for the sensors (the N+1), and ROLLBACK when the Session
closes.
"""
import re
import threading
import uuid
from collections import Counter, defaultdict

import psycopg2
import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.orm import Session, selectinload

from capq_helpers import SENSOR_KINDS, SENSORS_PER_PANEL, norm, sqlalchemy_url
from models import AlarmPanel

POOL_SIZE = 3
# thread k runs ITERATIONS units of work, each loading PANELS_OF[k] panels
PANELS_OF = (1, 2, 3, 4, 5, 3)
ITERATIONS = 4
TIMEOUT = 60
RENDEZVOUS = "SELECT 'rendezvous'"


def pool_engine(label):
    """An engine whose every connection joins the capture named label."""
    return create_engine(sqlalchemy_url(), pool_size=POOL_SIZE, max_overflow=0,
                         pool_timeout=TIMEOUT,
                         connect_args={"options": "-c capquery.session=%s" % label})


def warm_pool(engine):
    """Open all POOL_SIZE connections at once (the dialect's first-connect
    queries run here, before any capture), return their backend pids."""
    conns = [engine.connect() for _ in range(POOL_SIZE)]
    try:
        pids = {c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in conns}
    finally:
        for c in conns:
            c.close()
    assert len(pids) == POOL_SIZE
    return pids


def lazy_unit(engine, n):
    """One request of the application: n panels, then each one's sensors
    through the lazy relationship (1 + n SELECTs)."""
    with Session(engine) as session:
        panels = session.execute(
            select(AlarmPanel).order_by(AlarmPanel.id).limit(n)).scalars().all()
        return {p.id: [s.kind for s in p.sensors] for p in panels}


def eager_unit(engine, n):
    """The same request with selectinload: 2 SELECTs whatever n is."""
    with Session(engine) as session:
        panels = session.execute(
            select(AlarmPanel).order_by(AlarmPanel.id).limit(n)
            .options(selectinload(AlarmPanel.sensors))).scalars().all()
        return {p.id: [s.kind for s in p.sensors] for p in panels}


class ClientCounter:
    """Statements each thread sent through the engine's cursors, counted on
    the client side (BEGIN/ROLLBACK are psycopg2's own and not seen here)."""

    def __init__(self, engine):
        self.lock = threading.Lock()
        self.by_thread = Counter()

        @event.listens_for(engine, "before_cursor_execute")
        def count(conn, cursor, statement, parameters, context, executemany):
            with self.lock:
                self.by_thread[threading.current_thread().name] += 1


def run_threads(engine, unit, panels_of, iterations, rendezvous=3):
    """Run iterations units per thread, thread k loading panels_of[k] panels.

    The first unit of the first `rendezvous` threads waits on a barrier while
    holding its connection, so that at least that many pool connections are
    busy at the same time.  Returns {thread name: [unit results]}."""
    barrier = threading.Barrier(rendezvous)
    results = {}
    errors = []

    def body(k):
        out = []
        try:
            for i in range(iterations):
                if i == 0 and k < rendezvous:
                    with Session(engine) as session:
                        session.execute(text(RENDEZVOUS)).all()
                        barrier.wait(TIMEOUT)
                out.append(unit(engine, panels_of[k]))
        except BaseException as e:      # noqa: BLE001 - re-raised below
            errors.append((k, e))
            barrier.abort()
        results["t%d" % k] = out

    threads = [threading.Thread(target=body, args=(k,), name="t%d" % k, daemon=True)
               for k in range(len(panels_of))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
        assert not t.is_alive(), "a worker thread hung"
    if errors:
        k, e = errors[0]
        raise AssertionError("thread %d failed: %r" % (k, e)) from e
    return results


@pytest.fixture
def label():
    return "pool-%s" % uuid.uuid4().hex[:12]


@pytest.fixture
def pool(label):
    eng = pool_engine(label)
    yield eng
    eng.dispose()


def own_pid(cur):
    cur.execute("SELECT pg_backend_pid()")
    return cur.fetchone()[0]


def test_pool_threads_join_by_label_exact_counts(alarm_db, conn, pool, label):
    pool_pids = warm_pool(pool)
    counter = ClientCounter(pool)
    cur = conn.cursor()
    my_pid = own_pid(cur)
    assert my_pid not in pool_pids

    cur.execute("SELECT capq_begin(label => %s)", (label,))
    (cap,) = cur.fetchone()
    try:
        results = run_threads(pool, lazy_unit, PANELS_OF, ITERATIONS)
        cur.execute("SELECT capq_count(), capq_count('select'), capq_count('transaction')")
        total, selects, transactions = cur.fetchone()
        cur.execute("SELECT seq, pid, username, database, kind, query, params, rows "
                    "FROM capq_queries() ORDER BY seq")
        entries = cur.fetchall()
        cur.execute("SELECT label, owner_pid, scope, state, statements, lost "
                    "FROM capq_sessions() WHERE capture = %s", (cap,))
        session_row = cur.fetchone()
    finally:
        cur.execute("SELECT capq_end()")
        (ended,) = cur.fetchone()

    # The application really did its work, in every thread.
    for k, n in enumerate(PANELS_OF):
        out = results["t%d" % k]
        assert len(out) == ITERATIONS
        for loaded in out:
            assert sorted(loaded) == alarm_db[:n]
            assert all(kinds == list(SENSOR_KINDS[:SENSORS_PER_PANEL])
                       for kinds in loaded.values())

    # Exact counts.  Per thread: the rendezvous unit (threads 0..2) is 1
    # SELECT, each lazy unit 1 + n; the client saw the same per thread, and
    # the server's sum is exactly the clients' sum.
    units = len(PANELS_OF) * ITERATIONS + 3
    expected_per_thread = {"t%d" % k: ITERATIONS * (1 + n) + (1 if k < 3 else 0)
                           for k, n in enumerate(PANELS_OF)}
    assert dict(counter.by_thread) == expected_per_thread
    assert selects == sum(expected_per_thread.values())
    assert transactions == 2 * units          # BEGIN and ROLLBACK of each Session
    assert total == selects + transactions == ended == len(entries)
    assert session_row == (label, my_pid, "backend", "active", total, 0)

    # Every entry is the pool's: its backends, never the test's own; the
    # pool kept its 3 connections and had them busy at once.
    pids = {e[1] for e in entries}
    assert my_pid not in pids
    assert pids == pool_pids
    assert {(e[2], e[3]) for e in entries} == {("postgres", conn.get_dsn_parameters()["dbname"])}
    assert [e[0] for e in entries] == list(range(1, total + 1))

    # Per backend, in seq order, the statements form whole units of work:
    # BEGIN, the panels SELECT (LIMIT n inlined), n lazy loads of the first
    # n panels in order, ROLLBACK.  Two threads never interleave on one
    # connection, and every unit is there exactly once.
    by_pid = defaultdict(list)
    for e in entries:
        by_pid[e[1]].append(e)
    seen_units = Counter()
    for pid, rows in by_pid.items():
        i = 0
        while i < len(rows):
            assert (rows[i][4], norm(rows[i][5])) == ("transaction", "BEGIN"), rows[i]
            head = norm(rows[i + 1][5])
            assert rows[i + 1][4] == "select", rows[i + 1]
            if head == RENDEZVOUS:
                n, lazy = 0, []
                assert rows[i + 1][7] == 1
            else:
                assert "FROM alarm_panels" in head, head
                m = re.search(r"LIMIT (\d+)", head)
                assert m, head
                n = int(m.group(1))
                assert rows[i + 1][7] == n
                lazy = rows[i + 2:i + 2 + n]
                assert len(lazy) == n
                for panel_id, e in zip(alarm_db[:n], lazy):
                    q = norm(e[5])
                    assert e[4] == "select" and "FROM sensors" in q, e
                    assert re.search(r"\b%d = sensors\.panel_id|sensors\.panel_id = %d\b"
                                     % (panel_id, panel_id), q), q
                    assert e[7] == SENSORS_PER_PANEL
            end = rows[i + 2 + len(lazy)]
            assert (end[4], norm(end[5])) == ("transaction", "ROLLBACK"), end
            seen_units[n] += 1
            i += 3 + len(lazy)
    assert seen_units == Counter({0: 3, **Counter(n for n in PANELS_OF for _ in range(ITERATIONS))})


def test_pool_n_plus_one_is_reported(alarm_db, conn, pool, label):
    warm_pool(pool)
    cur = conn.cursor()
    cur.execute("SELECT capq_begin(label => %s)", (label,))
    try:
        cur.execute("SELECT capq_phase('lazy')")
        run_threads(pool, lazy_unit, PANELS_OF, ITERATIONS, rendezvous=1)
        cur.execute("SELECT capq_phase('eager')")
        run_threads(pool, eager_unit, PANELS_OF, ITERATIONS, rendezvous=1)

        lazy_loads = ITERATIONS * sum(PANELS_OF)
        units = ITERATIONS * len(PANELS_OF)
        # the pool's SELECTs: 1 rendezvous + lazy units + 2 per eager unit, x2 phases of rendezvous
        cur.execute("SELECT capq_count('select')")
        assert cur.fetchone()[0] == 2 + units + lazy_loads + 2 * units

        # One request's worth of SELECTs would be at most 2 per unit: the
        # lazy phase blows that budget and the assertion says why.
        with pytest.raises(psycopg2.Error) as excinfo:
            cur.execute("SELECT capq_assert_max(%s, 'select')", (2 + 2 * units + units,))
        err = excinfo.value
        assert err.pgcode == "P0004"
        assert "captured %d" % (2 + units + lazy_loads + 2 * units) in err.diag.message_primary
        assert "Captured statements:" in err.diag.message_detail
        assert "FROM sensors" in err.diag.message_detail
        hint = err.diag.message_hint or ""
        assert "N+1" in hint
        first = hint.splitlines()[0]
        assert "repeated %d times in phase 2" % lazy_loads in first, hint
        assert "FROM sensors" in first, hint

        # The summary: the sensors shape executed once per panel loaded in
        # the lazy phase (whatever panel id was inlined), once per unit in
        # the eager phase (selectinload's IN list is one shape).
        cur.execute("SELECT phase, query, kind, executions, rows, relations "
                    "FROM capq_summary() WHERE kind = 'select' ORDER BY phase, executions DESC")
        summary = cur.fetchall()
    finally:
        cur.execute("SELECT capq_end()")

    def shape(phase, table):
        rows = [r for r in summary if r[0] == phase and "FROM %s" % table in norm(r[1])
                and r[5] == [table]]
        assert len(rows) == 1, (phase, table, summary)
        return rows[0]

    sensors_lazy = shape(2, "sensors")
    assert sensors_lazy[3] == lazy_loads
    assert sensors_lazy[4] == lazy_loads * SENSORS_PER_PANEL
    assert shape(2, "alarm_panels")[3] == units
    sensors_eager = shape(3, "sensors")
    assert sensors_eager[3] == units
    assert sensors_eager[4] == ITERATIONS * sum(PANELS_OF) * SENSORS_PER_PANEL
    assert shape(3, "alarm_panels")[3] == units
    assert {r[0] for r in summary} == {2, 3}              # nothing ran in phase 1


def test_capture_end_stops_the_pool_joining(alarm_db, conn, pool, label):
    warm_pool(pool)
    cur = conn.cursor()
    cur.execute("SELECT capq_begin(label => %s)", (label,))
    (cap,) = cur.fetchone()
    lazy_unit(pool, 2)
    cur.execute("SELECT capq_end()")
    assert cur.fetchone()[0] == 5               # BEGIN, 1 + 2 SELECTs, ROLLBACK
    lazy_unit(pool, 2)                          # after the end: not captured
    cur.execute("SELECT capq_count(capture => %s), capq_count('select', %s)", (cap, cap))
    assert cur.fetchone() == (5, 3)

    # the label is free again: a new capture with it is joined just the same
    cur.execute("SELECT capq_begin(label => %s)", (label,))
    (cap2,) = cur.fetchone()
    assert cap2 > cap
    lazy_unit(pool, 1)
    cur.execute("SELECT capq_end()")
    assert cur.fetchone()[0] == 4


def test_label_matching_no_active_capture_records_nothing(alarm_db, conn, label):
    # The pool names a label no capture has; the test's capture has another.
    stray = pool_engine("nobody-" + label)
    try:
        pool_pids = warm_pool(stray)
        cur = conn.cursor()
        cur.execute("SELECT capture, statements FROM capq_sessions() WHERE state = 'active'")
        before = dict(cur.fetchall())
        cur.execute("SELECT capq_begin(label => %s)", (label,))
        (cap,) = cur.fetchone()
        try:
            results = run_threads(stray, lazy_unit, (2, 3, 1), 2)
            assert all(len(r) == 2 for r in results.values())
            cur.execute("SELECT capq_count()")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FROM capq_queries() WHERE pid = ANY(%s)", (list(pool_pids),))
            assert cur.fetchone()[0] == 0
            # no capture anywhere took the pool's statements, and none has
            # that label
            cur.execute("SELECT capture, statements FROM capq_sessions() "
                        "WHERE state = 'active' AND capture <> %s", (cap,))
            assert dict(cur.fetchall()) == before
            cur.execute("SELECT count(*) FROM capq_sessions() WHERE label = %s",
                        ("nobody-" + label,))
            assert cur.fetchone()[0] == 0
        finally:
            cur.execute("SELECT capq_end()")
        assert cur.fetchone()[0] == 0
    finally:
        stray.dispose()


def test_join_by_capture_id_and_by_set(alarm_db, conn, new_conn, label):
    cur = conn.cursor()
    cur.execute("SELECT capq_begin(label => %s)", (label,))
    (cap,) = cur.fetchone()
    try:
        # the id, as text, names the capture as well as its label
        by_id = new_conn(options="-c capquery.session=%d" % cap)
        c1 = by_id.cursor()
        c1.execute("SELECT 'joined by id'")
        # SET at run time joins from the next statement on
        late = new_conn()
        c2 = late.cursor()
        c2.execute("SELECT 'before SET'")
        c2.execute("SET capquery.session = %s", (label,))
        c2.execute("SELECT 'after SET'")
        c2.execute("RESET capquery.session")
        c2.execute("SELECT 'after RESET'")
        cur.execute("SELECT kind, query FROM capq_queries() ORDER BY seq")
        got = [(k, norm(q)) for k, q in cur.fetchall()]
    finally:
        cur.execute("SELECT capq_end()")
    # RESET itself still ran while joined
    assert got == [("select", "SELECT 'joined by id'"),
                   ("select", "SELECT 'after SET'"),
                   ("utility", "RESET capquery.session")]
