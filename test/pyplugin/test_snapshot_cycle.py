"""The snapshot cycle, for real: pytest runs a small test module in a
subprocess (as a user's suite would run) and the files under
__capquery_snapshots__ are checked after each run.

  1. first run: the file is written, the test passes
  2. second run: compared by the server, passes, file untouched
  3. the workload changes: fails with the server's message and unified diff
  4. --capquery-update: rewrites the file, passes; the next plain run passes
  5. a snapshot file with no test is reported at the end of the session
"""
import os
import re
import subprocess
import sys
import textwrap

from conftest import CLIENTS, REPO, bindir

MODULE = textwrap.dedent('''
    import os

    def test_panels(capquery, capquery_server):
        conn = capquery_server.connect()
        cur = conn.cursor()
        with capquery.capture(conn) as cap:
            cur.execute("SELECT 1 AS panel")
            cap.phase("sensors")
            for panel in range(int(os.environ.get("CYCLE_PANELS", "2"))):
                cur.execute("SELECT %s AS sensor", (panel,))
        cap.assert_snapshot()
        conn.close()

    def test_named(capquery, capquery_server):
        conn = capquery_server.connect()
        with capquery.capture(conn) as cap:
            conn.cursor().execute("SELECT 'named'")
        cap.assert_snapshot(name="only")
        conn.close()
''')


def test_snapshot_cycle(run_pytest, tmp_path):
    (tmp_path / "test_cycle.py").write_text(MODULE)
    snap = tmp_path / "__capquery_snapshots__" / "test_cycle" / "test_panels.sql"
    named = tmp_path / "__capquery_snapshots__" / "test_cycle" / "test_named.only.sql"

    # 1. first run writes
    rc, out = run_pytest()
    assert rc == 0, out
    assert "new: __capquery_snapshots__/test_cycle/test_panels.sql" in out
    assert named.exists()
    first = snap.read_text()
    assert first.count("-- CAPQUERY: Query") == 3
    assert "-- PHASE: 2 (sensors)" in first and "SELECT $1 AS sensor" in first

    # 2. second run compares and passes, writing nothing
    rc, out = run_pytest()
    assert rc == 0, out
    assert "snapshots written" not in out
    assert snap.read_text() == first

    # 3. a changed workload fails with the server's diff
    rc, out = run_pytest(extra_env={"CYCLE_PANELS": "3"})
    assert rc == 1, out
    assert "1 failed, 1 passed" in out
    assert "CapqueryAssertionError: snapshot differs" in out or "snapshot" in out
    assert "--- expected" in out and "+++ captured" in out
    assert "+-- CAPQUERY: Query 4" in out
    assert "--capquery-update" in out           # where to accept it
    assert snap.read_text() == first

    # 4. --capquery-update rewrites; the plain run then passes
    rc, out = run_pytest("--capquery-update", extra_env={"CYCLE_PANELS": "3"})
    assert rc == 0, out
    assert "updated: __capquery_snapshots__/test_cycle/test_panels.sql" in out
    assert snap.read_text().count("-- CAPQUERY: Query") == 4
    rc, out = run_pytest(extra_env={"CYCLE_PANELS": "3"})
    assert rc == 0, out

    # 5. stale files: a test that is gone, and a whole module that is gone
    (snap.parent / "test_removed.sql").write_text("-- old\n")
    gone_module = tmp_path / "__capquery_snapshots__" / "test_deleted_module"
    gone_module.mkdir()
    (gone_module / "test_x.sql").write_text("-- old\n")
    rc, out = run_pytest(extra_env={"CYCLE_PANELS": "3"})
    assert rc == 0, out
    assert "stale: __capquery_snapshots__/test_cycle/test_removed.sql" in out
    assert "stale: __capquery_snapshots__/test_deleted_module/test_x.sql" in out
    assert "test_panels.sql" not in out.split("stale snapshots")[1]

    # a deselected test's snapshot is not stale
    rc, out = run_pytest("-k", "test_panels", extra_env={"CYCLE_PANELS": "3"})
    assert rc == 0, out
    assert "test_named.only.sql" not in out


def test_failure_text_is_the_servers(run_pytest, tmp_path):
    """The assertion message pytest prints is the server's, not a summary."""
    (tmp_path / "test_fail.py").write_text(textwrap.dedent('''
        def test_n_plus_one(capquery, capquery_server):
            conn = capquery_server.connect()
            with capquery.capture(conn) as cap:
                for panel in range(3):
                    conn.cursor().execute("SELECT %s AS sensor", (panel,))
            cap.assert_max(1)
    '''))
    rc, out = run_pytest()
    assert rc == 1, out
    # the traceback stops at the test's own line, then the server's text
    assert ">       cap.assert_max(1)" in out
    assert "capture.py" not in out
    assert re.search(r"^E +capquery_pytest\.capture\.CapqueryAssertionError: "
                     r"expected at most 1 statement, captured 3\n"
                     r"E +DETAIL:  Captured statements:\n"
                     r"E +1\. \[phase 1\] SELECT 0 AS sensor\n", out, re.M), out
    assert re.search(r"^E +HINT:  Statement shape repeated 3 times in phase 1 \(a likely N\+1\): "
                     r"SELECT \$1 AS sensor$", out, re.M), out


def test_one_disposable_server_per_xdist_worker(run_pytest, tmp_path):
    """With pytest-xdist each worker is its own session, so its own server."""
    pytest = __import__("pytest")
    pytest.importorskip("xdist")
    (tmp_path / "test_workers.py").write_text(textwrap.dedent('''
        import os
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_server(capquery_server, n):
            assert capquery_server.tmpdb_dir
            conn = capquery_server.connect()
            with conn.cursor() as cur:
                cur.execute("SELECT current_setting('data_directory')")
                line = "WORKER %s SERVER %s\\n" % (os.environ["PYTEST_XDIST_WORKER"], cur.fetchone()[0])
            conn.close()
            with open("servers.txt", "a") as f:
                f.write(line)
    '''))
    rc, out = run_pytest("-n", "2", server="tmpdb")
    assert rc == 0, out
    pairs = set(re.findall(r"WORKER (gw\d) SERVER (\S+)", (tmp_path / "servers.txt").read_text()))
    assert {w for w, _ in pairs} == {"gw0", "gw1"}, out
    assert len({s for _, s in pairs}) == 2, out          # one data directory per worker
    for _, datadir in pairs:
        assert not os.path.exists(datadir)               # each stopped with its session


def test_readme_example(tmp_path, tmpdb_env):
    """The README's example, laid out as the README says (pytest.ini with
    pythonpath, conftest.py with pytest_plugins), on a disposable server."""
    readme = (REPO / "README.md").read_text()
    code = re.search(r"```python\n(# test_sensors\.py\n.*?)```", readme, re.S).group(1)
    shown = re.search(r"```\n(>       cap\.assert_max\(1\)\n.*?)\n\.\.\.\n", readme, re.S).group(1)
    (tmp_path / "pytest.ini").write_text("[pytest]\npythonpath = %s\n" % CLIENTS)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["capquery_pytest"]\n')
    (tmp_path / "test_sensors.py").write_text(code)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--capquery-bindir=" + bindir()],
                          cwd=str(tmp_path), env=tmpdb_env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    out = proc.stdout
    assert proc.returncode == 1 and "1 failed, 1 passed" in out, out
    assert shown in out, out
    assert "new: __capquery_snapshots__/test_sensors/test_eager.sql" in out
    assert (tmp_path / "__capquery_snapshots__" / "test_sensors" / "test_eager.sql").exists()
