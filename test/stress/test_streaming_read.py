"""Readers stream a capture: they copy one chunk of the ring at a time.

* Readers whose output does not grow with the capture (capq_queries, whose
  tuplestore spills past work_mem; capq_summary; capq_assert_no_repeats;
  capq_report) hold a chunk of it, not a copy: on a capture of about 150 MB
  of statement text, the reading backend's peak resident memory (VmHWM)
  exceeds the shared and file pages it has mapped by less than 64 MB.
  Readers used to copy the whole capture first, 150 MB and more.
* A chunked read still attaches what the ring holds far from its statement
  (more than a chunk later): the plan and the error message of a statement
  that ran hundreds of nested ones, and the phase names; the repeated-shape
  examples of an assertion come from a second read of the capture.
"""
import psycopg2
import pytest

from stress_helpers import connect, own_server

STATEMENTS = 1500
TEXT_BYTES = 100 * 1024
MAX_EXCESS_MB = 64


def status_kb(pid):
    """The kB fields of a process's /proc status (VmHWM, RssAnon, ...)."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                fields[key] = int(value.split()[0])
    return fields


@pytest.fixture(scope="module")
def large_capture():
    """A server with a 256 MB ring holding a capture of STATEMENTS
    statements of TEXT_BYTES each, every text distinct (one shape)."""
    with own_server("capquery.buffer_size = '256MB'\n", prefix="capq-stream-") as (conn, connect_own):
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION capquery")
        cur.execute("SET capquery.max_query_length = %s", (2 * TEXT_BYTES,))
        cur.execute("SELECT capq_begin('large')")
        pad = "x" * TEXT_BYTES
        for i in range(STATEMENTS):
            cur.execute("SELECT length('%d%s')" % (i, pad))
        cur.execute("SELECT capq_end()")
        cur.execute("SELECT capture, statements, lost FROM capq_sessions() WHERE label = 'large'")
        capture, statements, lost = cur.fetchone()
        assert (statements, lost) == (STATEMENTS, 0)
        yield capture, connect_own


@pytest.mark.parametrize("sql, expected", [
    ("SELECT count(*) FROM capq_queries(%s)", STATEMENTS),
    ("SELECT count(*) FROM capq_summary(%s)", 1),
    ("SELECT 1 FROM (SELECT capq_assert_no_repeats(1000000, %s)) AS a", 1),
    ("SELECT length(capq_report(%s, 'html')) > 0", True),
])
def test_reader_memory_is_bounded_by_its_output(large_capture, sql, expected):
    capture, connect_own = large_capture
    conn = connect_own()
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    idle = status_kb(pid)
    cur.execute(sql, (capture,))
    assert cur.fetchone()[0] == expected
    after = status_kb(pid)
    conn.close()
    # shared (the ring) and file pages only grow while it reads: at its
    # peak the backend held at least this much memory of its own
    excess_mb = (after["VmHWM"] - after["RssShmem"] - after["RssFile"] - idle["RssAnon"]) / 1024
    assert excess_mb < MAX_EXCESS_MB, (
        "%s: %.0f MB of backend memory at its peak reading %d MB of statements"
        % (sql % capture, excess_mb, STATEMENTS * TEXT_BYTES // (1024 * 1024)))


@pytest.fixture
def nested_capture():
    """Two phases, each one statement that runs 300 nested ones of 1 kB
    (the second then fails): its plan and error follow them in the ring,
    far more than a read chunk (64 kB) after the statement itself."""
    conn = connect()
    cur = conn.cursor()
    # (not named capq_*: statements calling those are capquery's own)
    cur.execute("""
        CREATE OR REPLACE FUNCTION stream_work(n int, fail boolean) RETURNS int
        LANGUAGE plpgsql AS $$
        DECLARE
            pad text := repeat('p', 1000);
            s int;
        BEGIN
            FOR i IN 1..n LOOP
                EXECUTE 'SELECT length(' || quote_literal(pad || i) || ')' INTO s;
            END LOOP;
            IF fail THEN
                RAISE EXCEPTION 'stream boom';
            END IF;
            RETURN n;
        END $$""")
    cur.execute("SET capquery.track = 'all'")
    cur.execute("SELECT capq_begin(plans => 'on')")
    cur.execute("SELECT capq_phase('first phase')")
    cur.execute("SELECT stream_work(300, false)")
    cur.execute("SELECT capq_phase('second phase')")
    with pytest.raises(psycopg2.errors.RaiseException):
        cur.execute("SELECT stream_work(300, true)")
    cur.execute("SELECT 1 AS last")
    cur.execute("SELECT capq_end()")
    yield cur
    cur.execute("DROP FUNCTION stream_work(int, boolean)")
    conn.close()


def test_chunked_read_attaches_plans_errors_and_phase_names(nested_capture):
    cur = nested_capture
    cur.execute("SELECT capq_count()")
    count = cur.fetchone()[0]
    cur.execute("""
        SELECT seq, phase, phase_name, nesting, query, plan IS NOT NULL,
               error, error_message
        FROM capq_queries() ORDER BY seq""")
    rows = cur.fetchall()
    assert len(rows) == count == 603
    assert [r[0] for r in rows] == list(range(1, count + 1))
    outer = {r[4]: r for r in rows if r[3] == 0}
    ok = outer["SELECT stream_work(300, false)"]
    assert ok[1:3] == (2, "first phase") and ok[5] is True and ok[6] is None
    failed = outer["SELECT stream_work(300, true)"]
    assert failed[1:3] == (3, "second phase")
    assert failed[6:8] == ("P0001", "stream boom")
    assert outer["SELECT 1 AS last"][1:3] == (3, "second phase")
    nested = [r for r in rows if r[3] == 1]
    assert len(nested) == 600
    assert all(r[5] for r in nested), "every nested statement has its plan"
    assert {(r[1], r[2]) for r in nested} == {(2, "first phase"), (3, "second phase")}

    cur.execute("SELECT capq_report(NULL, 'text')")
    report = cur.fetchone()[0]
    assert "error P0001: stream boom" in report


def test_assertion_examples_come_from_a_second_read(nested_capture):
    cur = nested_capture
    with pytest.raises(psycopg2.errors.AssertFailure) as failure:
        cur.execute("SELECT capq_assert_no_repeats(10)")
    detail = failure.value.diag.message_detail
    assert failure.value.diag.message_primary.startswith("statement shape ")
    assert "300 executions in phase 2" in detail and "300 executions in phase 3" in detail
    assert detail.count("\n  example: ") == 6, detail
    with pytest.raises(psycopg2.errors.AssertFailure) as failure:
        cur.execute("SELECT capq_assert_count(1)")
    assert "Statement shape repeated 300 times in phase 2" in failure.value.diag.message_hint
    assert failure.value.diag.message_detail.startswith("Captured statements:\n1. [phase 2 \"first phase\"]")
