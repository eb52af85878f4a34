"""Privileges across connections: who may capture what, and what a role sees
of the statements other roles' backends added to its capture.

sql/scopes_roles.sql shows the same rules within one session (SET ROLE);
here every role has its own backend, joined to the capture through
capquery.session.  A statement joins a capture only if the capture's owner
may read it, and a role reads only captures whose owner's statements it may
read (test_security.py attacks those rules).  Roles (random names, dropped
at the end):
    owner  a plain LOGIN role that owns the capture (scope 'backend')
    other  another plain LOGIN role
    stats  a LOGIN role in pg_read_all_stats
    lead   a LOGIN role in owner (it has owner's privileges)
and the superuser postgres.  Statements go through psycopg 3, which binds
parameters server-side, so every entry has a params column to mask.
"""
import time
import uuid

import psycopg
import psycopg2
import pytest

from capq_helpers import norm, pg_env

HIDDEN = "<insufficient privilege>"
QUERY = "SELECT secret FROM {t} WHERE id = %s"


def wait_for_server(timeout=60):
    """An autocommit superuser connection, waiting while the server recovers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = psycopg2.connect(**pg_env())
            c.autocommit = True
            return c
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def world():
    """Roles and a table readable by everybody; dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {"owner": "capq_py_owner_" + suffix, "other": "capq_py_other_" + suffix,
             "stats": "capq_py_stats_" + suffix, "lead": "capq_py_lead_" + suffix,
             "table": "capq_py_secrets_" + suffix}
    admin = psycopg2.connect(**pg_env())
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("CREATE ROLE %(owner)s LOGIN" % names)
    cur.execute("CREATE ROLE %(other)s LOGIN" % names)
    cur.execute("CREATE ROLE %(stats)s LOGIN IN ROLE pg_read_all_stats" % names)
    cur.execute("CREATE ROLE %(lead)s LOGIN IN ROLE %(owner)s" % names)
    cur.execute("CREATE TABLE %(table)s (id int PRIMARY KEY, secret text)" % names)
    cur.execute("INSERT INTO %(table)s VALUES (1, 'one'), (2, 'two'), (3, 'three')" % names)
    cur.execute("GRANT SELECT ON %(table)s TO PUBLIC" % names)
    names["postgres"] = pg_env()["user"]
    admin.close()
    try:
        yield names
    finally:
        # a new connection: a test may have crashed the server meanwhile
        admin = wait_for_server()
        cur = admin.cursor()
        cur.execute("DROP TABLE IF EXISTS %(table)s" % names)
        for role in ("lead", "owner", "other", "stats"):
            cur.execute("DROP ROLE IF EXISTS %s" % names[role])
        admin.close()


@pytest.fixture
def connect_as():
    """connect_as(role, label=None): an autocommit psycopg 3 connection as
    role, joined to the capture with that label when one is given."""
    opened = []

    def factory(role, label=None):
        env = pg_env()
        kwargs = {"options": "-c capquery.session=%s" % label} if label else {}
        c = psycopg.connect(host=env["host"], port=env["port"], dbname=env["dbname"],
                            user=role, autocommit=True, **kwargs)
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()


def read(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def pid_of(conn):
    return conn.info.backend_pid        # no query: nothing captured


def entries(conn, cap):
    """{username: [(query, params)]} of a capture, as conn's role sees it."""
    out = {}
    for user, query, params in read(conn, "SELECT username, query, params FROM "
                                          "capq_queries(%s) ORDER BY seq", (cap,)):
        out.setdefault(user, []).append((norm(query), params))
    return out


def test_plain_owner_captures_only_its_own_statements(world, connect_as):
    label = "priv-%s" % uuid.uuid4().hex[:8]
    q = QUERY.format(t=world["table"])
    stmt = norm(q.replace("%s", "$1"))
    owner = connect_as(world["owner"])
    cap = read(owner, "SELECT capq_begin(label => %s)", (label,))[0][0]
    assert read(owner, q, (1,)) == [("one",)]
    # three other roles' backends name the plain role's capture: the owner
    # may read none of their statements, so none joins
    for role, value in (("other", 2), ("stats", 3), ("postgres", 1)):
        c = connect_as(world[role], label)
        assert len(read(c, q, (value,))) == 1
        read(c, "SELECT %s::text AS marker", ("%s-marker" % role,))

    assert entries(owner, cap) == {world["owner"]: [(stmt, "$1 = '1'")]}
    rows = read(owner, "SELECT username, pid, database FROM capq_queries(%s)", (cap,))
    assert rows == [(world["owner"], pid_of(owner), pg_env()["dbname"])]
    assert read(owner, "SELECT capq_count(), capq_count('select')")[0] == (1, 1)
    assert read(owner, "SELECT capq_end()")[0][0] == 1


def test_reading_a_capture_as_each_role(world, connect_as):
    """A pg_read_all_stats member's capture takes every role's statements;
    it is readable by pg_read_all_stats members and superusers only."""
    label = "priv-%s" % uuid.uuid4().hex[:8]
    q = QUERY.format(t=world["table"])
    stmt = norm(q.replace("%s", "$1"))
    stats = connect_as(world["stats"])
    cap = read(stats, "SELECT capq_begin(label => %s)", (label,))[0][0]
    read(stats, q, (1,))
    joined = {role: connect_as(world[role], label) for role in ("owner", "other", "postgres")}
    for k, (role, c) in enumerate(joined.items(), 2):
        read(c, q, (k,))
    assert read(stats, "SELECT capq_end()")[0][0] == 4

    everything = {world["stats"]: [(stmt, "$1 = '1'")],
                  world["owner"]: [(stmt, "$1 = '2'")],
                  world["other"]: [(stmt, "$1 = '3'")],
                  world["postgres"]: [(stmt, "$1 = '4'")]}
    assert entries(stats, cap) == everything
    assert entries(connect_as(world["postgres"]), cap) == everything
    # plain roles may not read it at all, though it holds their statements
    for role in ("owner", "other", "lead"):
        with pytest.raises(psycopg.Error) as excinfo:
            entries(connect_as(world[role]), cap)
        assert excinfo.value.sqlstate == "42501", role
        assert excinfo.value.diag.message_primary == "permission denied to read capture %d" % cap


def lose_privileges(world, member, role):
    """REVOKE role FROM member as the superuser, for masking tests."""
    admin = psycopg2.connect(**pg_env())
    admin.autocommit = True
    admin.cursor().execute("REVOKE %s FROM %s" % (world[role], world[member]))
    admin.close()


def regain_privileges(world, member, role):
    admin = psycopg2.connect(**pg_env())
    admin.autocommit = True
    admin.cursor().execute("GRANT %s TO %s" % (world[role], world[member]))
    admin.close()


def test_masking_in_the_owners_assertions_and_summary(world, connect_as):
    """lead captures owner's backend (it has owner's privileges), then loses
    them: what owner ran is masked in the assertion and the summary."""
    label = "priv-%s" % uuid.uuid4().hex[:8]
    lead = connect_as(world["lead"])
    read(lead, "SELECT capq_begin(label => %s)", (label,))
    read(lead, "SELECT 'lead statement' AS s")
    owner = connect_as(world["owner"], label)
    for i in range(3):
        read(owner, "SELECT %s AS secret_value_of_owner", (i,))
    lose_privileges(world, "lead", "owner")
    try:
        with pytest.raises(psycopg.Error) as excinfo:
            read(lead, "SELECT capq_assert_count(1)")
        diag = excinfo.value.diag
        assert excinfo.value.sqlstate == "P0004"
        assert diag.message_primary == "expected 1 statement, captured 4"
        detail = diag.message_detail
        assert "SELECT 'lead statement' AS s" in detail
        assert "secret_value_of_owner" not in detail
        assert detail.count(HIDDEN) == 3
        assert "secret_value_of_owner" not in (diag.message_hint or "")

        summary = read(lead, "SELECT query, executions FROM capq_summary() ORDER BY executions")
        assert [(norm(q), n) for q, n in summary] == [("SELECT $1 AS s", 1), (HIDDEN, 3)]
        read(lead, "SELECT capq_end()")
    finally:
        regain_privileges(world, "lead", "owner")


def test_scopes_per_role(world, connect_as):
    for role in ("owner", "other"):
        c = connect_as(world[role])
        for scope in ("database", "all"):
            with pytest.raises(psycopg.Error) as excinfo:
                read(c, "SELECT capq_begin(scope => %s)", (scope,))
            assert excinfo.value.sqlstate == "42501", (role, scope)
        # nothing was begun; 'backend' still works
        assert read(c, "SELECT count(*) FROM capq_sessions() WHERE owner_pid = pg_backend_pid() "
                       "AND state = 'active'")[0][0] == 0
        read(c, "SELECT capq_begin()")
        assert read(c, "SELECT capq_end()")[0][0] == 0
        with pytest.raises(psycopg.Error) as excinfo:
            read(c, "SELECT capq_reset()")
        assert excinfo.value.sqlstate == "42501"

    # a pg_read_all_stats member captures a plain role's backend with scope
    # 'database' and reads its text
    stats = connect_as(world["stats"])
    plain = connect_as(world["owner"])
    plain_pid = pid_of(plain)
    cap = read(stats, "SELECT capq_begin(scope => 'database')")[0][0]
    read(plain, "SELECT %s::text AS plain_in_database_scope", ("visible",))
    rows = read(stats, "SELECT username, query, params FROM capq_queries() WHERE pid = %s",
                (plain_pid,))
    read(stats, "SELECT capq_end()")
    assert rows == [(world["owner"], "SELECT $1::text AS plain_in_database_scope", "$1 = 'visible'")]
    # the plain role may not read that capture, although its statement is there
    with pytest.raises(psycopg.Error) as excinfo:
        read(plain, "SELECT username, query FROM capq_queries(%s)", (cap,))
    assert excinfo.value.sqlstate == "42501"
    with pytest.raises(psycopg.Error) as excinfo:
        read(stats, "SELECT capq_reset()")
    assert excinfo.value.sqlstate == "42501"


def test_shapes_of_masked_casts(world, connect_as):
    """The owner's summary over other roles' statements that cast a bound
    parameter or compare a constant with >=, as drivers and ORMs write them.

    Regression test: src/shape.c's scan_tokens used to read
    yylval.keyword for tokens the core scanner returns without setting
    yylval (TYPECAST '::', '>=', '<=', '<>', '!=', '..', ':=', '=>'); after
    a PARAM or ICONST token (which set yylval.ival) that was a wild pointer
    and the backend segfaulted (fixed by "shape: clear yylval before each
    token").  Should it come back, this test fails and waits for the server
    to recover so that the tests after it are not affected.
    """
    label = "priv-%s" % uuid.uuid4().hex[:8]
    lead = connect_as(world["lead"])
    read(lead, "SELECT capq_begin(label => %s)", (label,))
    owner = connect_as(world["owner"], label)
    for i in range(3):
        read(owner, "SELECT %s::int AS cast_value, 5 >= %s AS compared", (i, i))
    lose_privileges(world, "lead", "owner")
    try:
        summary = read(lead, "SELECT query, executions FROM capq_summary()")
        with pytest.raises(psycopg.Error) as excinfo:
            read(lead, "SELECT capq_assert_no_repeats()")
        read(lead, "SELECT capq_end()")
    except psycopg.OperationalError as e:
        time.sleep(1)                  # let the postmaster notice and restart
        wait_for_server().close()
        pytest.fail("the server crashed reading shapes of '$1::int' / '5 >= $2' "
                    "(src/shape.c scan_tokens reads a stale yylval.keyword): %s" % e)
    finally:
        regain_privileges(world, "lead", "owner")
    assert summary == [(HIDDEN, 3)]
    assert excinfo.value.sqlstate == "P0004"
    assert "cast_value" not in str(excinfo.value.diag.message_detail)
