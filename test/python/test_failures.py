"""Failed statements are entries, from the drivers' side (issue 10).

Each failure class -- planning (SELECT 1/0, folded by the planner), analysis
(a missing table), parse (a syntax error: kind 'invalid'), refused in an
aborted transaction (25P02), and while running (division by a column that
is 0) -- is captured in order with its SQLSTATE and message, sent through
psycopg2 (simple protocol: parameters inlined) and psycopg 3 (extended
protocol: Parse/Bind/Execute with server-side parameters).  A psycopg2
multi-statement string whose second statement fails gives its own span.
The snapshot shows the same "-- ERROR:" lines from both drivers.
"""
import psycopg
import psycopg2
import pytest

from capq_helpers import capture, norm, pg_env

# what the application sends, and what the capture must say, in order
EXPECTED = [
    ("select", "SELECT 1/0", "22012"),
    ("select", "SELECT * FROM capq_fail_missing", "42P01"),
    ("invalid", "SELEC 1", "42601"),
    ("transaction", "BEGIN", None),
    ("select", "SELECT d FROM capq_fail_py WHERE id = $1", None),
    ("select", "SELECT 1/0", "22012"),
    ("select", "SELECT 2", "25P02"),
    ("transaction", "ROLLBACK", None),
    ("select", "SELECT id / d FROM capq_fail_py WHERE id = $1", "22012"),
]


@pytest.fixture
def fail_table(conn):
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS capq_fail_py (id int PRIMARY KEY, d int)")
        cur.execute("TRUNCATE capq_fail_py")
        cur.execute("INSERT INTO capq_fail_py VALUES (1, 0), (2, 1)")
    yield "capq_fail_py"
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS capq_fail_py")


def entries_of(cur, cap):
    cur.execute("SELECT kind, query, error, error_message FROM capq_queries(%s) ORDER BY seq",
                (cap,))
    return cur.fetchall()


def as_expected(entries, literal):
    """(kind, query with inlined values as $1 where the test bound them, error)"""
    out = []
    for kind, query, error, message in entries:
        assert (error is None) == (message is None), (query, error, message)
        out.append((kind, norm(query).replace("WHERE id = %s" % literal, "WHERE id = $1"), error))
    return out


def send_failures(execute, errors_of, rollback_sql="ROLLBACK"):
    """Send the EXPECTED workload through execute(sql, params); returns the
    SQLSTATEs the driver reported."""
    codes = []
    for sql, params in [("SELECT 1/0", None),
                        ("SELECT * FROM capq_fail_missing", None),
                        ("SELEC 1", None)]:
        codes.append(errors_of(lambda: execute(sql, params)))
    execute("BEGIN", None)
    execute("SELECT d FROM capq_fail_py WHERE id = %s", (1,))
    codes.append(errors_of(lambda: execute("SELECT 1/0", None)))
    codes.append(errors_of(lambda: execute("SELECT 2", None)))
    execute(rollback_sql, None)
    codes.append(errors_of(lambda: execute("SELECT id / d FROM capq_fail_py WHERE id = %s", (1,))))
    return codes


def test_psycopg2_failures_in_order(conn, fail_table):
    with conn.cursor() as cur:
        def errors_of(action):
            with pytest.raises(psycopg2.Error) as excinfo:
                action()
            return excinfo.value.pgcode

        with capture(cur) as cap:
            codes = send_failures(cur.execute, errors_of)
        assert codes == ["22012", "42P01", "42601", "22012", "25P02", "22012"]
        entries = entries_of(cur, cap)
    assert as_expected(entries, "1") == EXPECTED
    assert entries[2][3].startswith('syntax error at or near "SELEC"')
    assert entries[6][3].startswith("current transaction is aborted")


def test_psycopg2_multi_statement_string(conn):
    # psycopg2 sends the three statements as one simple-protocol string; the
    # second fails at planning, the third never runs
    with conn.cursor() as cur:
        with capture(cur) as cap:
            with pytest.raises(psycopg2.Error) as excinfo:
                cur.execute("SELECT 1 AS first; SELECT 1/0 AS second; SELECT 3 AS never")
            assert excinfo.value.pgcode == "22012"
            with pytest.raises(psycopg2.Error) as excinfo:
                cur.execute("SELECT 4 AS first; SELECT * FROM capq_fail_missing; SELECT 5")
            assert excinfo.value.pgcode == "42P01"
            cur.execute("SELECT capq_count('error'), capq_count()")
            counts = cur.fetchone()
        entries = entries_of(cur, cap)
    assert [(k, q, e) for k, q, e, _ in entries] == [
        ("select", "SELECT 1 AS first", None),
        ("select", "SELECT 1/0 AS second", "22012"),
        ("select", "SELECT 4 AS first", None),
        ("select", "SELECT * FROM capq_fail_missing", "42P01"),
    ]
    assert counts == (2, 4)


def test_psycopg3_extended_protocol_failures_in_order(fail_table):
    env = pg_env()
    with psycopg.connect(host=env["host"], port=env["port"], user=env["user"],
                         dbname=env["dbname"], autocommit=True) as conn:
        with conn.cursor() as cur:
            def errors_of(action):
                with pytest.raises(psycopg.Error) as excinfo:
                    action()
                return excinfo.value.sqlstate

            cur.execute("SELECT capq_begin()")
            (cap,) = cur.fetchone()
            codes = send_failures(cur.execute, errors_of)
            cur.execute("SELECT capq_end()")
            assert codes == ["22012", "42P01", "42601", "22012", "25P02", "22012"]
            entries = entries_of(cur, cap)
            cur.execute("SELECT capq_snapshot(%s)", (cap,))
            (snapshot,) = cur.fetchone()
    assert as_expected(entries, "1") == EXPECTED
    assert [line for line in snapshot.splitlines() if line.startswith("-- ERROR:")] == [
        "-- ERROR: " + e for _, _, e in EXPECTED if e]


def test_snapshot_error_lines_same_from_both_drivers(conn, fail_table):
    # psycopg2 inlines the 1 that psycopg 3 binds: the snapshots are equal
    with conn.cursor() as cur:
        def errors_of(action):
            with pytest.raises(psycopg2.Error):
                action()

        with capture(cur) as cap2:
            send_failures(cur.execute, errors_of)
        cur.execute("SELECT capq_snapshot(%s)", (cap2,))
        (snapshot2,) = cur.fetchone()
    env = pg_env()
    with psycopg.connect(host=env["host"], port=env["port"], user=env["user"],
                         dbname=env["dbname"], autocommit=True) as conn3:
        with conn3.cursor() as cur:
            def errors_of3(action):
                with pytest.raises(psycopg.Error):
                    action()

            cur.execute("SELECT capq_begin()")
            (cap3,) = cur.fetchone()
            send_failures(cur.execute, errors_of3)
            cur.execute("SELECT capq_end()")
            cur.execute("SELECT capq_snapshot(%s)", (cap3,))
            (snapshot3,) = cur.fetchone()
    assert "-- ERROR: 25P02" in snapshot2
    assert snapshot2 == snapshot3
