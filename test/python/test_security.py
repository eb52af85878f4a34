"""Attacks on capture ownership across connections, and text from databases
in other encodings.

A statement joins a capture (by label through capquery.session, by id, or
by scope) only if the capture's owner may read it: the same role, a role
whose privileges it has, or any role for superusers and pg_read_all_stats
members.  So a plain role cannot take over a label that an application's
connections join, collect their statements, stop them with strict mode
(capquery.max_repeats), or block the real test's capq_begin() with 42710;
and a database owner's ALTER DATABASE ... SET capquery.session does not
capture a superuser's sessions.

Every text capquery returns is in the reader's database encoding: a scope
'all' capture read from a UTF8 database holds statements of a LATIN1
database (converted) and of a SQL_ASCII one (bytes that are not UTF8 shown
as \\xNN), and a table made from it dumps and restores.

Roles and databases have random names and are dropped at the end.
"""
import subprocess
import uuid

import psycopg
import psycopg2
import pytest

from capq_helpers import pg_env


def admin():
    c = psycopg2.connect(**pg_env())
    c.autocommit = True
    return c


def run(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


@pytest.fixture(scope="module")
def roles():
    suffix = uuid.uuid4().hex[:8]
    names = {r: "capq_sec_%s_%s" % (r, suffix) for r in ("squatter", "app", "rival", "dbo")}
    names["stats"] = "capq_sec_stats_" + suffix
    a = admin()
    for r in ("squatter", "app", "rival", "dbo"):
        run(a, "CREATE ROLE %s LOGIN" % names[r])
    run(a, "CREATE ROLE %s LOGIN IN ROLE pg_read_all_stats" % names["stats"])
    names["postgres"] = pg_env()["user"]
    a.close()
    yield names
    a = admin()
    for r in ("squatter", "app", "rival", "dbo", "stats"):
        run(a, "DROP ROLE IF EXISTS %s" % names[r])
    a.close()


@pytest.fixture
def connect_as():
    """connect_as(role, label=None, dbname=None, **settings): an autocommit
    psycopg 3 connection, joined to the capture with that label."""
    opened = []

    def factory(role, label=None, dbname=None, **settings):
        env = pg_env()
        if label:
            settings["capquery.session"] = label
        options = " ".join("-c %s=%s" % kv for kv in settings.items())
        c = psycopg.connect(host=env["host"], port=env["port"],
                            dbname=dbname or env["dbname"], user=role,
                            autocommit=True, options=options)
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()


def new_label():
    return "sec-%s" % uuid.uuid4().hex[:8]


def test_a_squatted_label_takes_nothing_it_may_not_read(roles, connect_as):
    label = new_label()
    squatter = connect_as(roles["squatter"])
    squat = run(squatter, "SELECT capq_begin(%s, plans => 'on')", (label,))[0][0]
    # the application's pool joins the label from its connection string
    app = connect_as(roles["app"], label)
    run(app, "SELECT %s::text AS card_number", ("4111-1111-1111-1111",))
    assert run(squatter, "SELECT capq_count()")[0][0] == 0
    # the real test (a superuser here) still gets the label ...
    tester = connect_as(roles["postgres"])
    cap = run(tester, "SELECT capq_begin(%s)", (label,))[0][0]
    run(app, "SELECT %s::text AS card_number", ("4111-1111-1111-1111",))
    run(app, "SELECT 2 AS second")
    # ... and the application's statements, which the squatter never sees
    assert run(tester, "SELECT capq_end()")[0][0] == 2
    assert run(squatter, "SELECT capq_end()")[0][0] == 0
    rows = run(squatter, "SELECT count(*) FROM capq_queries(%s)", (squat,))
    assert rows == [(0,)]
    # the squatter may not read the tester's capture either
    with pytest.raises(psycopg.Error) as excinfo:
        run(squatter, "SELECT * FROM capq_queries(%s)", (cap,))
    assert excinfo.value.sqlstate == "42501"


def test_labels_collide_only_for_roles_that_can_read_each_other(roles, connect_as):
    label = new_label()
    squatter = connect_as(roles["squatter"])
    run(squatter, "SELECT capq_begin(%s)", (label,))
    # a role that cannot read the holder's statements, nor be read by it
    rival = connect_as(roles["rival"])
    assert run(rival, "SELECT capq_begin(%s) > 0", (label,)) == [(True,)]
    # the same role twice: 42710
    again = connect_as(roles["squatter"])
    with pytest.raises(psycopg.Error) as excinfo:
        run(again, "SELECT capq_begin(%s)", (label,))
    assert excinfo.value.sqlstate == "42710"
    # each backend joining the label goes to the capture of its own role
    for role in ("squatter", "rival", "app"):
        run(connect_as(roles[role], label), "SELECT 1 AS joined")
    assert run(squatter, "SELECT capq_end()")[0][0] == 1
    assert run(rival, "SELECT capq_end()")[0][0] == 1
    # a pg_read_all_stats member holding the label may read a plain role's
    # statements, so the plain role's begin collides with it
    stats = connect_as(roles["stats"])
    run(stats, "SELECT capq_begin(%s)", (label,))
    with pytest.raises(psycopg.Error) as excinfo:
        run(again, "SELECT capq_begin(%s)", (label,))
    assert excinfo.value.sqlstate == "42710"
    run(stats, "SELECT capq_end()")


def test_strict_mode_of_a_squatter_does_not_stop_others(roles, connect_as):
    label = new_label()
    squatter = connect_as(roles["squatter"])
    run(squatter, "SELECT capq_begin(%s)", (label,))
    app = connect_as(roles["app"], label, **{"capquery.max_repeats": "1"})
    for i in range(3):
        assert run(app, "SELECT %s::int AS n", (i,)) == [(i,)]
    # the application's own role still gets strict mode in its own capture
    mine = connect_as(roles["app"])
    run(mine, "SELECT capq_begin(%s)", (new_label(),))
    run(mine, "SET capquery.max_repeats = 1")
    run(mine, "SELECT 1 AS n")
    with pytest.raises(psycopg.Error) as excinfo:
        run(mine, "SELECT 2 AS n")
    assert excinfo.value.sqlstate == "P0004"
    run(mine, "SELECT capq_end()")
    assert run(squatter, "SELECT capq_end()")[0][0] == 0


def test_a_role_change_is_seen_between_statements(roles, connect_as):
    """The capture's targets are recomputed when the current role changes:
    a superuser backend joined to a plain role's label is captured only
    while it runs as that role."""
    label = new_label()
    owner = connect_as(roles["app"])
    run(owner, "SELECT capq_begin(%s)", (label,))
    su = connect_as(roles["postgres"], label)
    run(su, "SELECT 'as superuser 1' AS s")
    run(su, "SET ROLE %s" % roles["app"])
    run(su, "SELECT 'as app' AS s")
    run(su, "RESET ROLE")
    run(su, "SELECT 'as superuser 2' AS s")
    rows = run(owner, "SELECT username, query FROM capq_queries() ORDER BY seq")
    assert rows == [(roles["app"], "SELECT 'as app' AS s"), (roles["app"], "RESET ROLE")]
    run(owner, "SELECT capq_end()")


@pytest.fixture
def owned_database(roles):
    name = "capq_sec_db_" + uuid.uuid4().hex[:8]
    a = admin()
    run(a, "CREATE DATABASE %s OWNER %s" % (name, roles["dbo"]))
    a.close()
    yield name
    a = admin()
    run(a, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    a.close()


def test_database_owner_cannot_capture_a_superuser(roles, connect_as, owned_database):
    label = new_label()
    dbo = connect_as(roles["dbo"], dbname=owned_database)
    run(dbo, "ALTER DATABASE %s SET capquery.session = '%s'" % (owned_database, label))
    reader = connect_as(roles["dbo"])
    run(reader, "SELECT capq_begin(%s)", (label,))
    # every new session of the database now names the label
    su = connect_as(roles["postgres"], dbname=owned_database)
    assert run(su, "SHOW capquery.session") == [(label,)]
    run(su, "SELECT 'superuser secret' AS s")
    own = connect_as(roles["dbo"], dbname=owned_database)
    run(own, "SELECT 'owner statement' AS s")
    rows = run(reader, "SELECT username, query FROM capq_queries() ORDER BY seq")
    assert rows == [(roles["dbo"], "SELECT 'owner statement' AS s")]
    run(reader, "SELECT capq_end()")


@pytest.fixture(scope="module")
def foreign_databases():
    """A LATIN1 and a SQL_ASCII database, each with a table t(word text)."""
    suffix = uuid.uuid4().hex[:8]
    dbs = {"latin1": "capq_sec_latin1_" + suffix, "sql_ascii": "capq_sec_ascii_" + suffix}
    a = admin()
    for enc, name in dbs.items():
        run(a, "CREATE DATABASE %s ENCODING '%s' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
            % (name, enc.upper()))
        c = psycopg2.connect(**dict(pg_env(), dbname=name))
        c.autocommit = True
        run(c, "CREATE TABLE t (word text)")
        run(c, "CREATE EXTENSION capquery")
        c.close()
    a.close()
    yield dbs
    a = admin()
    for name in dbs.values():
        run(a, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    a.close()


def raw_connect(dbname):
    c = psycopg2.connect(**dict(pg_env(), dbname=dbname))
    c.autocommit = True
    return c


def test_text_of_other_encodings_is_converted(foreign_databases, tmp_path):
    reader = raw_connect(pg_env()["dbname"])
    assert run(reader, "SHOW server_encoding") == [("UTF8",)]
    cap = run(reader, "SELECT capq_begin(scope => 'all', plans => 'on')")[0][0]

    latin1 = raw_connect(foreign_databases["latin1"])
    latin1.set_client_encoding("LATIN1")
    run(latin1, "SELECT word FROM t WHERE word = 'café crème'")
    t_oid = run(latin1, "SELECT 't'::regclass::oid")[0][0]

    ascii_ = raw_connect(foreign_databases["sql_ascii"])
    ascii_.set_client_encoding("SQL_ASCII")
    # 0xE9 alone is not UTF8; C3 A9 is
    run(ascii_, b"SELECT word FROM t WHERE word = '\xe9t\xe9' OR word = '\xc3\xa9t\xc3\xa9'")
    # and in the reader's UTF8 database, a character LATIN1 does not have
    run(raw_connect(pg_env()["dbname"]), "SELECT '€uro à la carte' AS w")
    run(reader, "SELECT capq_end()")
    latin1.close()
    ascii_.close()

    # psycopg2 decodes every text column as UTF8: no UnicodeDecodeError
    rows = run(reader, "SELECT database, query, plan, relations FROM capq_queries(%s) "
                       "WHERE database IN (%s, %s) AND query LIKE 'SELECT word%%' ORDER BY seq",
               (cap, foreign_databases["latin1"], foreign_databases["sql_ascii"]))
    by_db = {db: (q, p, r) for db, q, p, r in rows}
    q, plan, relations = by_db[foreign_databases["latin1"]]
    assert q == "SELECT word FROM t WHERE word = 'café crème'"
    assert "'café crème'::text" in plan
    assert relations == [str(t_oid)]      # another database's OID, unnamed
    q, plan, _ = by_db[foreign_databases["sql_ascii"]]
    assert q == "SELECT word FROM t WHERE word = '\\xe9t\\xe9' OR word = 'été'"
    assert "\\xe9t\\xe9" in plan

    # the summary too, and it names the other database's relation by OID
    # and database rather than resolving the OID here
    summary = run(reader, "SELECT query, relations FROM capq_summary(%s) WHERE query LIKE "
                          "'SELECT word FROM t%%'", (cap,))
    assert summary, "the foreign statements are in the summary"
    names = {r for _, rels in summary for r in rels}
    assert "%d@%s" % (t_oid, foreign_databases["latin1"]) in names
    snapshot = run(reader, "SELECT capq_snapshot(%s, plans => true)", (cap,))[0][0]
    assert "café crème" in snapshot

    # read from the LATIN1 database: converted the other way, and what
    # LATIN1 cannot hold is escaped (the client gets it as UTF8)
    latin1 = raw_connect(foreign_databases["latin1"])
    rows = run(latin1, "SELECT query FROM capq_queries(%s) WHERE query LIKE '%%uro%%'", (cap,))
    assert rows == [("SELECT '\\xe2\\x82\\xacuro à la carte' AS w",)]
    rows = run(latin1, "SELECT query FROM capq_queries(%s) WHERE query LIKE '%%café%%'", (cap,))
    assert rows == [("SELECT word FROM t WHERE word = 'café crème'",)]
    latin1.close()

    # stored in a table, it dumps and restores
    table = "capq_sec_copy_" + uuid.uuid4().hex[:8]
    run(reader, "CREATE TABLE %s AS SELECT query, plan FROM capq_queries(%%s)" % table, (cap,))
    try:
        env = pg_env()
        dump = subprocess.run(["pg_dump", "-h", env["host"], "-p", str(env["port"]),
                               "-U", env["user"], "-t", table, env["dbname"]],
                              check=True, capture_output=True).stdout
        target = "capq_sec_restore_" + uuid.uuid4().hex[:8]
        a = admin()
        run(a, "CREATE DATABASE %s ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' "
               "TEMPLATE template0" % target)
        try:
            restore = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-q",
                                      "-h", env["host"], "-p", str(env["port"]),
                                      "-U", env["user"], "-d", target],
                                     input=dump, capture_output=True)
            assert restore.returncode == 0, restore.stderr.decode("utf8", "replace")
            c = raw_connect(target)
            assert run(c, "SELECT count(*) FROM %s" % table) == \
                run(reader, "SELECT count(*) FROM %s" % table)
            c.close()
        finally:
            run(a, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % target)
            a.close()
    finally:
        run(reader, "DROP TABLE %s" % table)
    reader.close()
