// One snapshot for every driver: the AlarmPanel/Sensor workload sent through
// Node's pg (which binds parameters as $1, $2 ...) gives byte for byte the
// snapshot that psycopg2 (which inlines them) and psycopg 3 give in
// test/python/test_snapshot_drivers.py: the approved file
// test/snapshots/alarm_workload.snap, which both tests read.
//
// The statements are those of test/python/test_snapshot_drivers.py, with $n
// where Python has its placeholders; keep the two files in step.  The
// connection comes from the libpq environment (PGHOST, PGPORT, PGUSER,
// PGDATABASE) that test/run-all.sh exports.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';

const SNAPSHOT_FILE = new URL('../snapshots/alarm_workload.snap', import.meta.url);

// A schema of its own (node runs test files in parallel), named nowhere in
// the statements, so the snapshot does not show it.
const SCHEMA = 'capq_snapshot_node';
const DROP = 'DROP TABLE IF EXISTS sensors, alarm_panels';
const CREATE = [
  'CREATE TABLE alarm_panels (id serial PRIMARY KEY, mac_address text NOT NULL, ' +
    'is_online boolean NOT NULL DEFAULT false)',
  'CREATE TABLE sensors (id serial PRIMARY KEY, ' +
    'panel_id integer NOT NULL REFERENCES alarm_panels (id), kind text NOT NULL)',
];

const INSERT_PANEL = 'INSERT INTO alarm_panels (mac_address, is_online) ' +
  'VALUES ($1, $2) RETURNING alarm_panels.id';
const INSERT_SENSOR = 'INSERT INTO sensors (panel_id, kind) ' +
  'VALUES ($1, $2) RETURNING sensors.id';
const SELECT_PANELS = 'SELECT alarm_panels.id AS alarm_panels_id, ' +
  'alarm_panels.mac_address AS alarm_panels_mac_address, ' +
  'alarm_panels.is_online AS alarm_panels_is_online ' +
  'FROM alarm_panels ORDER BY alarm_panels.id';
// lazy='select': one per panel
const LAZY_SENSORS = 'SELECT sensors.id AS sensors_id, sensors.panel_id AS sensors_panel_id, ' +
  'sensors.kind AS sensors_kind FROM sensors ' +
  'WHERE $1 = sensors.panel_id ORDER BY sensors.id';
// selectinload: one for all the panels (two panels here)
const SELECTIN_SENSORS = 'SELECT sensors.panel_id AS sensors_panel_id, sensors.id AS sensors_id, ' +
  'sensors.kind AS sensors_kind FROM sensors ' +
  'WHERE sensors.panel_id IN ($1, $2) ORDER BY sensors.id';
// joinedload, online panels only
const JOINED = 'SELECT alarm_panels.id AS alarm_panels_id, ' +
  'alarm_panels.mac_address AS alarm_panels_mac_address, ' +
  'alarm_panels.is_online AS alarm_panels_is_online, sensors_1.id AS sensors_1_id, ' +
  'sensors_1.panel_id AS sensors_1_panel_id, sensors_1.kind AS sensors_1_kind ' +
  'FROM alarm_panels LEFT OUTER JOIN sensors AS sensors_1 ' +
  'ON alarm_panels.id = sensors_1.panel_id ' +
  'WHERE alarm_panels.is_online = $1 ORDER BY alarm_panels.id, sensors_1.id';
const UPDATE_PANEL = 'UPDATE alarm_panels SET is_online=$1 ' +
  'WHERE alarm_panels.id = $2';

const PANELS = [['00:11:22:33:44:55', true], ['00:11:22:33:44:66', false]];
const SENSOR_KINDS = ['door', 'motion'];

// The workload, in three phases: the inserts in the capture's first phase
// (unnamed), then the phases 'lazy' and 'eager'.
async function workload(client, regression = false) {
  const panelIds = [];
  for (const [mac, online] of PANELS) {
    const { rows } = await client.query(INSERT_PANEL, [mac, online]);
    panelIds.push(rows[0].id);
    for (const kind of SENSOR_KINDS) await client.query(INSERT_SENSOR, [rows[0].id, kind]);
  }

  await client.query("SELECT capq_phase('lazy')");
  let panels = (await client.query(SELECT_PANELS)).rows;
  for (const p of panels) {
    const sensors = await client.query(LAZY_SENSORS, [p.alarm_panels_id]);
    assert.equal(sensors.rowCount, SENSOR_KINDS.length);
  }

  await client.query("SELECT capq_phase('eager')");
  panels = (await client.query(SELECT_PANELS)).rows;
  const ids = panels.map((p) => p.alarm_panels_id);
  assert.equal((await client.query(SELECTIN_SENSORS, [ids[0], ids[1]])).rowCount,
    PANELS.length * SENSOR_KINDS.length);
  assert.equal((await client.query(JOINED, [true])).rowCount, SENSOR_KINDS.length);
  await client.query(UPDATE_PANEL, [false, ids[0]]);
  if (regression) {
    // a template now touches one panel's sensors outside the eager load
    await client.query(LAZY_SENSORS, [ids[1]]);
  }
  return panelIds;
}

// Fresh tables, the workload under a capture: { client, capture, snapshot }.
// The caller ends the client (on error it is ended here, so node can exit).
async function capturedSnapshot(regression = false) {
  const client = new pg.Client({ options: `-c search_path=${SCHEMA},public` });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await client.query(DROP);
    for (const ddl of CREATE) await client.query(ddl);
    const capture = (await client.query("SELECT capq_begin('snapshot node-pg') AS id")).rows[0].id;
    try {
      assert.deepEqual(await workload(client, regression), [1, 2]);
    } finally {
      await client.query('SELECT capq_end()');
    }
    const { rows } = await client.query('SELECT capq_snapshot($1) AS s', [capture]);
    await client.query(`DROP SCHEMA ${SCHEMA} CASCADE`);
    return { client, capture, snapshot: rows[0].s };
  } catch (e) {
    await client.end();
    throw e;
  }
}

async function snapshotOnce() {
  const { client, snapshot } = await capturedSnapshot();
  await client.end();
  return snapshot;
}

const approved = () => readFileSync(SNAPSHOT_FILE);

test('node-pg snapshot is byte-identical to the approved file, run after run', async () => {
  const expected = approved();
  const first = Buffer.from(await snapshotOnce(), 'utf8');
  const second = Buffer.from(await snapshotOnce(), 'utf8');
  assert.ok(first.equals(expected),
    `node-pg snapshot differs from ${SNAPSHOT_FILE.pathname}:\n${first.toString()}`);
  assert.ok(second.equals(first), 'a second run gave different bytes');
});

test('bound booleans and integers render as psycopg2 inlines them', async () => {
  const text = approved().toString('utf8');
  assert.ok(text.includes("-- EXPECTED_PARAMS: $1 = '00:11:22:33:44:55', $2 = 'true'\n" +
    INSERT_PANEL + '\n'));
  assert.ok(text.includes("-- EXPECTED_PARAMS: $1 = 'false', $2 = '1'\n" + UPDATE_PANEL + '\n'));
});

test('capq_assert_snapshot passes on the approved text', async () => {
  const { client, capture } = await capturedSnapshot();
  try {
    await client.query('SELECT capq_assert_snapshot($1, $2)', [approved().toString('utf8'), capture]);
  } finally {
    await client.end();
  }
});

test('an extra lazy load fails capq_assert_snapshot with a diff of the added statement', async () => {
  const { client, capture } = await capturedSnapshot(true);
  let err;
  try {
    await client.query('SELECT capq_assert_snapshot($1, $2)', [approved().toString('utf8'), capture]);
  } catch (e) {
    err = e;
  } finally {
    await client.end();
  }
  assert.ok(err, 'capq_assert_snapshot did not fail');
  assert.equal(err.code, 'P0004');
  const lines = (err.detail ?? '').split('\n');
  assert.deepEqual(lines.slice(0, 2), ['--- expected', '+++ captured'], err.detail);
  const added = lines.filter((l) => l.startsWith('+') && !l.startsWith('+++')).map((l) => l.slice(1));
  const removed = lines.filter((l) => l.startsWith('-') && !l.startsWith('---'));
  assert.deepEqual(added, ['-- CAPQUERY: Query 14', '-- PHASE: 3 (eager)',
    "-- EXPECTED_PARAMS: $1 = '2'", LAZY_SENSORS], err.detail);
  assert.deepEqual(removed, [], err.detail);
});
