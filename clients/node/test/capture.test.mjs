// capture() around a pg Client and a pg Pool: phases, the four assertions,
// and failures that carry the server's message, detail and hint unchanged.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { capture, CapqueryAssertionError, poolSessionLabel } from '../index.js';
import { connectionConfig, createSchema, eagerLoad, lazyLoad, newClient, SENSOR_KINDS } from './workload.mjs';

const SCHEMA = 'capq_node_client_capture';
const PANELS = 4;
const newLabel = (what) => `node-client-${what}-${randomBytes(6).toString('hex')}`;

let client;

before(async () => {
  client = await newClient();
  await createSchema(client, SCHEMA, PANELS);
});

after(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
});

// The raw driver error of a capq_* call, to compare with what the module raised.
async function rawError(sql, values) {
  try {
    await client.query(sql, values);
  } catch (err) {
    return err;
  }
  assert.fail(`${sql} did not fail`);
}

test('the N+1 loop fails assertNoRepeats with the server\'s message, detail and hint unchanged', async () => {
  const cap = await capture(client, async () => {
    const panels = await lazyLoad(client, SCHEMA, PANELS);
    assert.equal(panels.length, PANELS);
    assert.deepEqual(panels[0].sensors.map((s) => s.kind), SENSOR_KINDS);
  }, { label: newLabel('lazy') });
  assert.equal(await cap.count('select'), 1 + PANELS);

  const err = await cap.assertNoRepeats().then(() => null, (e) => e);
  assert.ok(err instanceof CapqueryAssertionError, String(err));
  assert.equal(err.code, 'P0004');
  const raw = await rawError('SELECT capq_assert_no_repeats(1, $1)', [cap.id]);
  assert.equal(raw.code, 'P0004');
  assert.equal(err.serverMessage, raw.message);
  assert.equal(err.detail, raw.detail);
  assert.equal(err.hint, raw.hint);
  assert.equal(err.message, [raw.message, raw.detail, `HINT:  ${raw.hint}`].join('\n'));
  assert.match(err.message, new RegExp(`ran ${PANELS} times`));
  assert.ok(err.message.includes(`SELECT id, kind FROM ${SCHEMA}.sensors WHERE panel_id = $1 ORDER BY id`));
  assert.equal(err.cause.code, 'P0004');

  // assertMax names every numbered statement in its detail
  const maxErr = await cap.assertMax(2, 'select').then(() => null, (e) => e);
  assert.ok(maxErr instanceof CapqueryAssertionError);
  const rawMax = await rawError("SELECT capq_assert_max(2, 'select')");
  assert.equal(maxErr.message, [rawMax.message, rawMax.detail, `HINT:  ${rawMax.hint}`].join('\n'));
  for (let n = 1; n <= 1 + PANELS; n++) assert.match(maxErr.detail, new RegExp(`^${n}\\. \\[phase 1\\] SELECT`, 'm'));
  assert.match(maxErr.hint, new RegExp(`^Statement shape repeated ${PANELS} times in phase 1 \\(a likely N\\+1\\)`));
});

test('the eager version passes every assertion', async () => {
  const cap = await capture(client, async () => {
    const panels = await eagerLoad(client, SCHEMA, PANELS);
    assert.equal(panels.length, PANELS);
    assert.deepEqual(panels[PANELS - 1].sensors.map((s) => s.kind), SENSOR_KINDS);
  });
  await cap.assertCount(1);
  await cap.assertCount(1, 'select');
  await cap.assertMax(1, 'select');
  await cap.assertNoRepeats();
  await cap.assertCount(0, 'insert');
  await assert.rejects(cap.assertCount(1, 'insert'), CapqueryAssertionError);
  await assert.rejects(cap.assertCount(2), (e) => e instanceof CapqueryAssertionError &&
    /^expected 2 statements?, captured 1/.test(e.message));
});

test('phases number and name the statements; capq_* calls are not captured', async () => {
  const phases = [];
  const cap = await capture(client, async (c) => {
    await lazyLoad(client, SCHEMA, 2);
    phases.push(await c.phase('eager'));
    await eagerLoad(client, SCHEMA, 2);
  });
  assert.deepEqual(phases, [2]);
  const rows = await cap.queries();
  assert.deepEqual(rows.map((r) => [Number(r.seq), r.phase, r.phase_name, r.kind]), [
    [1, 1, null, 'select'], [2, 1, null, 'select'], [3, 1, null, 'select'], [4, 2, 'eager', 'select']]);
  const summary = await cap.summary();
  assert.deepEqual(summary.map((r) => [r.phase, Number(r.executions)]), [[1, 2], [1, 1], [2, 1]]);
  // a repeat allowance of 2 lets the two lazy loads through
  await cap.assertNoRepeats(2);
  await assert.rejects(cap.assertNoRepeats(1), { code: 'P0004' });
});

test('assertSameCount: lazy loading grows with the data, eager loading does not', async () => {
  const lazy2 = await capture(client, () => lazyLoad(client, SCHEMA, 2));
  const lazy4 = await capture(client, () => lazyLoad(client, SCHEMA, 4));
  const err = await lazy2.assertSameCount(lazy4, 'select').then(() => null, (e) => e);
  assert.ok(err instanceof CapqueryAssertionError, String(err));
  const raw = await rawError("SELECT capq_assert_same_count($1, $2, 'select')", [lazy2.id, lazy4.id]);
  assert.equal(err.message, [raw.message, raw.detail, raw.hint && `HINT:  ${raw.hint}`]
    .filter(Boolean).join('\n'));
  const eager2 = await capture(client, () => eagerLoad(client, SCHEMA, 2));
  const eager4 = await capture(client, () => eagerLoad(client, SCHEMA, 4));
  await eager2.assertSameCount(eager4);
  await eager2.assertSameCount(eager4, 'select');
});

test('an older capture refuses assertCount rather than read the newer one', async () => {
  const first = await capture(client, () => lazyLoad(client, SCHEMA, 1));
  const second = await capture(client, () => eagerLoad(client, SCHEMA, 1));
  await assert.rejects(first.assertCount(2), /reads the connection's latest capture/);
  assert.equal(await first.count(), 2);   // reads by id still work
  await second.assertCount(1);
});

test('an error in the body ends the capture and is rethrown', async () => {
  const label = newLabel('boom');
  await assert.rejects(capture(client, async () => {
    await lazyLoad(client, SCHEMA, 1);
    throw new Error('boom');
  }, { label }), /^Error: boom$/);
  const { rows } = await client.query('SELECT state, statements FROM capq_sessions() WHERE label = $1', [label]);
  assert.deepEqual(rows.map((r) => [r.state, Number(r.statements)]), [['ended', 2]]);
  // the connection can begin the next capture at once
  const cap = await capture(client, () => eagerLoad(client, SCHEMA, 1));
  await cap.assertCount(1);
});

test('server errors other than P0004 are rethrown as the driver raised them', async () => {
  const cap = await capture(client, () => eagerLoad(client, SCHEMA, 1));
  await assert.rejects(cap.assertCount(1, 'no-such-kind'),
    (e) => !(e instanceof CapqueryAssertionError) && e.code === '22023');
});

test('a Pool joined by label: the pool\'s connections are captured, the owner is separate', async () => {
  const label = newLabel('pool');
  const pool = new pg.Pool(connectionConfig({ max: 2, options: `-c capquery.session=${label}` }));
  try {
    assert.equal(poolSessionLabel(pool), label);
    const cap = await capture(pool, async (c) => {
      await Promise.all([lazyLoad(pool, SCHEMA, 3), lazyLoad(pool, SCHEMA, 2)]);
      await c.phase('eager');
      await eagerLoad(pool, SCHEMA, 3);
    });
    try {
      assert.equal(cap.label, label);
      await cap.assertCount(2 + 3 + 2 + 1, 'select');
      const err = await cap.assertNoRepeats().then(() => null, (e) => e);
      assert.ok(err instanceof CapqueryAssertionError);
      assert.match(err.serverMessage, /ran 5 times in phase 1, more than 1$/);
      assert.match(err.detail, /5 executions in phase 1: SELECT id, kind FROM \S+ WHERE panel_id = \$1/);
      const pids = new Set((await cap.queries()).map((r) => r.pid));
      assert.ok(!pids.has(cap.owner.processID));
      assert.equal(pool.totalCount, 2);
    } finally {
      await cap.close();
      await cap.close();
    }
  } finally {
    await pool.end();
  }
});

test('a Pool with no label and scope backend is refused with the way out', async () => {
  const pool = new pg.Pool(connectionConfig({ max: 1 }));
  try {
    await assert.rejects(capture(pool, () => lazyLoad(pool, SCHEMA, 1)),
      /options: '-c capquery\.session=LABEL', or pass \{ scope: 'database' \}/);
    assert.equal(pool.totalCount, 0);
  } finally {
    await pool.end();
  }
});

test('a Pool with scope database: the pool\'s statements are captured without a label', async () => {
  const pool = new pg.Pool(connectionConfig({ max: 2 }));
  try {
    const pooled = await Promise.all([pool.connect(), pool.connect()]);
    const poolPids = new Set(pooled.map((c) => c.processID));
    pooled.forEach((c) => c.release());
    const cap = await capture(pool, () => lazyLoad(pool, SCHEMA, 3), { scope: 'database' });
    try {
      assert.equal(cap.label, null);
      // other test files share this database and run meanwhile: look at the pool's backends only
      const ours = (await cap.queries()).filter((r) => poolPids.has(r.pid));
      assert.equal(ours.length, 1 + 3);
      assert.ok(ours.every((r) => r.kind === 'select'));
    } finally {
      await cap.close();
    }
  } finally {
    await pool.end();
  }
});
