"""The capture lifecycle and its errors, as a Python test suite meets them
through psycopg2 (SQLSTATEs are checked, not just "an error")."""
import psycopg2
import pytest

from capq_helpers import capture, norm, sqlstate_of


def one(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


def expect_error(cur, sql, sqlstate, args=None):
    with pytest.raises(psycopg2.Error) as excinfo:
        cur.execute(sql, args)
    assert sqlstate_of(excinfo) == sqlstate, (sql, excinfo.value.pgerror)
    if not cur.connection.autocommit:
        cur.connection.rollback()
    return excinfo.value


def test_reading_without_a_capture_is_55000_with_a_hint(conn):
    cur = conn.cursor()
    for sql in ("SELECT capq_count()", "SELECT capq_count('select')",
                "SELECT * FROM capq_queries()", "SELECT capq_assert_count(0)",
                "SELECT capq_assert_max(0)"):
        err = expect_error(cur, sql, "55000")
        assert "capq_begin" in (err.diag.message_hint or ""), (sql, err.diag.message_hint)
    expect_error(cur, "SELECT capq_end()", "55000")
    expect_error(cur, "SELECT capq_phase('x')", "55000")


def test_second_begin_is_55000_and_keeps_the_first(conn):
    cur = conn.cursor()
    with capture(cur, "first") as cap:
        cur.execute("SELECT 1")
        expect_error(cur, "SELECT capq_begin('second')", "55000")
        cur.execute("SELECT 2")
        assert one(cur, "SELECT capq_count()") == 2
        assert one(cur, "SELECT capq_end()") == 2
    assert one(cur, "SELECT label FROM capq_sessions() WHERE capture = %s", (cap,)) == "first"


@pytest.mark.parametrize("sql", [
    "SELECT capq_count('selects')",
    "SELECT capq_count('')",
    "SELECT capq_assert_count(1, 'inserts')",
    "SELECT capq_assert_max(1, 'updates')",
    "SELECT capq_assert_count(-1)",
    "SELECT capq_assert_max(-1)",
    "SELECT capq_assert_count(-5, 'select')",
])
def test_bad_arguments_are_22023(conn, sql):
    cur = conn.cursor()
    with capture(cur):
        cur.execute("SELECT 1")
        expect_error(cur, sql, "22023")
        # The rejected call neither ended the capture nor was captured.
        assert one(cur, "SELECT capq_count()") == 1


@pytest.mark.parametrize("sql", [
    "SELECT capq_begin(scope => 'galaxy')",
    "SELECT capq_begin(plans => 'sometimes')",
    "SELECT capq_begin('x', 'cluster')",
])
def test_bad_begin_is_22023_and_starts_nothing(conn, sql):
    cur = conn.cursor()
    expect_error(cur, sql, "22023")
    expect_error(cur, "SELECT capq_end()", "55000")


def test_capq_calls_are_not_captured(conn):
    cur = conn.cursor()
    with capture(cur):
        for i in range(3):
            cur.execute("SELECT %s::int + 1", (i,))
            assert one(cur, "SELECT capq_count()") == i + 1
            cur.execute("SELECT * FROM capq_queries()")
            cur.execute("SELECT * FROM capq_sessions()")
            cur.execute("SELECT capq_assert_max(10)")
        cur.execute("SELECT query FROM capq_queries()")
        assert [norm(q) for (q,) in cur.fetchall()] == [
            "SELECT 0::int + 1", "SELECT 1::int + 1", "SELECT 2::int + 1"]


def test_multi_statement_query_string(conn):
    """psycopg2 sends this as one simple-protocol message."""
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE api_t (n int)")
    with capture(cur):
        cur.execute("INSERT INTO api_t VALUES (1), (2);\n"
                    "UPDATE api_t SET n = n * 10;  SELECT n FROM api_t ORDER BY n;"
                    " DELETE FROM api_t WHERE n = 10")
        cur.execute("SELECT seq, kind, query, rows FROM capq_queries()")
        entries = [(s, k, norm(q), r) for s, k, q, r in cur.fetchall()]
    assert entries == [
        (1, "insert", "INSERT INTO api_t VALUES (1), (2)", 2),
        (2, "update", "UPDATE api_t SET n = n * 10", 2),
        (3, "select", "SELECT n FROM api_t ORDER BY n", 2),
        (4, "delete", "DELETE FROM api_t WHERE n = 10", 1),
    ]


def test_rollback_keeps_statements_and_capture(new_conn):
    conn = new_conn(autocommit=False)
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE api_r (n int) ON COMMIT PRESERVE ROWS")
    conn.commit()
    cap = one(cur, "SELECT capq_begin('rollback')")
    conn.commit()
    cur.execute("INSERT INTO api_r VALUES (1)")
    cur.execute("INSERT INTO api_r VALUES (2)")
    conn.rollback()
    assert one(cur, "SELECT count(*) FROM api_r") == 0      # really rolled back
    conn.rollback()
    cur.execute("SELECT kind, query FROM capq_queries()")
    entries = [(k, norm(q)) for k, q in cur.fetchall()]
    conn.rollback()
    assert entries[:5] == [
        ("transaction", "COMMIT"),          # the commit of capq_begin's transaction
        ("transaction", "BEGIN"),
        ("insert", "INSERT INTO api_r VALUES (1)"),
        ("insert", "INSERT INTO api_r VALUES (2)"),
        ("transaction", "ROLLBACK"),
    ], entries
    assert one(cur, "SELECT state FROM capq_sessions() WHERE capture = %s", (cap,)) == "active"
    conn.rollback()
    cur.execute("SELECT capq_end()")
    conn.commit()


def test_phases_number_and_name(conn):
    cur = conn.cursor()
    with capture(cur):
        cur.execute("SELECT 'setup'")
        assert one(cur, "SELECT capq_phase('act')") == 2
        cur.execute("SELECT 'act'")
        cur.execute("SELECT 'act again'")
        assert one(cur, "SELECT capq_phase()") == 3
        cur.execute("SELECT 'verify'")
        cur.execute("SELECT seq, phase, phase_name, query FROM capq_queries()")
        rows = cur.fetchall()
    assert [(s, p, n) for s, p, n, q in rows][1:] == [(2, 2, "act"), (3, 2, "act"), (4, 3, None)]
    assert [(s, p) for s, p, n, q in rows][:1] == [(1, 1)]
    assert [norm(q) for *_, q in rows] == [
        "SELECT 'setup'", "SELECT 'act'", "SELECT 'act again'", "SELECT 'verify'"]


def test_capture_ids_are_unique_across_backends(conn, new_conn):
    other = new_conn().cursor()
    cur = conn.cursor()
    ids = []
    for c in (cur, other, cur, other):
        with capture(c) as cap:
            c.execute("SELECT 1")
            ids.append(cap)
    assert len(set(ids)) == len(ids)
    # Each backend reads its own most recently ended capture ...
    cur.execute("SELECT DISTINCT capture FROM capq_queries()")
    assert cur.fetchall() == [(ids[2],)]
    other.execute("SELECT DISTINCT capture FROM capq_queries()")
    assert other.fetchall() == [(ids[3],)]
    # ... and any capture by id.
    assert one(cur, "SELECT capq_count(capture => %s)", (ids[1],)) == 1


def test_failing_statements_leave_the_capture_exact(new_conn):
    """Statements that fail while running (in and out of a transaction block,
    caught by a savepoint) must not disturb what is captured after them: the
    open-statement bookkeeping is unwound, numbering stays contiguous."""
    conn = new_conn(autocommit=False)
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE api_z (n int) ON COMMIT PRESERVE ROWS")
    cur.execute("INSERT INTO api_z VALUES (0)")
    conn.commit()
    conn.autocommit = True
    with capture(cur):
        cur.execute("SELECT 'before'")
        with pytest.raises(psycopg2.errors.DivisionByZero):
            cur.execute("SELECT 1 / n FROM api_z")      # fails at run time
        cur.execute("BEGIN")
        cur.execute("SAVEPOINT s")
        with pytest.raises(psycopg2.errors.DivisionByZero):
            cur.execute("UPDATE api_z SET n = 1 / n")
        cur.execute("ROLLBACK TO SAVEPOINT s")
        cur.execute("SELECT 'inside'")
        cur.execute("COMMIT")
        cur.execute("SELECT 'after'")
        cur.execute("SELECT seq, kind, query FROM capq_queries()")
        entries = cur.fetchall()
    assert [s for s, _, _ in entries] == list(range(1, len(entries) + 1))
    ok = [(k, norm(q)) for _, k, q in entries if "/ n" not in q]
    assert ok == [("select", "SELECT 'before'"), ("transaction", "BEGIN"),
                  ("transaction", "SAVEPOINT s"), ("transaction", "ROLLBACK TO SAVEPOINT s"),
                  ("select", "SELECT 'inside'"), ("transaction", "COMMIT"),
                  ("select", "SELECT 'after'")], entries
    # Each failed statement appears at most once, where it ran.
    failed = [(k, norm(q)) for _, k, q in entries if "/ n" in q]
    assert failed in ([], [("select", "SELECT 1 / n FROM api_z")],
                      [("select", "SELECT 1 / n FROM api_z"), ("update", "UPDATE api_z SET n = 1 / n")]), entries
