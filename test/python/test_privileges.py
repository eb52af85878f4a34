"""Privileges across connections: who may capture what, and what a role sees
of the statements other roles' backends added to its capture.

sql/scopes_roles.sql shows the same rules within one session (SET ROLE);
here every role has its own backend, joined to the capture through
capquery.session.  Roles (random names, dropped at the end):
    owner  a plain LOGIN role that owns the capture (scope 'backend')
    other  another plain LOGIN role
    stats  a LOGIN role in pg_read_all_stats
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
             "stats": "capq_py_stats_" + suffix, "table": "capq_py_secrets_" + suffix}
    admin = psycopg2.connect(**pg_env())
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("CREATE ROLE %(owner)s LOGIN" % names)
    cur.execute("CREATE ROLE %(other)s LOGIN" % names)
    cur.execute("CREATE ROLE %(stats)s LOGIN IN ROLE pg_read_all_stats" % names)
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
        for role in ("owner", "other", "stats"):
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


def test_plain_owner_sees_only_its_own_statements(world, connect_as):
    label = "priv-%s" % uuid.uuid4().hex[:8]
    q = QUERY.format(t=world["table"])
    stmt = norm(q.replace("%s", "$1"))
    owner = connect_as(world["owner"])
    cap = read(owner, "SELECT capq_begin(label => %s)", (label,))[0][0]
    assert read(owner, q, (1,)) == [("one",)]
    # three other roles' backends join the plain role's capture by label
    pids = {"owner": pid_of(owner)}
    for role, value in (("other", 2), ("stats", 3), ("postgres", 1)):
        c = connect_as(world[role], label)
        pids[role] = pid_of(c)
        assert len(read(c, q, (value,))) == 1
        read(c, "SELECT %s::text AS marker", ("%s-marker" % role,))

    got = entries(owner, cap)
    assert got[world["owner"]] == [(stmt, "$1 = '1'")]
    for role in ("other", "stats", "postgres"):
        # the role's statements are there, masked: text and parameters
        assert got[world[role]] == [(HIDDEN, HIDDEN), (HIDDEN, HIDDEN)], role
    assert set(got) == {world[r] for r in pids}
    # who ran them stays visible (pid, user, database), as in pg_stat_activity
    rows = read(owner, "SELECT username, pid, database FROM capq_queries(%s)", (cap,))
    assert {(u, p) for u, p, _ in rows} == {(world[r], p) for r, p in pids.items()}
    assert {d for _, _, d in rows} == {pg_env()["dbname"]}
    # and counting is not privileged
    assert read(owner, "SELECT capq_count(), capq_count('select')")[0] == (7, 7)
    assert read(owner, "SELECT capq_end()")[0][0] == 7


def test_reading_a_capture_as_each_role(world, connect_as):
    label = "priv-%s" % uuid.uuid4().hex[:8]
    q = QUERY.format(t=world["table"])
    stmt = norm(q.replace("%s", "$1"))
    owner = connect_as(world["owner"])
    cap = read(owner, "SELECT capq_begin(label => %s)", (label,))[0][0]
    read(owner, q, (1,))
    joined = {role: connect_as(world[role], label) for role in ("other", "stats", "postgres")}
    for k, (role, c) in enumerate(joined.items(), 2):
        read(c, q, (k,))
    assert read(owner, "SELECT capq_end()")[0][0] == 4

    own = (stmt, "$1 = '1'")
    by_role = {"other": (stmt, "$1 = '2'"), "stats": (stmt, "$1 = '3'"),
               "postgres": (stmt, "$1 = '4'")}
    masked = (HIDDEN, HIDDEN)

    # the owner (plain): its own entry only
    assert entries(owner, cap) == {world["owner"]: [own],
                                   **{world[r]: [masked] for r in by_role}}
    # another plain role reading the capture by id: its own entry only
    reader = connect_as(world["other"])
    assert entries(reader, cap) == {world["owner"]: [masked], world["other"]: [by_role["other"]],
                                    world["stats"]: [masked], world["postgres"]: [masked]}
    # a pg_read_all_stats member and the superuser: everything
    everything = {world["owner"]: [own], **{world[r]: [v] for r, v in by_role.items()}}
    assert entries(connect_as(world["stats"]), cap) == everything
    assert entries(connect_as(world["postgres"]), cap) == everything


def test_masking_in_the_owners_assertions_and_summary(world, connect_as):
    label = "priv-%s" % uuid.uuid4().hex[:8]
    owner = connect_as(world["owner"])
    read(owner, "SELECT capq_begin(label => %s)", (label,))
    read(owner, "SELECT 'owner statement' AS s")
    other = connect_as(world["other"], label)
    for i in range(3):
        read(other, "SELECT %s AS secret_value_of_other", (i,))

    with pytest.raises(psycopg.Error) as excinfo:
        read(owner, "SELECT capq_assert_count(1)")
    diag = excinfo.value.diag
    assert excinfo.value.sqlstate == "P0004"
    assert diag.message_primary == "expected 1 statement, captured 4"
    detail = diag.message_detail
    assert "SELECT 'owner statement' AS s" in detail
    assert "secret_value_of_other" not in detail
    assert detail.count(HIDDEN) == 3
    # the repeated shape is named without its text: nobody the owner may
    # read ran it
    assert "secret_value_of_other" not in (diag.message_hint or "")

    summary = read(owner, "SELECT query, executions FROM capq_summary() ORDER BY executions")
    assert [(norm(q), n) for q, n in summary] == [("SELECT $1 AS s", 1), (HIDDEN, 3)]
    read(owner, "SELECT capq_end()")


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
    # the plain role, reading that capture by id, sees its own statement too
    rows = read(plain, "SELECT username, query FROM capq_queries(%s) WHERE pid = %s",
                (cap, plain_pid))
    assert rows == [(world["owner"], "SELECT $1::text AS plain_in_database_scope")]
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
    owner = connect_as(world["owner"])
    read(owner, "SELECT capq_begin(label => %s)", (label,))
    other = connect_as(world["other"], label)
    for i in range(3):
        read(other, "SELECT %s::int AS cast_value, 5 >= %s AS compared", (i, i))
    try:
        summary = read(owner, "SELECT query, executions FROM capq_summary()")
        with pytest.raises(psycopg.Error) as excinfo:
            read(owner, "SELECT capq_assert_no_repeats()")
        read(owner, "SELECT capq_end()")
    except psycopg.OperationalError as e:
        time.sleep(1)                  # let the postmaster notice and restart
        wait_for_server().close()
        pytest.fail("the server crashed reading shapes of '$1::int' / '5 >= $2' "
                    "(src/shape.c scan_tokens reads a stale yylval.keyword): %s" % e)
    assert summary == [(HIDDEN, 3)]
    assert excinfo.value.sqlstate == "P0004"
    assert "cast_value" not in str(excinfo.value.diag.message_detail)
