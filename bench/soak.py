#!/usr/bin/python3
"""bench/soak.py: the reliability run behind the README's figures (not in CI).

Against a preloaded server (PGHOST/PGPORT, superuser PGUSER; restart_after_crash
on), bounded in count and time, it drives:
 1. pgbench clients looping capq_begin / statements / capq_assert_count /
    capq_end, each client checking its own exact count (a wrong count fails
    the transaction with P0004, which pgbench reports);
 2. sqlsmith (Debian's) generating random queries while a scope 'all'
    capture owned by another session records them; the capture is read back
    afterwards and must be readable, with lost = 0;
 3. kill -9 cycles: a backend is killed while a capture is active and
    statements run; the server must come back, capquery must work, and the
    capture ids must keep increasing;
 4. a list of hostile inputs to the capq_* functions, each of which must be
    refused with its documented SQLSTATE and leave the server responsive.
It prints what it drove and what it saw, and exits non-zero if anything
misbehaved (a crash in the log, a wrong count, an unreadable capture).
"""
import os
import re
import subprocess
import sys
import time

import psycopg2

CLIENTS = int(os.environ.get("SOAK_CLIENTS", "100"))
TRANSACTIONS = int(os.environ.get("SOAK_TRANSACTIONS", "200"))
SQLSMITH_QUERIES = int(os.environ.get("SOAK_SQLSMITH_QUERIES", "10000"))
KILL_CYCLES = int(os.environ.get("SOAK_KILL_CYCLES", "20"))
LOG = os.environ.get("SOAK_SERVER_LOG")
DB = "soak"
problems = []


def connect(db=DB, retries=60):
    for _ in range(retries):
        try:
            conn = psycopg2.connect(dbname=db)
            conn.autocommit = True
            return conn
        except psycopg2.OperationalError:
            time.sleep(0.5)
    raise RuntimeError("server did not come back")


def setup():
    conn = connect("postgres")
    cur = conn.cursor()
    cur.execute("DROP DATABASE IF EXISTS soak")
    cur.execute("CREATE DATABASE soak")
    conn.close()
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION capquery")
    cur.execute("CREATE TABLE panel (id int PRIMARY KEY, name text)")
    cur.execute("CREATE TABLE sensor (id int PRIMARY KEY, panel_id int REFERENCES panel, v float8)")
    cur.execute("INSERT INTO panel SELECT i, 'p' || i FROM generate_series(1, 1000) i")
    cur.execute("INSERT INTO sensor SELECT i, i % 1000 + 1, random() FROM generate_series(1, 20000) i")
    cur.execute("ANALYZE")
    # sqlsmith runs as a plain role: as a superuser it would call
    # capq_reset() or pg_terminate_backend() on the capture's owner
    cur.execute("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'smith')"
                " THEN CREATE ROLE smith LOGIN; END IF; END$$")
    cur.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON panel, sensor TO smith")
    conn.close()


def pgbench_clients():
    script = "/tmp/capq-soak.pgbench"
    with open(script, "w") as f:
        f.write("\\set p random(1, 1000)\n"
                "SELECT capq_begin();\n"
                "SELECT name FROM panel WHERE id = :p;\n"
                "SELECT count(*) FROM sensor WHERE panel_id = :p;\n"
                "UPDATE panel SET name = name WHERE id = :p;\n"
                "SELECT capq_assert_count(3);\n"
                "SELECT capq_end();\n")
    os.chmod(script, 0o644)
    t0 = time.monotonic()
    r = subprocess.run(["pgbench", "-n", "-c", str(CLIENTS), "-j", "2", "-t", str(TRANSACTIONS),
                        "-f", script, DB], capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    done = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    n = int(done.group(1)) if done else 0
    if r.returncode != 0 or n != CLIENTS * TRANSACTIONS or (failed and int(failed.group(1))):
        problems.append("pgbench: exit %d, %d transactions\n%s" % (r.returncode, n, r.stderr[-2000:]))
    return n, elapsed


def sqlsmith_under_capture():
    owner = connect()
    cur = owner.cursor()
    cur.execute("SELECT capq_begin('soak-sqlsmith', scope => 'all')")
    capture = cur.fetchone()[0]
    t0 = time.monotonic()
    r = subprocess.run(["sqlsmith", "--target=dbname=%s user=smith" % DB, "--seed=42",
                        "--max-queries=%d" % SQLSMITH_QUERIES, "--exclude-catalog"],
                       capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - t0
    cur.execute("SELECT capq_end()")
    statements = cur.fetchone()[0]
    cur.execute("SELECT lost FROM capq_sessions() WHERE capture = %s", (capture,))
    lost = cur.fetchone()[0]
    try:
        cur.execute("SELECT count(*) FROM capq_queries(%s)", (capture,))
        listed = cur.fetchone()[0]
        cur.execute("SELECT length(capq_snapshot(%s))", (capture,))
        cur.execute("SELECT count(*) FROM capq_summary(%s)", (capture,))
    except psycopg2.Error as e:
        listed = -1
        problems.append("reading the sqlsmith capture: %s" % e)
    if listed != statements and lost == 0:
        problems.append("sqlsmith capture: %d statements counted, %d listed" % (statements, listed))
    owner.close()
    return statements, lost, elapsed, r.returncode


def kill_cycles():
    ids = []
    for _ in range(KILL_CYCLES):
        owner = connect()
        cur = owner.cursor()
        cur.execute("SELECT capq_begin(scope => 'database')")
        ids.append(cur.fetchone()[0])
        victim = connect()
        vcur = victim.cursor()
        vcur.execute("SELECT pg_backend_pid()")
        pid = vcur.fetchone()[0]
        for i in range(50):
            vcur.execute("SELECT count(*) FROM sensor WHERE panel_id = %s", (i + 1,))
        subprocess.run(["kill", "-9", str(pid)], check=False)
        for c in (owner, victim):
            try:
                c.close()
            except Exception:
                pass
        time.sleep(1.0)
        check = connect()
        ccur = check.cursor()
        ccur.execute("SELECT capq_begin()")
        ccur.execute("SELECT 1")
        ccur.execute("SELECT capq_end()")
        if ccur.fetchone()[0] != 1:
            problems.append("after a crash, a capture of one statement counted wrong")
        check.close()
    if ids != sorted(set(ids)):
        problems.append("capture ids repeated across crashes: %s" % ids)
    return len(ids), ids


HOSTILE = [
    ("SELECT capq_phase(repeat('x', 33 * 1024 * 1024))", "22023", True),
    ("SELECT capq_begin(repeat('x', 100000))", "22023", False),
    ("SELECT capq_begin(scope => repeat('s', 10000000))", "22023", False),
    ("SELECT capq_begin(plans => 'sideways')", "22023", False),
    ("SELECT capq_count(kind => repeat('k', 10000000))", "22023", False),
    ("SELECT capq_assert_count(-1)", "22023", False),
    ("SELECT capq_assert_max(NULL)", "22004", False),
    ("SELECT capq_count(capture => -5)", "22023", False),
    ("SELECT capq_queries(9223372036854775807)", "42704", False),
    ("SELECT capq_end()", "55000", False),
    ("SELECT capq_phase('x')", "55000", False),
    ("SELECT capq_assert_no_repeats(-3)", "22023", False),
    ("SELECT capq_assert_snapshot(repeat('-- x\n', 1000000))", "P0004", True),
    ("SELECT capq_fingerprint(repeat('''', 1000001))", None, False),
    ("SELECT capq_fingerprint(repeat('(', 100000))", None, False),
]


def hostile_inputs():
    conn = connect()
    cur = conn.cursor()
    tried = 0
    for sql, state, needs_capture in HOSTILE:
        if needs_capture:
            cur.execute("SELECT capq_begin()")
            cur.execute("SELECT 1")
            if "snapshot" in sql:
                cur.execute("SELECT capq_end()")
        tried += 1
        got = None
        try:
            cur.execute(sql)
        except psycopg2.Error as e:
            got = e.pgcode
            if len(str(e)) > 200000:
                problems.append("%s: a %d-byte error message" % (sql[:60], len(str(e))))
        if state is not None and got != state:
            problems.append("%s: expected %s, got %s" % (sql[:60], state, got))
        if needs_capture and "snapshot" not in sql:
            cur.execute("SELECT capq_end()")
        cur.execute("SELECT 1")
    conn.close()
    return tried


def main():
    setup()
    n, secs = pgbench_clients()
    print("pgbench: %d clients x %d transactions = %d captures of 3 statements "
          "(%d statements, %d capq_* calls) in %.1f s, each count asserted exact"
          % (CLIENTS, TRANSACTIONS, n, 3 * n, 3 * n, secs))
    statements, lost, secs, rc = sqlsmith_under_capture()
    print("sqlsmith: %d random queries (seed 42) under a scope 'all' capture: "
          "%d statements captured, lost %d, read back whole; %.1f s (sqlsmith exit %d)"
          % (SQLSMITH_QUERIES, statements, lost, secs, rc))
    cycles, ids = kill_cycles()
    print("kill -9: %d cycles (a captured backend killed mid-capture, server reinitialized); "
          "capquery worked after each, ids %s" % (cycles, ids))
    print("hostile inputs: %d tried, each refused with its SQLSTATE, messages bounded"
          % hostile_inputs())
    if LOG and os.path.exists(LOG):
        with open(LOG, errors="replace") as f:
            text = f.read()
        signals = re.findall(r"terminated by signal (\d+)", text)
        unexpected = [s for s in signals if s != "9"]
        print("server log: %d backends ended by signal 9 (the kill cycles), %d by any other signal"
              % (signals.count("9"), len(unexpected)))
        if unexpected or "PANIC" in text or "TRAP:" in text:
            problems.append("crash in the server log: signals %s" % unexpected)
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
