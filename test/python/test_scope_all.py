"""Scopes 'all' and 'database' with backends in two databases.

The test database (PGDATABASE, with the extension) and a second database
created here (capq_other_<random>, dropped at the end).  The library is
preloaded, so backends of the second database are captured without the
extension being created there.  Other backends of the cluster (none while
the suite runs, but a scope 'all' capture would take them) are filtered out
by pid; for the backends of the test everything is exact.
"""
import uuid

import psycopg2
import pytest

from capq_helpers import connect, norm, pg_env


@pytest.fixture(scope="module")
def other_db():
    name = "capq_other_%s" % uuid.uuid4().hex[:8]
    admin = connect()
    admin.cursor().execute("CREATE DATABASE %s" % name)
    try:
        yield name
    finally:
        admin.cursor().execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        admin.close()


@pytest.fixture
def new_conn_to():
    """new_conn_to(dbname=None, **kw): a new autocommit backend of dbname
    (default: the test database), closed after the test."""
    opened = []

    def factory(dbname=None, **kwargs):
        env = pg_env()
        if dbname:
            env["dbname"] = dbname
        c = psycopg2.connect(**env, **kwargs)
        c.autocommit = True
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()


def run(conn, *statements):
    cur = conn.cursor()
    for sql in statements:
        cur.execute(sql)


def captured(cur, pids):
    cur.execute("SELECT pid, database, username, kind, query, relations FROM capq_queries() "
                "WHERE pid = ANY(%s) ORDER BY seq", (list(pids),))
    return [(pid, db, user, kind, norm(q), rel) for pid, db, user, kind, q, rel in cur.fetchall()]


MAIN_WORK = ("CREATE TEMP TABLE scope_t (id int)",
             "INSERT INTO scope_t VALUES (1), (2)",
             "SELECT count(*) FROM scope_t")
OTHER_WORK = ("CREATE TEMP TABLE scope_o (id int)",
              "INSERT INTO scope_o VALUES (1)",
              "UPDATE scope_o SET id = 2",
              "SELECT count(*) FROM scope_o")


def test_scope_all_captures_both_databases(conn, new_conn_to, other_db):
    main_db = pg_env()["dbname"]
    user = pg_env()["user"]
    a = new_conn_to()                        # a backend of the test database
    b = new_conn_to(dbname=other_db)         # one of the other database
    pid_a, pid_b = a.get_backend_pid(), b.get_backend_pid()
    cur = conn.cursor()

    cur.execute("SELECT capq_begin(label => %s, scope => 'all')",
                ("all-%s" % uuid.uuid4().hex[:8],))
    (cap,) = cur.fetchone()
    try:
        run(a, *MAIN_WORK)
        run(b, *OTHER_WORK)
        run(a, "SELECT 'a again'")
        run(conn, "SELECT 'the owner itself'")
        got = captured(cur, [pid_a, pid_b, conn.get_backend_pid()])
        cur.execute("SELECT scope, state, lost FROM capq_sessions() WHERE capture = %s", (cap,))
        assert cur.fetchone() == ("all", "active", 0)
    finally:
        cur.execute("SELECT capq_end()")

    expect = ([(pid_a, main_db, user, k, q) for k, q in
               zip(("utility", "insert", "select"), MAIN_WORK)] +
              [(pid_b, other_db, user, k, q) for k, q in
               zip(("utility", "insert", "update", "select"), OTHER_WORK)] +
              [(pid_a, main_db, user, "select", "SELECT 'a again'"),
               (conn.get_backend_pid(), main_db, user, "select", "SELECT 'the owner itself'")])
    assert [g[:5] for g in got] == expect
    # relations of this database are named; those of the other database
    # cannot be looked up from here and are shown as OIDs
    rel = {g[4]: g[5] for g in got}
    assert rel["INSERT INTO scope_t VALUES (1), (2)"] == ["scope_t"]
    (oid,) = rel["UPDATE scope_o SET id = 2"]
    assert oid.isdigit()


def test_scope_database_captures_only_its_own(conn, new_conn_to, other_db):
    main_db = pg_env()["dbname"]
    a = new_conn_to()
    b = new_conn_to(dbname=other_db)
    pid_a, pid_b = a.get_backend_pid(), b.get_backend_pid()
    cur = conn.cursor()

    cur.execute("SELECT capq_begin(scope => 'database')")
    (cap,) = cur.fetchone()
    try:
        run(a, *MAIN_WORK)
        run(b, *OTHER_WORK)
        run(a, "SELECT 'a again'")
        got = captured(cur, [pid_a, pid_b])
        cur.execute("SELECT count(*) FROM capq_queries() WHERE database <> %s", (main_db,))
        (foreign,) = cur.fetchone()
    finally:
        cur.execute("SELECT capq_end()")
    assert foreign == 0
    assert [(g[0], g[1], g[4]) for g in got] == \
        [(pid_a, main_db, q) for q in MAIN_WORK + ("SELECT 'a again'",)]


def test_scope_database_owned_in_the_other_database(conn, new_conn_to, other_db):
    """The same from the other side: a 'database' capture begun in the other
    database takes its backends and not those of the test database."""
    owner = new_conn_to(dbname=other_db)
    run(owner, "CREATE EXTENSION IF NOT EXISTS capquery")
    a = new_conn_to()
    b = new_conn_to(dbname=other_db)
    pid_a, pid_b = a.get_backend_pid(), b.get_backend_pid()
    cur = owner.cursor()
    cur.execute("SELECT capq_begin(scope => 'database')")
    try:
        run(a, *MAIN_WORK)
        run(b, *OTHER_WORK)
        got = captured(cur, [pid_a, pid_b])
    finally:
        cur.execute("SELECT capq_end()")
    assert [(g[0], g[1], g[4]) for g in got] == [(pid_b, other_db, q) for q in OTHER_WORK]
    # and its relations are named there
    assert got[1][5] == ["scope_o"]


def test_session_label_joins_across_databases(conn, new_conn_to, other_db):
    """capquery.session works whatever the capture's scope: a backend of the
    other database joins a scope 'backend' capture of the test database."""
    label = "xdb-%s" % uuid.uuid4().hex[:8]
    cur = conn.cursor()
    cur.execute("SELECT capq_begin(label => %s)", (label,))
    try:
        joined = new_conn_to(dbname=other_db, options="-c capquery.session=%s" % label)
        bystander = new_conn_to(dbname=other_db)
        run(joined, "SELECT 'joined from the other database'")
        run(bystander, "SELECT 'not joined'")
        cur.execute("SELECT pid, database, query FROM capq_queries() ORDER BY seq")
        got = cur.fetchall()
    finally:
        cur.execute("SELECT capq_end()")
    assert got == [(joined.get_backend_pid(), other_db, "SELECT 'joined from the other database'")]


def test_wide_scope_does_not_capture_other_captures_calls(conn, new_conn_to, other_db):
    """While a scope 'all' capture is active, another backend's own capture
    (and its capq_* calls) stay out of it; each capture counts only what it
    should."""
    cur = conn.cursor()
    cur.execute("SELECT capq_begin(scope => 'all')")
    (wide,) = cur.fetchone()
    try:
        other = new_conn_to()
        ocur = other.cursor()
        ocur.execute("SELECT capq_begin()")
        (narrow,) = ocur.fetchone()
        ocur.execute("SELECT 'in both'")
        ocur.execute("SELECT capq_count()")
        assert ocur.fetchone()[0] == 1
        ocur.execute("SELECT capq_end()")
        assert ocur.fetchone()[0] == 1
        cur.execute("SELECT query FROM capq_queries() WHERE pid = %s", (other.get_backend_pid(),))
        assert [norm(q) for (q,) in cur.fetchall()] == ["SELECT 'in both'"]
    finally:
        cur.execute("SELECT capq_end()")
    assert narrow != wide
