"""What the extended protocol's Bind runs is nested in the statement bound.

Bind converts each parameter with its type's input function before the
statement starts; for a domain, that checks the domain's CHECK constraint,
which may call a SQL function whose statement then runs through the
executor, outside any portal.  It works for the statement being bound: with
capquery.track = 'top' it is not captured, with 'all' it is at nesting 1.
"""
import psycopg

from capq_helpers import pg_env


def connect3():
    env = pg_env()
    return psycopg.connect(host=env["host"], port=env["port"], user=env["user"],
                           dbname=env["dbname"], autocommit=True)


def test_bind_domain_check_is_nested():
    with connect3() as conn:
        run = conn.execute
        run("DROP DOMAIN IF EXISTS bind_posint")
        run("DROP FUNCTION IF EXISTS bind_check(int)")
        run("DROP TABLE IF EXISTS bind_floor")
        run("CREATE TABLE bind_floor (x int)")
        run("INSERT INTO bind_floor VALUES (0)")
        run("CREATE FUNCTION bind_check(int) RETURNS bool LANGUAGE sql "
            "AS 'SELECT $1 > x FROM bind_floor'")
        run("CREATE DOMAIN bind_posint AS int CHECK (bind_check(VALUE))")
        domain_oid = run("SELECT 'bind_posint'::regtype::oid").fetchone()[0]
        try:
            captured = {}
            for track in ("top", "all"):
                run("SET capquery.track = '%s'" % track)
                cap = run("SELECT capq_begin()").fetchone()[0]
                # the parameter is declared of the domain's type: Bind checks it
                pg = conn.pgconn
                name = ("bind_%s" % track).encode()
                res = pg.prepare(name, b"SELECT $1 AS bound", [domain_oid])
                assert res.error_message == b""
                res = pg.exec_prepared(name, [b"9"])
                assert res.error_message == b"" and res.get_value(0, 0) == b"9"
                res = pg.exec_params(b"SELECT $1 AS unnamed", [b"10"], [domain_oid])
                assert res.error_message == b"" and res.get_value(0, 0) == b"10"
                ended = run("SELECT capq_end()").fetchone()[0]
                rows = run("SELECT nesting, query FROM capq_queries(%s) ORDER BY seq",
                           (cap,)).fetchall()
                captured[track] = (ended, rows)
                run("RESET capquery.track")
        finally:
            run("DROP DOMAIN bind_posint")
            run("DROP FUNCTION bind_check(int)")
            run("DROP TABLE bind_floor")

    assert captured["top"] == (2, [(0, "SELECT $1 AS bound"),
                                   (0, "SELECT $1 AS unnamed")])
    assert captured["all"] == (4, [(1, "SELECT $1 > x FROM bind_floor"),
                                   (0, "SELECT $1 AS bound"),
                                   (1, "SELECT $1 > x FROM bind_floor"),
                                   (0, "SELECT $1 AS unnamed")])
