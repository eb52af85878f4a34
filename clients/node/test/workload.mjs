// The AlarmPanel/Sensor workload of the tests: a panel has many sensors,
// loaded lazily (1 + N SELECTs) or eagerly (one query for every panel).
// Each test file passes a schema of its own (node runs files in parallel).
import pg from 'pg';

export const SENSOR_KINDS = ['door', 'motion', 'smoke'];

// The libpq environment that test/run-all.sh exports (PGHOST may be a socket directory).
export function connectionConfig(extra = {}) {
  for (const v of ['PGHOST', 'PGPORT']) {
    if (!process.env[v]) throw new Error(`${v} must be exported (see test/run-all.sh)`);
  }
  return { host: process.env.PGHOST, port: Number(process.env.PGPORT),
    user: process.env.PGUSER || 'postgres', database: process.env.PGDATABASE || 'postgres', ...extra };
}

export async function newClient(extra = {}) {
  const c = new pg.Client(connectionConfig(extra));
  await c.connect();
  return c;
}

// Fresh tables in SCHEMA with `panels` panels of three sensors each.
export async function createSchema(client, schema, panels) {
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`CREATE TABLE ${schema}.alarm_panels (id serial PRIMARY KEY, ` +
    'mac_address text NOT NULL, is_online boolean NOT NULL DEFAULT false)');
  await client.query(`CREATE TABLE ${schema}.sensors (id serial PRIMARY KEY, ` +
    `panel_id integer NOT NULL REFERENCES ${schema}.alarm_panels (id), kind text NOT NULL)`);
  for (let p = 1; p <= panels; p++) {
    await client.query(`INSERT INTO ${schema}.alarm_panels (mac_address, is_online) VALUES ($1, $2)`,
      [`00:11:22:33:44:${String(p).padStart(2, '0')}`, p % 2 === 1]);
    for (const kind of SENSOR_KINDS) {
      await client.query(`INSERT INTO ${schema}.sensors (panel_id, kind) VALUES ($1, $2)`, [p, kind]);
    }
  }
}

// 'schema.' or, for null (the tables found through search_path), nothing.
const qualify = (schema) => (schema ? `${schema}.` : '');

// Lazy: the first n panels, then one SELECT per panel for its sensors.
export async function lazyLoad(db, schema, n) {
  const { rows: panels } = await db.query(
    `SELECT id, mac_address FROM ${qualify(schema)}alarm_panels ORDER BY id LIMIT $1`, [n]);
  for (const p of panels) {
    p.sensors = (await db.query(
      `SELECT id, kind FROM ${qualify(schema)}sensors WHERE panel_id = $1 ORDER BY id`, [p.id])).rows;
  }
  return panels;
}

// Eager: the same panels and their sensors in one JOIN.
export async function eagerLoad(db, schema, n) {
  const { rows } = await db.query(
    `SELECT p.id, p.mac_address, s.id AS sensor_id, s.kind FROM (SELECT * FROM ${qualify(schema)}alarm_panels ` +
    `ORDER BY id LIMIT $1) p JOIN ${qualify(schema)}sensors s ON s.panel_id = p.id ORDER BY p.id, s.id`, [n]);
  const panels = new Map();
  for (const r of rows) {
    if (!panels.has(r.id)) panels.set(r.id, { id: r.id, mac_address: r.mac_address, sensors: [] });
    panels.get(r.id).sensors.push({ id: r.sensor_id, kind: r.kind });
  }
  return [...panels.values()];
}
