#!/usr/bin/python3
"""bench/readers_writers.py: does reading captures starve a capturing backend?

A writer backend runs primary-key SELECTs under its own capture for WINDOW
seconds, alone, then (alternating, PAIRS times) while two other sessions of
an unprivileged role loop capq_queries(<an old, small capture id>) and
capq_count() over a ring filled to about 20 MB with another capture.  It
reports the writer's statements per second in both cases and their ratio
(median over the pairs), and checks every read returned the old capture's 10
statements (lost = 0).  Reports; never fails on a number.

Needs a preloaded server (PGHOST/PGPORT, superuser PGUSER) with
capquery.buffer_size = 32MB; bench/readers_writers.sh starts one.
"""
import multiprocessing as mp
import os
import statistics
import sys
import time

import psycopg2

WINDOW = float(os.environ.get("RW_WINDOW", "1.0"))
# RW_READ=large: the readers loop over a capture of 44,000 statements of
# about 170 bytes (the size of PostgreSQL's regression suite) instead
LARGE = os.environ.get("RW_READ", "small") == "large"
PAIRS = int(os.environ.get("RW_PAIRS", "5"))
DB = os.environ.get("PGDATABASE", "postgres")


def connect(user=None):
    conn = psycopg2.connect(dbname=DB, user=user or os.environ.get("PGUSER", "postgres"))
    conn.autocommit = True
    return conn


def setup():
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS capquery")
    cur.execute("DROP TABLE IF EXISTS rw_t")
    cur.execute("CREATE TABLE rw_t (id int PRIMARY KEY, v text)")
    cur.execute("INSERT INTO rw_t SELECT i, md5(i::text) FROM generate_series(1, 10000) i")
    cur.execute("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rw_reader')"
                " THEN CREATE ROLE rw_reader LOGIN; END IF; END$$")
    cur.execute("GRANT SELECT ON rw_t TO rw_reader")
    # since 1.1 a role reads only captures of roles it has the privileges
    # of: the readers read the superuser's captures as pg_read_all_stats
    cur.execute("GRANT pg_read_all_stats TO rw_reader")
    conn.close()


def fill():
    """Reset, then an old small capture (10 statements) and 20 MB of another."""
    conn = connect()
    cur = conn.cursor()
    cur.execute("SELECT capq_reset()")
    cur.execute("SELECT capq_begin()")
    old = None
    for i in range(10):
        cur.execute("SELECT v FROM rw_t WHERE id = %s", (i + 1,))
    cur.execute("SELECT capq_end()")
    cur.execute("SELECT capture FROM capq_sessions() ORDER BY capture DESC LIMIT 1")
    old = cur.fetchone()[0]
    cur.execute("SET capquery.track = 'all'")
    cur.execute("SELECT capq_begin()")
    if LARGE:
        cur.execute("""DO $$BEGIN FOR i IN 1..44000 LOOP
                       EXECUTE format('SELECT %L AS label, v, id FROM rw_t WHERE id = %s', repeat('l', 110), i % 10000 + 1);
                       END LOOP; END$$""")
    else:
        cur.execute("""DO $$BEGIN FOR i IN 1..5000 LOOP
                       EXECUTE format('SELECT %L, v FROM rw_t WHERE id = %s', repeat('f', 4000), i);
                       END LOOP; END$$""")
    cur.execute("SELECT capq_end()")
    if LARGE:
        cur.execute("SELECT capture, statements FROM capq_sessions() ORDER BY capture DESC LIMIT 1")
        old, expected = cur.fetchone()
    else:
        expected = 10
    conn.close()
    return old, expected


def reader(old, expected, stop, counts):
    conn = connect("rw_reader")
    cur = conn.cursor()
    n = bad = 0
    while not stop.is_set():
        cur.execute("SELECT count(*) FROM capq_queries(%s)", (old,))
        if cur.fetchone()[0] != expected:
            bad += 1
        n += 1
    counts.put((n, bad))
    conn.close()


def writer_rate():
    conn = connect()
    cur = conn.cursor()
    cur.execute("SELECT capq_begin()")
    n = 0
    deadline = time.monotonic() + WINDOW
    while time.monotonic() < deadline:
        cur.execute("SELECT v FROM rw_t WHERE id = %s", (n % 10000 + 1,))
        n += 1
    cur.execute("SELECT capq_end()")
    cur.execute("SELECT lost FROM capq_sessions() ORDER BY capture DESC LIMIT 1")
    lost = cur.fetchone()[0]
    conn.close()
    return n / WINDOW, lost


def main():
    setup()
    alone, shared, reads, bad_reads, lost_total = [], [], 0, 0, 0
    for _ in range(PAIRS):
        fill()
        rate, lost = writer_rate()
        alone.append(rate)
        lost_total += lost
        old, expected = fill()
        stop, counts = mp.Event(), mp.Queue()
        procs = [mp.Process(target=reader, args=(old, expected, stop, counts)) for _ in range(2)]
        for p in procs:
            p.start()
        time.sleep(0.2)
        rate, lost = writer_rate()
        stop.set()
        for p in procs:
            # a reader that failed reports nothing: do not wait forever
            n, bad = counts.get(timeout=60)
            reads += n
            bad_reads += bad
            p.join()
        shared.append(rate)
        lost_total += lost
    ratios = [s / a for s, a in zip(shared, alone)]
    print(f"writer alone:        {statistics.median(alone):10.0f} statements/s (median of {PAIRS})")
    print(f"writer, two readers: {statistics.median(shared):10.0f} statements/s")
    print(f"ratio:               {statistics.median(ratios):10.2f} (median of the pairs' ratios)")
    print(f"reads: {reads}, wrong: {bad_reads}; lost entries: {lost_total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
