"""Concurrent captures on the instance whose ring is deliberately tiny
(capquery.buffer_size = 64kB, CAPQ_TINY_HOST/CAPQ_TINY_PORT): the ring wraps
while several backends capture, and a capture some of whose statements were
overwritten must refuse to be read (53400, saying how many were lost and
naming capquery.buffer_size) rather than give a wrong count.
"""
import re
import threading

import psycopg2
import pytest

from stress_helpers import connect

WORKERS = 4
STATEMENTS = 1000
PAD = "x" * 100           # ~130 bytes of text per statement: 4 x 1000 >> 64kB
TIMEOUT = 120


def tiny():
    return connect("CAPQ_TINY_HOST", "CAPQ_TINY_PORT")


def read_back(cur):
    """(count, entries) of the capture ended last, or the 53400 error."""
    try:
        cur.execute("SELECT capq_count()")
        count = cur.fetchone()[0]
        cur.execute("SELECT seq, query FROM capq_queries()")
        return count, cur.fetchall()
    except psycopg2.Error as e:
        if e.pgcode != "53400":
            raise
        return e


def check_lost_error(err, cap, lost, exact=True):
    """The 53400 message says how many were lost (exactly `lost`, or, while
    other backends still write, at most the `lost` counted later), and the
    hint names capquery.buffer_size."""
    msg = err.diag.message_primary
    numbers = [int(n) for n in re.findall(r"\d+", msg) if int(n) != cap]
    if exact:
        assert lost in numbers, (msg, lost)
    else:
        assert any(0 < n <= lost for n in numbers), (msg, lost)
    assert "capquery.buffer_size" in (err.diag.message_hint or ""), err.diag.message_hint


def test_tiny_ring_overflow_is_refused_never_wrong():
    start = threading.Barrier(WORKERS)
    results, errors = {}, []

    def worker(k):
        conn = None
        try:
            conn = tiny()
            cur = conn.cursor()
            start.wait(TIMEOUT)
            cur.execute("SELECT capq_begin(%s)", ("tiny-%d" % k,))
            cap = cur.fetchone()[0]
            for i in range(STATEMENTS):
                cur.execute("SELECT %d, %d, '%s'" % (k, i, PAD))
            try:
                cur.execute("SELECT capq_end()")
                ended = cur.fetchone()[0]
            except psycopg2.Error as e:
                ended = e
            results[k] = (cap, ended, read_back(cur))
            # the ring is usable again for a capture that fits
            cur.execute("SELECT capq_begin()")
            for i in range(3):
                cur.execute("SELECT 'small %d'" % i)
            cur.execute("SELECT capq_end()")
            results[k] += (cur.fetchone()[0], read_back(cur))
        except BaseException as e:      # noqa: BLE001 - reported below
            errors.append((k, e))
            start.abort()
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a worker hung"
    if errors:
        raise AssertionError("worker %d failed: %r" % errors[0]) from errors[0][1]

    tiny_monitor = tiny().cursor()
    try:
        tiny_monitor.execute("SELECT capture, statements, lost FROM capq_sessions() "
                             "WHERE capture = ANY(%s)", ([r[0] for r in results.values()],))
        sessions = {c: (n, lost) for c, n, lost in tiny_monitor.fetchall()}
    finally:
        tiny_monitor.connection.close()

    refused = 0
    for k, (cap, ended, big, small_ended, small) in sorted(results.items()):
        statements, lost = sessions[cap]
        assert statements == STATEMENTS, k
        if isinstance(ended, psycopg2.Error):
            assert ended.pgcode == "53400", (k, ended.pgerror)
        else:
            assert ended == STATEMENTS, k
        if isinstance(big, psycopg2.Error):
            refused += 1
            assert 0 < lost <= STATEMENTS, (k, lost)
            check_lost_error(big, cap, lost, exact=False)
        else:
            # Read back whole: then nothing may be missing.
            count, entries = big
            assert lost == 0, (k, lost)
            assert count == STATEMENTS == len(entries), k
            assert [q for _, q in entries] == \
                ["SELECT %d, %d, '%s'" % (k, i, PAD) for i in range(STATEMENTS)], k
        # A capture that fits, begun afterwards, reads back exactly.
        assert small_ended == 3, k
        assert not isinstance(small, psycopg2.Error), (k, small)
        assert small[0] == 3 and [q for _, q in small[1]] == \
            ["SELECT 'small %d'" % i for i in range(3)], k
    # 4 x 1000 statements of ~130 bytes cannot all fit in 64kB.
    assert refused > 0, "the ring never wrapped: is capquery.buffer_size really 64kB?"


def test_single_backend_overflow_then_exact_again():
    conn = tiny()
    try:
        cur = conn.cursor()
        cur.execute("SHOW capquery.buffer_size")
        size = cur.fetchone()[0]
        cur.execute("SELECT capq_begin('tiny-single')")
        cap = cur.fetchone()[0]
        for i in range(STATEMENTS):
            cur.execute("SELECT %d, '%s'" % (i, PAD))
        cur.execute("SELECT capq_end()")
        cur.execute("SELECT statements, lost FROM capq_sessions() WHERE capture = %s", (cap,))
        statements, lost = cur.fetchone()
        assert statements == STATEMENTS
        assert lost > 0, "1000 statements of ~130 bytes fit in a %s ring?" % size
        for sql in ("SELECT capq_count()", "SELECT capq_count('select')",
                    "SELECT * FROM capq_queries()", "SELECT capq_assert_count(%d)" % STATEMENTS,
                    "SELECT capq_assert_max(%d)" % STATEMENTS,
                    "SELECT capq_count(capture => %d)" % cap):
            with pytest.raises(psycopg2.Error) as excinfo:
                cur.execute(sql)
            assert excinfo.value.pgcode == "53400", (sql, excinfo.value.pgerror)
            check_lost_error(excinfo.value, cap, lost)

        cur.execute("SELECT capq_begin()")
        for i in range(5):
            cur.execute("SELECT 'again %d'" % i)
        cur.execute("SELECT capq_end()")
        assert cur.fetchone()[0] == 5
        cur.execute("SELECT capq_count()")
        assert cur.fetchone()[0] == 5
    finally:
        conn.close()


def test_a_lost_phase_name_is_refused_not_read_without_it():
    """The record naming a phase can leave the ring while the phase's
    statements stay (here a 20 kB statement of another capture lies between
    them): reading the capture then is refused with 53400, as a lost
    statement is, never listed without the phase's name."""
    victim, flood, reader = tiny(), tiny(), tiny()
    vc, fc, rc = victim.cursor(), flood.cursor(), reader.cursor()
    try:
        fc.execute("SET capquery.max_query_length = 30000")
        fc.execute("SELECT capq_begin('phase name flood')")
        vc.execute("SELECT capq_begin('phase name victim')")
        cap = vc.fetchone()[0]
        vc.execute("SELECT capq_phase('named phase')")
        fc.execute("SELECT length('%s')" % ("q" * 20000))
        vc.execute("SELECT 'victim statement'")
        vc.execute("SELECT capq_end()")
        refusals = []
        for i in range(2000):
            fc.execute("SELECT %d, '%s'" % (i, "w" * 200))
            try:
                rc.execute("SELECT phase, phase_name, query FROM capq_queries(%s)", (cap,))
                assert rc.fetchall() == [(2, "named phase", "SELECT 'victim statement'")]
            except psycopg2.Error as e:
                assert e.pgcode == "53400", e
                refusals.append(e.diag.message_primary)
                if "statements" in e.diag.message_primary:
                    break
        assert refusals, "the flood never overwrote the capture"
        assert refusals[0] == "capture %d lost the name of 1 phase" % cap, refusals[0]
        assert refusals[-1] == "capture %d lost 1 of its 1 statements" % cap, refusals[-1]
    finally:
        fc.execute("SELECT capq_end()")
        for conn in (victim, flood, reader):
            conn.close()
