"""The capquery fixture on every kind of connection a Python suite holds:
psycopg2, psycopg 3, SQLAlchemy 1.4 (Connection, Session, Engine) and an
application pool joined by label.  Each runs the same N+1 workload (one
SELECT per panel) against the harness's server and checks the counts, and
that a failed assertion raises CapqueryAssertionError whose text is exactly
the server's message, DETAIL and HINT.
"""
import psycopg
import psycopg2
import psycopg2.pool
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from capquery_pytest import CapqueryAssertionError

PANELS = 4


@pytest.fixture(scope="module")
def panels(capquery_server):
    conn = capquery_server.connect()
    with conn.cursor() as cur:
        cur.execute("""
            DROP TABLE IF EXISTS plugin_sensors, plugin_panels;
            CREATE TABLE plugin_panels (id int PRIMARY KEY);
            CREATE TABLE plugin_sensors (id serial PRIMARY KEY, panel_id int REFERENCES plugin_panels);
            INSERT INTO plugin_panels SELECT generate_series(1, %s);
            INSERT INTO plugin_sensors (panel_id) SELECT p FROM generate_series(1, %s) p, generate_series(1, 3);
        """, (PANELS, PANELS))
    yield list(range(1, PANELS + 1))
    with conn.cursor() as cur:
        cur.execute("DROP TABLE plugin_sensors, plugin_panels")
    conn.close()


def n_plus_one(cur, panels):
    """The lazy pattern: one SELECT per panel (psycopg-style cursor)."""
    for p in panels:
        cur.execute("SELECT id FROM plugin_sensors WHERE panel_id = %s", (p,))
        cur.fetchall()


def server_error(conn, sql):
    """What the driver itself reports for a failing capq_* call."""
    with pytest.raises(psycopg2.Error) as exc:
        with conn.cursor() as cur:
            cur.execute(sql)
    d = exc.value.diag
    return d.sqlstate, d.message_primary, d.message_detail, d.message_hint


def test_psycopg2_counts_and_error_text(capquery, capquery_server, panels):
    conn = capquery_server.connect()
    with capquery.capture(conn) as cap:
        with conn.cursor() as cur:
            n_plus_one(cur, panels)
    cap.assert_count(PANELS)
    cap.assert_count(PANELS, kind="select")
    cap.assert_max(PANELS)
    assert cap.count() == PANELS == cap.statements
    assert [q["query"] for q in cap.queries()][0] == "SELECT id FROM plugin_sensors WHERE panel_id = 1"

    with pytest.raises(CapqueryAssertionError) as exc:
        cap.assert_max(1)
    sqlstate, message, detail, hint = server_error(conn, "SELECT capq_assert_max(1)")
    err = exc.value
    assert (err.sqlstate, err.message, err.detail, err.hint) == (sqlstate, message, detail, hint)
    assert str(err) == "%s\nDETAIL:  %s\nHINT:  %s" % (message, detail, hint)
    assert "1. [phase 1] SELECT id FROM plugin_sensors WHERE panel_id = 1" in str(err)
    assert "likely N+1" in str(err)
    conn.close()


def test_psycopg3_connection(capquery, capquery_server, panels):
    with psycopg.connect(**capquery_server.params()) as conn:   # not autocommit
        with capquery.capture(conn) as cap:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with conn.cursor() as cur:
                n_plus_one(cur, panels)
            conn.commit()
        cap.assert_count(PANELS + 2)                 # BEGIN ... COMMIT, sent by psycopg
        cap.assert_count(2, kind="transaction")
        with pytest.raises(CapqueryAssertionError, match=r"^statement shape \w+ ran 4 times"):
            cap.assert_no_repeats()


def test_assertion_inside_a_transaction_keeps_it_usable(capquery, capquery_server, panels):
    conn = capquery_server.connect(autocommit=False)
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE scratch (x int)")          # opens the transaction
        with capquery.capture(conn) as cap:
            cur.execute("INSERT INTO scratch VALUES (1)")
        with pytest.raises(CapqueryAssertionError):
            cap.assert_count(5)
        cur.execute("SELECT count(*) FROM scratch")                # not aborted
        assert cur.fetchone()[0] == 1
    conn.rollback()
    conn.close()


def test_capture_opens_no_transaction(capquery, capquery_server):
    conn = capquery_server.connect(autocommit=False)
    with capquery.capture(conn) as cap:
        assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        conn.commit()
    assert [q["kind"] for q in cap.queries()] == ["transaction", "select", "transaction"]
    conn.close()


def test_phases_and_same_count(capquery, capquery_server, panels):
    conn = capquery_server.connect()
    cur = conn.cursor()
    with capquery.capture(conn) as small:
        small.phase("read")
        n_plus_one(cur, panels[:2])
    with capquery.capture(conn) as large:
        large.phase("read")
        n_plus_one(cur, panels)
    assert [q["phase_name"] for q in large.queries()] == ["read"] * PANELS
    with pytest.raises(CapqueryAssertionError) as exc:
        small.assert_same_count(large)
    assert "plugin_sensors" in exc.value.detail

    # eager: one query whatever the data size
    with capquery.capture(conn) as a:
        cur.execute("SELECT * FROM plugin_sensors WHERE panel_id = ANY(%s)", (panels[:2],))
    with capquery.capture(conn) as b:
        cur.execute("SELECT * FROM plugin_sensors WHERE panel_id = ANY(%s)", (panels,))
    a.assert_same_count(b)
    b.assert_no_repeats()

    # capq_assert_count reads the connection's latest capture: an older one refuses
    with pytest.raises(RuntimeError, match="no longer"):
        a.assert_count(1)
    conn.close()


def test_server_errors_other_than_assertions_pass_through(capquery, capquery_server):
    conn = capquery_server.connect()
    with capquery.capture(conn):
        with pytest.raises(psycopg2.Error) as exc:
            capquery.capture(conn).begin()                      # a second active capture
    assert exc.value.pgcode == "55000"
    assert not isinstance(exc.value, AssertionError)
    conn.close()


@pytest.fixture(scope="module")
def engine(capquery_server):
    eng = create_engine(capquery_server.sqlalchemy_url())
    yield eng
    eng.dispose()


def test_sqlalchemy_connection_and_session(capquery, engine, panels):
    with engine.connect() as conn:
        with capquery.capture(conn) as cap:
            for p in panels:
                conn.execute(text("SELECT id FROM plugin_sensors WHERE panel_id = :p"), {"p": p}).all()
        cap.assert_count(PANELS, kind="select")

    with Session(engine) as session:
        with capquery.capture(session) as cap:
            for p in panels:
                session.execute(text("SELECT id FROM plugin_sensors WHERE panel_id = :p"), {"p": p}).all()
        cap.assert_count(1, kind="transaction")              # the BEGIN psycopg2 sent
        cap.assert_count(PANELS, kind="select")
        with pytest.raises(CapqueryAssertionError, match=r"^expected at most 1 select statement"):
            cap.assert_max(1, kind="select")


def test_sqlalchemy_engine_pool_joined_by_label(capquery, capquery_server, panels):
    """An application's own engine, whose connections join by label."""
    label = capquery.label
    app = create_engine(capquery_server.sqlalchemy_url(session=label), pool_size=3)
    try:
        with capquery.capture(app, label=label) as cap:
            for p in panels:
                with app.connect() as conn:
                    conn.execute(text("SELECT id FROM plugin_sensors WHERE panel_id = :p"), {"p": p}).all()
        cap.assert_count(PANELS, kind="select")
        assert {q["pid"] for q in cap.queries()} - {None}, "statements carry their backends"
    finally:
        capquery._close()
        app.dispose()


def test_psycopg2_pool_joined_by_label(capquery, capquery_server, panels):
    """A plain psycopg2 pool: several backends, one capture."""
    label = capquery.label
    pool = psycopg2.pool.ThreadedConnectionPool(2, 2, **capquery_server.params(session=label))
    owner = capquery_server.connect()
    try:
        with capquery.capture(owner, label=label) as cap:
            held = [pool.getconn(), pool.getconn()]
            for i, p in enumerate(panels):
                c = held[i % 2]
                c.autocommit = True
                n_plus_one(c.cursor(), [p])
            for c in held:
                pool.putconn(c)
        cap.assert_count(PANELS)
        assert len({q["pid"] for q in cap.queries()}) == 2
        with pytest.raises(CapqueryAssertionError) as exc:
            cap.assert_no_repeats()
        assert "ran 4 times" in exc.value.message
    finally:
        pool.closeall()
        owner.close()


def test_engine_without_label_is_refused(capquery, engine):
    with pytest.raises(ValueError, match="label"):
        capquery.capture(engine)


def test_workload_error_is_reported_and_capture_ended(capquery, capquery_server):
    """A workload that fails inside the capture: its error propagates (not an
    error of ending the capture), the capture ends with the ROLLBACK that
    capq_end() needs, recorded, and the connection is usable again."""
    conn = capquery_server.connect(autocommit=False)
    with pytest.raises(psycopg2.errors.DivisionByZero):
        with capquery.capture(conn) as cap:
            conn.cursor().execute("SELECT 1/0")
    assert not cap.active
    queries = [q["query"] for q in cap.queries()]
    assert queries[0] == "BEGIN" and queries[-1] == "ROLLBACK", queries
    assert cap.statements == len(queries)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    conn.close()


def test_workload_error_wins_over_a_broken_connection(capquery, capquery_server):
    """The block's exception is reported even when the connection it broke
    can no longer end the capture."""
    conn = capquery_server.connect()
    with pytest.raises(ZeroDivisionError):
        with capquery.capture(conn):
            conn.close()
            1 / 0
