"""The example snapshot suite (examples/snapshot-suite) works as its README
says: run.sh passes against the test instance; a workload that sends one
more statement fails with a diff showing it; run.sh --update approves the new
output, after which the suite passes again.

The suite is copied to a temporary directory first, so the repository's
expected/ is never touched, and runs in a database of its own, dropped
afterwards.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from capq_helpers import connect

SUITE = Path(__file__).resolve().parents[2] / "examples" / "snapshot-suite"
DB = "capq_example_suite"
PG_CONFIG = "/usr/lib/postgresql/15/bin/pg_config"

# the deliberate regression: a lazy load of the panel's sensors, after the
# eager one
EAGER_LOAD = "  FROM sensors WHERE sensors.panel_id IN (1) ORDER BY sensors.id;\n"
EXTRA_LAZY_LOAD = "SELECT sensors.id, sensors.panel_id, sensors.kind FROM sensors WHERE sensors.panel_id = 1;\n"


@pytest.fixture
def suite(tmp_path):
    copy = tmp_path / "snapshot-suite"
    shutil.copytree(SUITE, copy, ignore=shutil.ignore_patterns(
        "results", "regression.diffs", "regression.out"))
    yield copy
    conn = connect()
    conn.cursor().execute("DROP DATABASE IF EXISTS %s" % DB)
    conn.close()


def run(suite, *args):
    env = dict(os.environ, CAPQ_SUITE_DB=DB)
    if os.path.exists(PG_CONFIG):
        env["PG_CONFIG"] = PG_CONFIG
    proc = subprocess.run(["bash", str(suite / "run.sh"), *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    return proc.returncode, proc.stdout


def test_the_example_suite_passes(suite):
    rc, out = run(suite)
    assert rc == 0, out
    assert "test alarm_checkout" in out and "... ok" in out, out
    # what it compared is the shipped, approved snapshot
    assert (suite / "results" / "alarm_checkout.out").read_bytes() == \
        (SUITE / "expected" / "alarm_checkout.out").read_bytes()
    assert "-- CAPQUERY: Query 6\n-- PHASE: 2 (check out)\nCOMMIT\n" in \
        (SUITE / "expected" / "alarm_checkout.out").read_text()


def test_a_modified_workload_fails_and_update_mode_approves_it(suite):
    sql = suite / "sql" / "alarm_checkout.sql"
    text = sql.read_text()
    assert text.count(EAGER_LOAD) == 1
    sql.write_text(text.replace(EAGER_LOAD, EAGER_LOAD + EXTRA_LAZY_LOAD))

    rc, out = run(suite)
    assert rc == 1, out
    assert "FAILED" in out, out
    diffs = (suite / "regression.diffs").read_text()
    # the snapshot in the diff shows the added statement ...
    added = [line[1:] for line in diffs.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    assert added[0] == EXTRA_LAZY_LOAD.rstrip("\n"), diffs       # the echoed SQL
    lazy = "SELECT sensors.id, sensors.panel_id, sensors.kind FROM sensors WHERE sensors.panel_id = $1"
    block = ["-- PHASE: 1", "-- EXPECTED_PARAMS: $1 = '1'", lazy]
    at = added.index(lazy)
    assert added[at - 2:at + 1] == block, diffs
    # ... and the statements after it renumbered: 7 now, 6 before
    assert "-- CAPQUERY: Query 7" in added and "--- CAPQUERY: Query 6" in diffs.splitlines(), diffs
    assert (suite / "expected" / "alarm_checkout.out").read_bytes() == \
        (SUITE / "expected" / "alarm_checkout.out").read_bytes()

    # update mode: the new output becomes the approved one
    rc, out = run(suite, "--update")
    assert rc == 0, out
    assert "updated expected/alarm_checkout.out" in out, out
    approved = (suite / "expected" / "alarm_checkout.out").read_text()
    assert "WHERE sensors.panel_id = $1\n\n-- CAPQUERY: Query 4\n" in approved

    rc, out = run(suite)
    assert rc == 0, out
