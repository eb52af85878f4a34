"""One snapshot for every driver: the AlarmPanel/Sensor workload sent through
psycopg2 (inlines literals client-side), psycopg 3 (binds them server-side)
and, in test/node/snapshot.test.mjs, Node's pg (binds $1, $2 ...) gives the
same capq_snapshot() bytes, run after run.

The approved snapshot is test/snapshots/alarm_workload.snap, read by both
this file and the Node test.  After a deliberate change to the workload,
refresh it with

    CAPQ_UPDATE_SNAPSHOTS=1 python3 -m pytest test/python/test_snapshot_drivers.py

and review the file's diff.  The statements are the ones SQLAlchemy 1.4
writes for the models of models.py (Debian's SQLAlchemy has no psycopg 3
dialect, so they are sent directly).  Their SQL text is the same for every
driver except the placeholders: {name} below becomes %(name)s for psycopg2,
%s for psycopg 3 and $n in the Node test.  Keep the two files in step.
"""
import os
import re
import string
from pathlib import Path

import psycopg
import psycopg2
import pytest

from capq_helpers import pg_env

SNAPSHOT_FILE = Path(__file__).resolve().parents[1] / "snapshots" / "alarm_workload.snap"

# A schema of its own, named nowhere in the statements (so not in the
# snapshot), leaves the other modules' alarm_panels alone.
SCHEMA = "capq_snapshot_py"
DROP = "DROP TABLE IF EXISTS sensors, alarm_panels"
CREATE = (
    "CREATE TABLE alarm_panels (id serial PRIMARY KEY, mac_address text NOT NULL, "
    "is_online boolean NOT NULL DEFAULT false)",
    "CREATE TABLE sensors (id serial PRIMARY KEY, "
    "panel_id integer NOT NULL REFERENCES alarm_panels (id), kind text NOT NULL)",
)

INSERT_PANEL = ("INSERT INTO alarm_panels (mac_address, is_online) "
                "VALUES ({mac_address}, {is_online}) RETURNING alarm_panels.id")
INSERT_SENSOR = ("INSERT INTO sensors (panel_id, kind) "
                 "VALUES ({panel_id}, {kind}) RETURNING sensors.id")
SELECT_PANELS = ("SELECT alarm_panels.id AS alarm_panels_id, "
                 "alarm_panels.mac_address AS alarm_panels_mac_address, "
                 "alarm_panels.is_online AS alarm_panels_is_online "
                 "FROM alarm_panels ORDER BY alarm_panels.id")
# lazy='select': one per panel
LAZY_SENSORS = ("SELECT sensors.id AS sensors_id, sensors.panel_id AS sensors_panel_id, "
                "sensors.kind AS sensors_kind FROM sensors "
                "WHERE {param_1} = sensors.panel_id ORDER BY sensors.id")
# selectinload: one for all the panels (two panels here)
SELECTIN_SENSORS = ("SELECT sensors.panel_id AS sensors_panel_id, sensors.id AS sensors_id, "
                    "sensors.kind AS sensors_kind FROM sensors "
                    "WHERE sensors.panel_id IN ({id_1}, {id_2}) ORDER BY sensors.id")
# joinedload, online panels only
JOINED = ("SELECT alarm_panels.id AS alarm_panels_id, "
          "alarm_panels.mac_address AS alarm_panels_mac_address, "
          "alarm_panels.is_online AS alarm_panels_is_online, sensors_1.id AS sensors_1_id, "
          "sensors_1.panel_id AS sensors_1_panel_id, sensors_1.kind AS sensors_1_kind "
          "FROM alarm_panels LEFT OUTER JOIN sensors AS sensors_1 "
          "ON alarm_panels.id = sensors_1.panel_id "
          "WHERE alarm_panels.is_online = {is_online_1} ORDER BY alarm_panels.id, sensors_1.id")
UPDATE_PANEL = ("UPDATE alarm_panels SET is_online={is_online} "
                "WHERE alarm_panels.id = {alarm_panels_id}")

PANELS = (("00:11:22:33:44:55", True), ("00:11:22:33:44:66", False))
SENSOR_KINDS = ("door", "motion")


# ---------------------------------------------------------------- drivers

def psycopg2_sql(template):
    """psycopg2: named placeholders, inlined by the driver."""
    return template.format_map({n: "%%(%s)s" % n for n in fields(template)})


def psycopg3_sql(template):
    """psycopg 3: positional %s, bound server-side."""
    return template.format_map({n: "%s" for n in fields(template)})


def fields(template):
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


class Driver:
    """Runs one statement of the workload; returns the fetched rows."""

    def __init__(self, name):
        self.name = name
        env = pg_env()
        options = "-c search_path=%s,public" % SCHEMA
        if name == "psycopg2":
            self.conn = psycopg2.connect(**env, options=options)
            self.conn.autocommit = True
        else:
            self.conn = psycopg.connect(host=env["host"], port=env["port"], user=env["user"],
                                        dbname=env["dbname"], options=options,
                                        autocommit=True)
        self.cur = self.conn.cursor()

    def run(self, template, **params):
        assert sorted(params) == sorted(fields(template)), template
        if self.name == "psycopg2":
            self.cur.execute(psycopg2_sql(template), params)
        else:
            self.cur.execute(psycopg3_sql(template),
                             [params[n] for n in fields(template)])
        return self.cur.fetchall() if self.cur.description else None

    def one(self, sql):
        self.cur.execute(sql)
        return self.cur.fetchone()[0]

    def close(self):
        self.conn.close()


def workload(db, regression=False):
    """The AlarmPanel/Sensor workload, in three phases: the inserts in the
    capture's first phase (unnamed), then the phases 'lazy' and 'eager'."""
    panel_ids = []
    for mac, online in PANELS:
        (pid,), = db.run(INSERT_PANEL, mac_address=mac, is_online=online)
        panel_ids.append(pid)
        for kind in SENSOR_KINDS:
            db.run(INSERT_SENSOR, panel_id=pid, kind=kind)

    db.one("SELECT capq_phase('lazy')")
    panels = db.run(SELECT_PANELS)
    sensors = {row[0]: db.run(LAZY_SENSORS, param_1=row[0]) for row in panels}
    assert [len(s) for s in sensors.values()] == [len(SENSOR_KINDS)] * len(PANELS)

    db.one("SELECT capq_phase('eager')")
    panels = db.run(SELECT_PANELS)
    ids = [row[0] for row in panels]
    assert len(db.run(SELECTIN_SENSORS, id_1=ids[0], id_2=ids[1])) == \
        len(PANELS) * len(SENSOR_KINDS)
    assert len(db.run(JOINED, is_online_1=True)) == len(SENSOR_KINDS)
    db.run(UPDATE_PANEL, is_online=False, alarm_panels_id=ids[0])
    if regression:
        # a template now touches one panel's sensors outside the eager load
        db.run(LAZY_SENSORS, param_1=ids[1])
    return panel_ids


def captured_snapshot(driver_name, regression=False):
    """Fresh tables, the workload under a capture; returns (db, capture id,
    snapshot).  The caller closes db."""
    db = Driver(driver_name)
    db.cur.execute("CREATE SCHEMA IF NOT EXISTS %s" % SCHEMA)
    db.cur.execute(DROP)
    for ddl in CREATE:
        db.cur.execute(ddl)
    cap = db.one("SELECT capq_begin('snapshot %s')" % driver_name)
    try:
        assert workload(db, regression) == [1, 2]
    finally:
        db.one("SELECT capq_end()")
    snapshot = db.one("SELECT capq_snapshot(%d)" % cap)
    db.cur.execute("DROP SCHEMA %s CASCADE" % SCHEMA)
    return db, cap, snapshot


def snapshot_of(driver_name, regression=False):
    db, _, snapshot = captured_snapshot(driver_name, regression)
    db.close()
    return snapshot


# ---------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def approved():
    if os.environ.get("CAPQ_UPDATE_SNAPSHOTS"):
        SNAPSHOT_FILE.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT_FILE.write_bytes(snapshot_of("psycopg2").encode("utf-8"))
    assert SNAPSHOT_FILE.exists(), \
        "no approved snapshot; create it with CAPQ_UPDATE_SNAPSHOTS=1 (see the module docstring)"
    return SNAPSHOT_FILE.read_bytes()


def test_placeholders_are_the_only_difference():
    for template in (INSERT_PANEL, INSERT_SENSOR, LAZY_SENSORS, SELECTIN_SENSORS, JOINED,
                     UPDATE_PANEL):
        assert re.sub(r"%\(\w+\)s", "?", psycopg2_sql(template)) == \
            psycopg3_sql(template).replace("%s", "?") == re.sub(r"\{\w+\}", "?", template)


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg3"])
def test_snapshot_matches_the_approved_bytes_twice(approved, driver):
    first = snapshot_of(driver).encode("utf-8")
    second = snapshot_of(driver).encode("utf-8")
    assert first == approved, "%s snapshot differs from %s:\n%s" % (
        driver, SNAPSHOT_FILE, first.decode())
    assert second == first


def test_inlined_and_bound_values_render_alike(approved):
    text = approved.decode("utf-8")
    # text, integer and boolean values, whichever way they were sent
    assert "-- EXPECTED_PARAMS: $1 = '00:11:22:33:44:55', $2 = 'true'\n" \
           "INSERT INTO alarm_panels (mac_address, is_online) VALUES ($1, $2) " \
           "RETURNING alarm_panels.id\n" in text
    assert "-- EXPECTED_PARAMS: $1 = '2', $2 = 'motion'\n" in text
    assert "-- EXPECTED_PARAMS: $1 = 'false', $2 = '1'\n" \
           "UPDATE alarm_panels SET is_online=$1 WHERE alarm_panels.id = $2\n" in text
    assert "-- PHASE: 1\n" in text and "-- PHASE: 2 (lazy)\n" in text and "-- PHASE: 3 (eager)\n" in text
    # 2 + 4 inserts, 1 + 2 lazy selects, 3 eager selects, 1 update
    assert text.count("-- CAPQUERY: Query ") == 13


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg3"])
def test_assert_snapshot_passes_on_the_approved_text(approved, driver):
    db, cap, _ = captured_snapshot(driver)
    try:
        db.cur.execute("SELECT capq_assert_snapshot(%s, %s)", (approved.decode("utf-8"), cap))
        # blank lines and trailing white space do not count
        loose = approved.decode("utf-8").replace("\n\n", "\n  \n\n\n").replace("\n", " \n")
        db.cur.execute("SELECT capq_assert_snapshot(%s, %s)", (loose, cap))
    finally:
        db.close()


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg3"])
def test_extra_lazy_load_fails_with_a_diff_of_the_added_statement(approved, driver):
    db, cap, snapshot = captured_snapshot(driver, regression=True)
    try:
        with pytest.raises((psycopg2.Error, psycopg.Error)) as excinfo:
            db.cur.execute("SELECT capq_assert_snapshot(%s, %s)",
                           (approved.decode("utf-8"), cap))
    finally:
        db.close()
    err = excinfo.value
    if driver == "psycopg2":
        sqlstate, detail = err.pgcode, err.diag.message_detail
    else:
        sqlstate, detail = err.sqlstate, err.diag.message_detail
    assert sqlstate == "P0004"
    assert detail, "P0004 must carry the diff in errdetail"
    lines = detail.splitlines()
    assert lines[:2] == ["--- expected", "+++ captured"], detail
    assert any(line.startswith("@@ -") for line in lines), detail
    # the added statement, and only that, is what changed
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in lines if line.startswith("-") and not line.startswith("---")]
    lazy = LAZY_SENSORS.format(param_1="$1")
    assert added == ["-- CAPQUERY: Query 14", "-- PHASE: 3 (eager)",
                     "-- EXPECTED_PARAMS: $1 = '2'", lazy], detail
    assert removed == [], detail
    # the diff is against what capq_snapshot() shows for the capture
    assert snapshot.rstrip("\n").endswith(lazy)
