"""bin/capquery-tmpdb: start/env/stop, run, two at once, a parent killed with
SIGKILL, and how long a start takes (reported, not asserted).

Every server here is real: the tests connect over the printed socket
directory and over the printed TCP URI, and check the process, the System V
segment and the directory after the server should be gone.
"""
import os
import shlex
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest

from conftest import TIMINGS, TMPDB, bindir


def tmpdb(env, *args, check=True):
    return subprocess.run([str(TMPDB), *args], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=check)


def parse_exports(text):
    env = {}
    for line in text.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        env.update(w.split("=", 1) for w in words[1:])
    return env


def start(env, *args):
    proc = tmpdb(env, "start", "--bindir", bindir(), "--parent", str(os.getpid()), *args)
    return parse_exports(proc.stdout)


def query(dsn_or_kwargs, sql):
    kwargs = {"dsn": dsn_or_kwargs} if isinstance(dsn_or_kwargs, str) else dsn_or_kwargs
    conn = psycopg2.connect(**kwargs)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def socket_kwargs(e, dbname=None):
    return {"host": e["PGHOST"], "port": e["PGPORT"], "user": e["PGUSER"],
            "dbname": dbname or e["PGDATABASE"]}


def postmaster(directory):
    """(pid, System V shared memory id) from postmaster.pid."""
    with open(os.path.join(directory, "data", "postmaster.pid")) as f:
        lines = f.read().splitlines()
    return int(lines[0]), lines[6].split()[1]


def alive(pid):
    """pid runs (a zombie does not: under test/run-all.sh, timeout(1) may be
    the subreaper that inherits the server and reaps it only at its end)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def shm_exists(shmid):
    out = subprocess.run(["ipcs", "-m"], stdout=subprocess.PIPE, universal_newlines=True).stdout
    return any(line.split()[1:2] == [shmid] for line in out.splitlines())


def gone(directory, pid, shmid, timeout=15):
    """Wait until the server, its segment and its directory are all gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(directory) and not alive(pid) and not shm_exists(shmid):
            return True
        time.sleep(0.1)
    return False


def test_start_env_stop(tmpdb_env):
    e = start(tmpdb_env, "--conf", "work_mem = '7MB'")
    d = e["CAPQUERY_TMPDB"]
    try:
        assert e["PGHOST"] == d and e["PGUSER"] == "postgres" and e["PGDATABASE"] == "postgres"
        assert d.startswith("/dev/shm/") or not os.access("/dev/shm", os.W_OK)
        assert e["CAPQUERY_URI"] == "postgresql://postgres@127.0.0.1:%s/postgres" % e["PGPORT"]
        pid, _ = postmaster(d)
        if os.geteuid() == 0:
            assert os.stat("/proc/%d" % pid).st_uid == os.stat(d).st_uid != 0   # runs as postgres

        rows = query(socket_kwargs(e), """
            SELECT current_setting('shared_preload_libraries'), current_setting('fsync'),
                   current_setting('synchronous_commit'), current_setting('full_page_writes'),
                   current_setting('work_mem'), current_setting('data_directory'),
                   (SELECT extversion FROM pg_extension WHERE extname = 'capquery')""")
        preload, fsync, sync, fpw, work_mem, datadir, ext = rows[0]
        assert (preload, fsync, sync, fpw, work_mem) == ("capquery", "off", "off", "off", "7MB")
        assert datadir == os.path.join(d, "data") and ext is not None

        # the TCP URI works, and a new database has capquery too (template1)
        assert query(e["CAPQUERY_URI"], "SELECT host(inet_server_addr())")[0][0] == "127.0.0.1"
        query(e["CAPQUERY_URI"], "CREATE DATABASE other")
        conn = psycopg2.connect(**socket_kwargs(e, "other"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT capq_begin()")
            cur.execute("SELECT 1")
            cur.execute("SELECT capq_end()")
            assert cur.fetchone()[0] == 1
        conn.close()

        assert parse_exports(tmpdb(tmpdb_env, "env", d).stdout) == e
        assert parse_exports(tmpdb(dict(tmpdb_env, CAPQUERY_TMPDB=d), "env").stdout) == e
    finally:
        pid, shmid = postmaster(d)
        tmpdb(tmpdb_env, "stop", d)
    assert not os.path.exists(d)
    assert not alive(pid) and not shm_exists(shmid)


def test_stop_refuses_a_foreign_directory(tmpdb_env, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    proc = tmpdb(tmpdb_env, "stop", str(tmp_path), check=False)
    assert proc.returncode != 0 and "not a capquery-tmpdb directory" in proc.stderr
    assert (tmp_path / "keep.txt").exists()


def test_run_passes_variables_and_status_and_cleans_up(tmpdb_env, tmp_path):
    script = ('psql -XAt -c "SELECT current_setting(\'shared_preload_libraries\')" '
              '&& echo "dir=$CAPQUERY_TMPDB uri=$CAPQUERY_URI" && exit 3')
    proc = subprocess.run([str(TMPDB), "run", "--bindir", bindir(), "--", "bash", "-c", script],
                          env=dict(tmpdb_env, PATH=bindir() + os.pathsep + tmpdb_env["PATH"]),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 3, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == "capquery"
    d = second.split()[0].split("=", 1)[1]
    assert "uri=postgresql://postgres@127.0.0.1:" in second
    assert not os.path.exists(d)


def test_two_started_at_once_do_not_collide(tmpdb_env):
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: start(tmpdb_env), range(2))
    try:
        assert a["CAPQUERY_TMPDB"] != b["CAPQUERY_TMPDB"] and a["PGPORT"] != b["PGPORT"]
        query(socket_kwargs(a), "CREATE TABLE only_in_a ()")
        assert query(e_uri(b), "SELECT to_regclass('only_in_a') IS NULL")[0][0] is True
        assert query(e_uri(a), "SELECT to_regclass('only_in_a') IS NOT NULL")[0][0] is True
    finally:
        tmpdb(tmpdb_env, "stop", a["CAPQUERY_TMPDB"])
        tmpdb(tmpdb_env, "stop", b["CAPQUERY_TMPDB"])


def e_uri(e):
    return e["CAPQUERY_URI"]


def test_parent_killed_leaves_nothing(tmpdb_env):
    """A shell that eval's start's output, then dies of SIGKILL: the watcher
    stops the server and removes the directory (default --parent: the shell)."""
    shell = subprocess.Popen(
        ["bash", "-c", 'eval "$("$0" start --bindir "$1")" && echo "$CAPQUERY_TMPDB" && exec sleep 300',
         str(TMPDB), bindir()],
        env=tmpdb_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, universal_newlines=True)
    try:
        d = shell.stdout.readline().strip()
        assert d, "start failed"
        pid, shmid = postmaster(d)
        assert alive(pid) and shm_exists(shmid)
        time.sleep(0.5)
        assert alive(pid), "the server must live as long as its parent"
    finally:
        shell.send_signal(signal.SIGKILL)
        shell.wait()
    assert gone(d, pid, shmid), "server %d, segment %s or %s left behind" % (pid, shmid, d)


def test_run_killed_leaves_nothing(tmpdb_env, tmp_path):
    """run itself killed with SIGKILL (its trap cannot run): the watcher cleans up."""
    marker = tmp_path / "dir"
    proc = subprocess.Popen([str(TMPDB), "run", "--bindir", bindir(), "--", "bash", "-c",
                             'echo "$CAPQUERY_TMPDB $$" >"$0.tmp" && mv "$0.tmp" "$0" && exec sleep 300',
                             str(marker)],
                            env=tmpdb_env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sleeper = None
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        d, sleeper = marker.read_text().split()
        pid, shmid = postmaster(d)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if sleeper:                  # run's child, orphaned by the SIGKILL
            os.kill(int(sleeper), signal.SIGKILL)
    assert gone(d, pid, shmid), "server %d, segment %s or %s left behind" % (pid, shmid, d)


def test_start_times_reported(tmp_path_factory, tmpdb_env):
    """First start (builds the template into an empty cache) against repeated
    starts (copy it).  The figures are printed at the end of the session."""
    env = dict(tmpdb_env, CAPQUERY_TMPDB_CACHE=str(tmp_path_factory.mktemp("cold-cache")))
    times = []
    for _ in range(4):
        t0 = time.monotonic()
        e = start(env)
        times.append(time.monotonic() - t0)
        query(socket_kwargs(e), "SELECT capq_begin(); SELECT capq_end()")
        tmpdb(env, "stop", e["CAPQUERY_TMPDB"])
    cache = [n for n in os.listdir(env["CAPQUERY_TMPDB_CACHE"]) if not n.startswith(".")]
    assert len(cache) == 1, cache          # one template, reused
    TIMINGS.append("first start (template built): %.2f s; repeated starts: %s s"
                   % (times[0], ", ".join("%.2f" % t for t in times[1:])))


def test_missing_capquery_is_explained(tmpdb_env, tmp_path):
    """PostgreSQL binaries with no capquery installed next to them."""
    fake = tmp_path / "15" / "bin"
    fake.mkdir(parents=True)
    for name in ("postgres", "initdb", "pg_ctl"):
        (fake / name).symlink_to(os.path.join(bindir(), name))
    proc = tmpdb(tmpdb_env, "start", "--bindir", str(fake), "--parent", str(os.getpid()), check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "capquery is not installed for %s" % fake in proc.stderr
    assert "make && make install" in proc.stderr
    assert "building the template" not in proc.stderr      # it stops there
