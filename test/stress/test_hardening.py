"""Hardening under load and at the limits of the settings.

* A 12 GB ring (capquery.buffer_size = '12GB'; the memory is only touched as
  it fills) keeps texts, parameters and plans: limits derived from the ring's
  size once went negative in an int and stored every text as '...'.
* Readers copy captures in bounded chunks under the shared lock: while two
  sessions of an unprivileged role read a capture in a loop, a capturing
  backend goes on appending and every read is exact (no lost entries).  The
  rate it keeps is measured by bench/readers_writers.sh, not asserted here.
"""
import threading

import pytest

from stress_helpers import connect, own_server


@pytest.fixture
def huge_ring_server():
    with own_server("capquery.buffer_size = '12GB'\n", prefix="capq-huge-") as (conn, _):
        yield conn


def test_twelve_gigabyte_ring_keeps_text_params_and_plans(huge_ring_server):
    cur = huge_ring_server.cursor()
    cur.execute("SHOW capquery.buffer_size")
    assert cur.fetchone()[0] == "12GB"
    cur.execute("CREATE EXTENSION capquery")
    cur.execute("SELECT capq_begin(plans => 'on')")
    cur.execute("SELECT 42 AS answer")
    cur.execute("PREPARE huge_p(int, text) AS SELECT $1, $2")
    cur.execute("EXECUTE huge_p(7, 'seven')")
    cur.execute("SELECT capq_end()")
    cur.execute("SELECT query, params, plan IS NOT NULL FROM capq_queries() ORDER BY seq")
    rows = cur.fetchall()
    assert rows[0] == ("SELECT 42 AS answer", None, True)
    assert rows[1][1] == "$1 = '7', $2 = 'seven'"
    assert rows[1][2] is True


def test_readers_in_a_loop_leave_a_capturing_backend_exact():
    setup = connect()
    cur = setup.cursor()
    cur.execute("DROP ROLE IF EXISTS capq_loop_reader")
    cur.execute("CREATE ROLE capq_loop_reader LOGIN")
    cur.execute("CREATE TABLE IF NOT EXISTS hard_t (id int PRIMARY KEY)")
    cur.execute("INSERT INTO hard_t SELECT generate_series(1, 100) ON CONFLICT DO NOTHING")
    cur.execute("GRANT SELECT ON hard_t TO capq_loop_reader")

    reader_setup = connect()
    reader_setup.cursor().execute("SET SESSION AUTHORIZATION capq_loop_reader")
    rcur = reader_setup.cursor()
    rcur.execute("SELECT capq_begin()")
    for i in range(10):
        rcur.execute("SELECT id FROM hard_t WHERE id = %s", (i + 1,))
    rcur.execute("SELECT capq_end()")
    rcur.execute("SELECT capture FROM capq_sessions() WHERE owner_pid = pg_backend_pid() "
                 "ORDER BY capture DESC LIMIT 1")
    old = rcur.fetchone()[0]
    reader_setup.close()

    stop = threading.Event()
    results = []

    def read_loop():
        conn = connect()
        c = conn.cursor()
        c.execute("SET SESSION AUTHORIZATION capq_loop_reader")
        n = wrong = 0
        while not stop.is_set() or n < 20:
            c.execute("SELECT count(*) FROM capq_queries(%s)", (old,))
            wrong += c.fetchone()[0] != 10
            n += 1
        results.append((n, wrong))
        conn.close()

    readers = [threading.Thread(target=read_loop) for _ in range(2)]
    for t in readers:
        t.start()
    writer = connect()
    wcur = writer.cursor()
    wcur.execute("SELECT capq_begin()")
    for i in range(3000):
        wcur.execute("SELECT id FROM hard_t WHERE id = %s", (i % 100 + 1,))
    wcur.execute("SELECT capq_end()")
    assert wcur.fetchone()[0] == 3000
    stop.set()
    for t in readers:
        t.join()
    wcur.execute("SELECT count(*), count(DISTINCT seq) FROM capq_queries()")
    assert wcur.fetchone() == (3000, 3000)
    assert all(wrong == 0 for _, wrong in results), results
    writer.close()
    cur.execute("DROP OWNED BY capq_loop_reader")
    cur.execute("DROP ROLE capq_loop_reader")
    setup.close()
