"""Several backends capturing at the same time, each through its own
connection, on the one shared ring of a preloaded capquery.

What must hold however the backends interleave: a capture of scope 'backend'
holds exactly its own backend's statements, in order, numbered 1..n without
gaps, and begin/end in a loop leaves nothing active behind.
"""
import threading
import time

from stress_helpers import connect

WORKERS = 8           # concurrent backends (>= 4)
STATEMENTS = 2000     # statements per backend in the interleaved test
SHORT_WORKERS = 6
SHORT_LOOPS = 200     # short captures per backend
TIMEOUT = 120         # seconds any barrier waits before the test fails


def run_workers(count, target):
    """Run target(k) in count threads; re-raise the first failure."""
    errors = []

    def guarded(k):
        try:
            target(k)
        except BaseException as e:          # noqa: BLE001 - reported below
            errors.append((k, e))
            for b in barriers_of(target):
                b.abort()

    threads = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(count)]
    for t in threads:
        t.start()
    return threads, errors


def barriers_of(target):
    return getattr(target, "barriers", ())


def join(threads, errors):
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a worker thread hung"
    if errors:
        k, e = errors[0]
        raise AssertionError("worker %d failed: %r" % (k, e)) from e


def test_interleaved_captures_hold_only_their_own_statements(monitor):
    half = STATEMENTS // 2
    start = threading.Barrier(WORKERS)
    midway = threading.Barrier(WORKERS + 1)     # + the monitor
    resume = threading.Barrier(WORKERS + 1)
    results = {}

    def worker(k):
        conn = connect()
        try:
            cur = conn.cursor()
            cur.execute("SELECT pg_backend_pid()")
            (pid,) = cur.fetchone()
            start.wait(TIMEOUT)
            cur.execute("SELECT capq_begin(%s)", ("stress-interleaved-%d" % k,))
            (cap,) = cur.fetchone()
            results[k] = {"pid": pid, "cap": cap}
            for i in range(STATEMENTS):
                if i == half:
                    midway.wait(TIMEOUT)       # every capture is half-way ...
                    resume.wait(TIMEOUT)       # ... while the monitor looks
                # distinct text per worker and statement
                cur.execute("SELECT %d AS worker, %d AS i" % (k, i))
                assert cur.fetchone() == (k, i)
            cur.execute("SELECT capq_end()")
            results[k]["ended"] = cur.fetchone()[0]
            cur.execute("SELECT capture, seq, pid, kind, query, rows FROM capq_queries()")
            results[k]["entries"] = cur.fetchall()
        finally:
            conn.close()

    worker.barriers = (start, midway, resume)
    threads, errors = run_workers(WORKERS, worker)

    # Half-way: all captures are active at the same moment, and each has
    # counted exactly the statements its own backend has run so far.
    try:
        midway.wait(TIMEOUT)
    except threading.BrokenBarrierError:
        join(threads, errors)
        raise
    try:
        monitor.execute("SELECT capture, owner_pid, scope, state, statements, lost "
                        "FROM capq_sessions() WHERE capture = ANY(%s)",
                        ([r["cap"] for r in results.values()],))
        sessions = {row[0]: row[1:] for row in monitor.fetchall()}
    finally:
        resume.wait(TIMEOUT)
    join(threads, errors)

    assert len({r["pid"] for r in results.values()}) == WORKERS
    assert len({r["cap"] for r in results.values()}) == WORKERS, "capture ids must be unique"
    for k, r in sorted(results.items()):
        assert sessions[r["cap"]] == (r["pid"], "backend", "active", half, 0), k

    for k, r in sorted(results.items()):
        entries = r["entries"]
        assert r["ended"] == STATEMENTS, k
        assert len(entries) == STATEMENTS, k
        assert [e[1] for e in entries] == list(range(1, STATEMENTS + 1)), \
            "worker %d: seq not 1..n contiguous" % k
        assert {e[0] for e in entries} == {r["cap"]}, k
        assert {e[2] for e in entries} == {r["pid"]}, "worker %d: foreign pid" % k
        assert {e[3] for e in entries} == {"select"}, k
        assert [e[4].strip() for e in entries] == \
            ["SELECT %d AS worker, %d AS i" % (k, i) for i in range(STATEMENTS)], \
            "worker %d: statements missing, foreign or out of order" % k
        assert {e[5] for e in entries} == {1}, k


def test_many_short_captures_leak_nothing(monitor):
    start = threading.Barrier(SHORT_WORKERS)
    conns = {k: connect() for k in range(SHORT_WORKERS)}
    pids = {}
    caps = {k: [] for k in range(SHORT_WORKERS)}
    expected = {}

    def worker(k):
        cur = conns[k].cursor()
        cur.execute("SELECT pg_backend_pid()")
        pids[k] = cur.fetchone()[0]
        start.wait(TIMEOUT)
        for j in range(SHORT_LOOPS):
            n = 1 + (7 * j + k) % 5            # 1..5 statements, varying
            cur.execute("SELECT capq_begin(%s)", ("short-%d-%d" % (k, j),))
            (cap,) = cur.fetchone()
            for s in range(n):
                if s == 1 and j % 3 == 0:
                    cur.execute("SELECT capq_phase('second')")
                cur.execute("SELECT %d, %d, %d" % (k, j, s))
            cur.execute("SELECT capq_count(), capq_count('select')")
            assert cur.fetchone() == (n, n), (k, j)
            cur.execute("SELECT capq_end()")
            assert cur.fetchone()[0] == n, (k, j)
            # read back after the end: the capture ended last, complete.
            # KNOWN BUG (reported, 04cfe2e): fails intermittently with 53400
            # "capture N is no longer retained": ended captures share one
            # cluster-wide pool of capquery.max_captures (64) slots reused
            # oldest first, so while this thread waits for the GIL the other
            # backends can begin 64 captures and evict the one this backend
            # just ended.  Deterministic repro: the test below.
            cur.execute("SELECT capq_count()")
            assert cur.fetchone()[0] == n, (k, j)
            if j % 20 == 0:
                cur.execute("SELECT seq, query FROM capq_queries()")
                assert [(s, q.strip()) for s, q in cur.fetchall()] == \
                    [(s + 1, "SELECT %d, %d, %d" % (k, j, s)) for s in range(n)], (k, j)
            caps[k].append(cap)
            expected[cap] = n

    worker.barriers = (start,)
    try:
        threads, errors = run_workers(SHORT_WORKERS, worker)
        join(threads, errors)

        all_caps = [c for k in caps for c in caps[k]]
        assert len(all_caps) == SHORT_WORKERS * SHORT_LOOPS
        assert len(set(all_caps)) == len(all_caps), "capture ids must be unique"

        # With the backends still connected: none of them has an active capture.
        monitor.execute("SELECT capture, owner_pid, state, statements, lost FROM capq_sessions() "
                        "WHERE owner_pid = ANY(%s)", (list(pids.values()),))
        sessions = monitor.fetchall()
        active = [s for s in sessions if s[2] != "ended"]
        assert active == [], "captures left active: %r" % active[:10]
        # Every capture still listed is one of ours, with its exact count.
        for cap, owner, state, statements, lost in sessions:
            assert cap in expected, cap
            assert (statements, lost) == (expected[cap], 0), cap

        # Each backend can still capture normally.
        for k, conn in conns.items():
            cur = conn.cursor()
            cur.execute("SELECT capq_begin()")
            cur.execute("SELECT 'after %d'" % k)
            cur.execute("SELECT capq_end()")
            assert cur.fetchone()[0] == 1
    finally:
        for conn in conns.values():
            conn.close()


def test_backend_exiting_mid_capture_leaves_no_active_capture(monitor):
    """A connection that goes away without capq_end() (a crashed test, a
    killed worker) must not leave its capture active forever."""
    conns = [connect() for _ in range(4)]
    caps = []
    for k, conn in enumerate(conns):
        cur = conn.cursor()
        cur.execute("SELECT capq_begin(%s)", ("abandoned-%d" % k,))
        caps.append(cur.fetchone()[0])
        for i in range(10):
            cur.execute("SELECT %d, %d" % (k, i))
    monitor.execute("SELECT count(*) FROM capq_sessions() WHERE capture = ANY(%s) "
                    "AND state = 'active'", (caps,))
    assert monitor.fetchone()[0] == len(caps)
    for conn in conns:
        conn.close()

    deadline = time.monotonic() + 10
    while True:
        monitor.execute("SELECT capture, state FROM capq_sessions() WHERE capture = ANY(%s) "
                        "AND state = 'active'", (caps,))
        still = monitor.fetchall()
        if not still or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert still == [], "captures of exited backends still active: %r" % still


def test_ended_capture_stays_readable_while_other_backends_capture():
    """The contract: with no id, capq_count() and friends read this backend's
    active capture "or else the one it ended most recently".  Other backends
    beginning many captures must not take that away.

    KNOWN BUG (reported, 04cfe2e): the other backend's captures reuse the
    slot of A's ended capture (oldest ended first, capquery.max_captures = 64
    slots for the whole cluster), and A's read fails with 53400 "capture N is
    no longer retained".
    """
    a, b = connect(), connect()
    try:
        ca, cb = a.cursor(), b.cursor()
        ca.execute("SELECT capq_begin('kept')")
        cap = ca.fetchone()[0]
        ca.execute("SELECT 'mine 1'")
        ca.execute("SELECT 'mine 2'")
        ca.execute("SELECT capq_end()")
        assert ca.fetchone()[0] == 2

        cb.execute("SHOW capquery.max_captures")
        others = int(cb.fetchone()[0]) + 1
        for j in range(others):
            cb.execute("SELECT capq_begin()")
            cb.execute("SELECT 'other %d'" % j)
            cb.execute("SELECT capq_end()")

        ca.execute("SELECT capq_count(), capq_count('select')")
        assert ca.fetchone() == (2, 2)
        ca.execute("SELECT capture, seq, query FROM capq_queries()")
        assert ca.fetchall() == [(cap, 1, "SELECT 'mine 1'"), (cap, 2, "SELECT 'mine 2'")]
    finally:
        a.close()
        b.close()
