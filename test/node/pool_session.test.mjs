// A Node application's pool joins a capture by label.
//
// The application is a pg Pool (max 3 connections) whose connections carry
// options '-c capquery.session=<label>' and nothing else; its queries bind
// their parameters through the extended protocol (Parse/Bind/Execute), some
// as named prepared statements.  The test's own Client, a separate backend,
// begins the capture with that label (scope 'backend': joining works
// whatever the scope) and asserts what the pool's backends executed.
//
// Connection: the libpq environment that test/run-all.sh exports (PGHOST is
// a socket directory, which node-pg accepts as host).  Node runs test files
// in parallel, so the tables live in a schema of this file's own.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';

const SCHEMA = 'capq_pool_node';
const POOL_MAX = 3;
const PANELS = 5;
const SENSOR_KINDS = ['door', 'motion', 'smoke'];

const PANELS_SQL = `SELECT id, mac_address FROM ${SCHEMA}.alarm_panels ORDER BY id LIMIT $1`;
const SENSORS_SQL = `SELECT id, kind FROM ${SCHEMA}.sensors WHERE panel_id = $1 ORDER BY id`;
const EAGER_SQL = `SELECT panel_id, id, kind FROM ${SCHEMA}.sensors ` +
  'WHERE panel_id = ANY($1) ORDER BY panel_id, id';
const INSERT_SQL = `INSERT INTO ${SCHEMA}.alarm_panels (mac_address, is_online) ` +
  'VALUES ($1, $2) RETURNING id';
const UPDATE_SQL = `UPDATE ${SCHEMA}.alarm_panels SET is_online = $1 WHERE id = $2`;
const DELETE_SQL = `DELETE FROM ${SCHEMA}.alarm_panels WHERE id = $1`;

function env() {
  for (const v of ['PGHOST', 'PGPORT']) {
    if (!process.env[v]) throw new Error(`${v} must be exported (see test/run-all.sh)`);
  }
  return {
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT),
    user: process.env.PGUSER || 'postgres',
    database: process.env.PGDATABASE || 'postgres',
  };
}

const newLabel = (what) => `node-${what}-${randomBytes(6).toString('hex')}`;

function joinedPool(label) {
  return new pg.Pool({ ...env(), max: POOL_MAX, options: `-c capquery.session=${label}` });
}

async function newClient() {
  const c = new pg.Client(env());
  await c.connect();
  return c;
}

// Open all POOL_MAX connections at once (before any capture); their pids,
// from the protocol's BackendKeyData, without running a statement.
async function warm(pool) {
  const clients = await Promise.all(Array.from({ length: POOL_MAX }, () => pool.connect()));
  const pids = new Set(clients.map((c) => c.processID));
  clients.forEach((c) => c.release());
  assert.equal(pids.size, POOL_MAX);
  return pids;
}

// One request, the N+1 way: the first n panels, then each one's sensors.
async function lazyRequest(pool, n, named = false) {
  const { rows: panels } = await pool.query(PANELS_SQL, [n]);
  const out = {};
  for (const p of panels) {
    const q = named ? { name: 'capq-sensors-by-panel', text: SENSORS_SQL, values: [p.id] }
      : { text: SENSORS_SQL, values: [p.id] };
    const { rows } = await pool.query(q);
    out[p.id] = rows.map((r) => r.kind);
  }
  return out;
}

// The same request with one query for every panel's sensors.
async function eagerRequest(pool, n) {
  const { rows: panels } = await pool.query(PANELS_SQL, [n]);
  const { rows } = await pool.query(EAGER_SQL, [panels.map((p) => p.id)]);
  return rows.length;
}

let setup;
let panelIds;

before(async () => {
  setup = await newClient();
  await setup.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await setup.query(`CREATE SCHEMA ${SCHEMA}`);
  await setup.query(`CREATE TABLE ${SCHEMA}.alarm_panels (id serial PRIMARY KEY, ` +
    'mac_address text NOT NULL, is_online boolean NOT NULL DEFAULT false)');
  await setup.query(`CREATE TABLE ${SCHEMA}.sensors (id serial PRIMARY KEY, ` +
    `panel_id integer NOT NULL REFERENCES ${SCHEMA}.alarm_panels (id), kind text NOT NULL)`);
  panelIds = [];
  for (let p = 0; p < PANELS; p++) {
    const { rows } = await setup.query(INSERT_SQL, [`00:11:22:33:44:${p}${p}`, p % 2 === 0]);
    panelIds.push(rows[0].id);
    for (const kind of SENSOR_KINDS) {
      await setup.query(`INSERT INTO ${SCHEMA}.sensors (panel_id, kind) VALUES ($1, $2)`,
        [rows[0].id, kind]);
    }
  }
});

after(async () => {
  if (setup) {
    await setup.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await setup.end();
  }
});

// A capture owned by a separate Client, joined by the pool through its label.
async function withCapture(label, body) {
  const owner = await newClient();
  try {
    const { rows: [{ cap }] } = await owner.query('SELECT capq_begin(label => $1) AS cap', [label]);
    try {
      return await body(owner, Number(cap));
    } finally {
      await owner.query('SELECT capq_end()');
    }
  } finally {
    await owner.end();
  }
}

async function one(client, sql, values = []) {
  const { rows } = await client.query(sql, values);
  return rows[0];
}

test('pool connections join by label: exact counts, kinds, pids and bound parameters',
  { timeout: 60000 }, async () => {
    const label = newLabel('pool');
    const pool = joinedPool(label);
    try {
      const poolPids = await warm(pool);
      await withCapture(label, async (owner, cap) => {
        assert.ok(!poolPids.has(owner.processID));
        // concurrent requests over 3 connections: n panels each
        const sizes = [1, 2, 3, 4, 5, 3, 2];
        const loaded = await Promise.all(sizes.map((n, k) => lazyRequest(pool, n, k % 2 === 1)));
        sizes.forEach((n, k) => {
          assert.deepEqual(Object.keys(loaded[k]).map(Number), panelIds.slice(0, n));
          for (const kinds of Object.values(loaded[k])) assert.deepEqual(kinds, SENSOR_KINDS);
        });
        // one write transaction on one pooled client
        const client = await pool.connect();
        let newId;
        try {
          await client.query('BEGIN');
          newId = (await client.query(INSERT_SQL, ["aa:bb:cc:dd:ee:ff", true])).rows[0].id;
          await client.query(UPDATE_SQL, [false, newId]);
          await client.query(DELETE_SQL, [newId]);
          await client.query('COMMIT');
        } finally {
          client.release();
        }

        const lazyLoads = sizes.reduce((a, n) => a + n, 0);
        const counts = await one(owner, "SELECT capq_count() AS total, capq_count('select') AS s, " +
          "capq_count('insert') AS i, capq_count('update') AS u, capq_count('delete') AS d, " +
          "capq_count('transaction') AS t, capq_count('utility') AS x");
        assert.deepEqual(
          Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)])),
          { total: sizes.length + lazyLoads + 5, s: sizes.length + lazyLoads,
            i: 1, u: 1, d: 1, t: 2, x: 0 });

        const { rows } = await owner.query(
          'SELECT seq, pid, kind, query, params, rows FROM capq_queries() ORDER BY seq');
        assert.equal(rows.length, sizes.length + lazyLoads + 5);
        assert.deepEqual(rows.map((r) => Number(r.seq)), rows.map((_, i) => i + 1));
        // only the pool's backends, never the owner's
        const pids = new Set(rows.map((r) => r.pid));
        assert.ok(!pids.has(owner.processID));
        for (const pid of pids) assert.ok(poolPids.has(pid), `foreign pid ${pid}`);

        // the bound values are in params, as PostgreSQL logs them
        const panelsRows = rows.filter((r) => r.query === PANELS_SQL);
        assert.deepEqual(panelsRows.map((r) => r.params).sort(),
          sizes.map((n) => `$1 = '${n}'`).sort());
        assert.deepEqual(panelsRows.map((r) => Number(r.rows)).sort(), [...sizes].sort());
        const sensorRows = rows.filter((r) => r.query === SENSORS_SQL);
        assert.equal(sensorRows.length, lazyLoads);
        const expectedParams = sizes.flatMap((n) => panelIds.slice(0, n).map((id) => `$1 = '${id}'`));
        assert.deepEqual(sensorRows.map((r) => r.params).sort(), expectedParams.sort());
        assert.ok(sensorRows.every((r) => r.kind === 'select' && Number(r.rows) === SENSOR_KINDS.length));

        // the transaction, in order, on one backend
        const tx = rows.slice(rows.findIndex((r) => r.query === 'BEGIN'));
        assert.deepEqual(tx.map((r) => [r.kind, r.query, r.params]), [
          ['transaction', 'BEGIN', null],
          // values as the parameter type's output function renders them, as
          // PostgreSQL logs bound parameters: node-pg sent true and false
          ['insert', INSERT_SQL, "$1 = 'aa:bb:cc:dd:ee:ff', $2 = 't'"],
          ['update', UPDATE_SQL, `$1 = 'f', $2 = '${newId}'`],
          ['delete', DELETE_SQL, `$1 = '${newId}'`],
          ['transaction', 'COMMIT', null],
        ]);
        assert.equal(new Set(tx.map((r) => r.pid)).size, 1);

        const session = await one(owner, 'SELECT label, owner_pid, scope, state, statements, lost ' +
          'FROM capq_sessions() WHERE capture = $1', [cap]);
        assert.deepEqual({ ...session, statements: Number(session.statements), lost: Number(session.lost) },
          { label, owner_pid: owner.processID, scope: 'backend', state: 'active',
            statements: rows.length, lost: 0 });
      });
    } finally {
      await pool.end();
    }
  });

test('an N+1 loop in the pool fails capq_assert_max with P0004', { timeout: 60000 }, async () => {
  const label = newLabel('nplus1');
  const pool = joinedPool(label);
  try {
    await warm(pool);
    await withCapture(label, async (owner) => {
      await owner.query("SELECT capq_phase('lazy')");
      for (let k = 0; k < 3; k++) await lazyRequest(pool, PANELS);
      await owner.query("SELECT capq_phase('eager')");
      for (let k = 0; k < 3; k++) await eagerRequest(pool, PANELS);

      // two queries per request would do: the lazy phase needs 1 + PANELS
      await assert.rejects(owner.query("SELECT capq_assert_max($1, 'select')", [2 * 6]), (err) => {
        assert.equal(err.code, 'P0004');
        assert.match(err.message, new RegExp(`captured ${3 * (1 + PANELS) + 3 * 2}$`));
        assert.match(err.detail, /^Captured statements:/);
        assert.match(err.detail, /\[phase 2 "lazy"\] SELECT id, kind FROM capq_pool_node\.sensors WHERE panel_id = \$1 ORDER BY id \(\$1 = '\d+'\)/);
        assert.match(err.hint, new RegExp(`^Statement shape repeated ${3 * PANELS} times in phase 2 \\(a likely N\\+1\\): ` +
          'SELECT id, kind FROM capq_pool_node\\.sensors WHERE panel_id = \\$1'));
        return true;
      });

      const { rows } = await owner.query('SELECT phase, query, executions FROM capq_summary() ' +
        'ORDER BY phase, executions DESC, query');
      assert.deepEqual(rows.map((r) => [r.phase, r.query, Number(r.executions)]), [
        [2, SENSORS_SQL, 3 * PANELS],
        [2, PANELS_SQL, 3],
        [3, PANELS_SQL, 3],
        [3, EAGER_SQL, 3],
      ]);
      await assert.rejects(owner.query('SELECT capq_assert_no_repeats(3)'), { code: 'P0004' });
    });
  } finally {
    await pool.end();
  }
});

test('a label that matches no active capture records nothing', { timeout: 60000 }, async () => {
  const label = newLabel('own');
  const stray = joinedPool(`nobody-${label}`);
  try {
    const strayPids = await warm(stray);
    await withCapture(label, async (owner, cap) => {
      await Promise.all([lazyRequest(stray, 2), lazyRequest(stray, 3, true), eagerRequest(stray, 4)]);
      assert.equal(Number((await one(owner, 'SELECT capq_count() AS n')).n), 0);
      // (other files' captures may be active meanwhile: node runs test files
      // in parallel, so only this capture and the label are checked)
      const strays = await one(owner, 'SELECT count(*) AS n FROM capq_sessions() WHERE label = $1',
        [`nobody-${label}`]);
      assert.equal(Number(strays.n), 0);
      assert.ok(strayPids.size === POOL_MAX && cap > 0);
    });
  } finally {
    await stray.end();
  }
});
