"""Fixtures for the tests of bin/capquery-tmpdb and of capquery_pytest.

In-process tests use the plugin's capquery_server fixture, which here is the
harness's server (test/run-all.sh exports PGHOST/PGPORT/PGDATABASE, a
database with capquery).  Tests that need a disposable server or a second
pytest run start them as subprocesses, with a template cache private to this
session and the PostgreSQL binaries the harness installed capquery into.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["capquery_pytest"]

REPO = Path(__file__).resolve().parents[2]
TMPDB = REPO / "bin" / "capquery-tmpdb"
CLIENTS = REPO / "clients" / "python"
# start times measured by test_tmpdb.py, printed at the end of the session
TIMINGS = []


def bindir():
    """PostgreSQL's binaries with capquery installed: the harness's."""
    return os.environ.get("PGTEMP_BINDIR") or "/usr/lib/postgresql/15/bin"


@pytest.fixture(scope="session")
def tmpdb_cache(tmp_path_factory):
    """A template cache for this session only (the first start builds it)."""
    return tmp_path_factory.mktemp("tmpdb-cache")


@pytest.fixture
def tmpdb_env(tmpdb_cache):
    """Environment for running bin/capquery-tmpdb: no libpq variables, the
    session's cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "CAPQUERY_TMPDB"}
    env["CAPQUERY_TMPDB_CACHE"] = str(tmpdb_cache)
    return env


@pytest.fixture
def run_pytest(tmp_path, tmpdb_env):
    """Run pytest with capquery_pytest on a directory in a subprocess;
    returns (exit code, output).  server='env' uses the harness's server,
    'tmpdb' a disposable one."""
    def run(*args, server="env", extra_env=None, cwd=None):
        env = dict(os.environ) if server == "env" else dict(tmpdb_env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CLIENTS), str(cwd or tmp_path),
                                                          env.get("PYTHONPATH")]))
        env.update(extra_env or {})
        cmd = [sys.executable, "-m", "pytest", "-p", "capquery_pytest", "-p", "no:cacheprovider",
               "-rA", "--capquery-bindir", bindir(), *args]
        proc = subprocess.run(cmd, cwd=str(cwd or tmp_path), env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=300)
        return proc.returncode, proc.stdout
    return run


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_sep("-", "capquery-tmpdb start times (reported, not asserted)")
        for line in TIMINGS:
            terminalreporter.write_line(line)
