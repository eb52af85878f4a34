// Snapshot files: __capquery_snapshots__/<test file>/<name>.sql written on the
// first run or with CAPQUERY_UPDATE=1, compared by capq_assert_snapshot
// otherwise, so a changed workload fails with the server's unified diff.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { capture, CapqueryAssertionError, snapshotPath } from '../index.js';
import { createSchema, eagerLoad, lazyLoad, newClient } from './workload.mjs';

const SCHEMA = 'capq_node_client_snapshot';
const HERE = fileURLToPath(import.meta.url);
// a test file of our own in a temporary directory, so the cycle writes nothing into the repository
const WORK = mkdtempSync(join(tmpdir(), 'capq-node-snap-'));
const FAKE_TEST_FILE = join(WORK, 'panels.test.mjs');

let client;

before(async () => {
  // search_path keeps the schema's name out of the statements, and so out of the snapshot
  client = await newClient({ options: `-c search_path=${SCHEMA},public` });
  await createSchema(client, SCHEMA, 3);
});

after(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
  rmSync(WORK, { recursive: true, force: true });
  rmSync(join(dirname(HERE), '__capquery_snapshots__'), { recursive: true, force: true });
});

async function workload({ extraLazyLoad = false } = {}) {
  return capture(client, async (c) => {
    await eagerLoad(client, null, 3);
    if (extraLazyLoad) await lazyLoad(client, null, 1);
    await c.phase('update');
    await client.query('UPDATE alarm_panels SET is_online = $1 WHERE id = $2', [false, 2]);
  });
}

async function withUpdate(value, body) {
  const old = process.env.CAPQUERY_UPDATE;
  if (value === undefined) delete process.env.CAPQUERY_UPDATE; else process.env.CAPQUERY_UPDATE = value;
  try {
    return await body();
  } finally {
    if (old === undefined) delete process.env.CAPQUERY_UPDATE; else process.env.CAPQUERY_UPDATE = old;
  }
}

test('snapshotPath: __capquery_snapshots__/<test file>/<name>.sql beside the test file', () => {
  assert.equal(snapshotPath('panel list', '/a/b/panels.test.mjs'),
    '/a/b/__capquery_snapshots__/panels.test.mjs/panel list.sql');
  assert.equal(snapshotPath('x/../y', 'file:///a/b/t.test.js'), '/a/b/__capquery_snapshots__/t.test.js/x_.._y.sql');
  assert.throws(() => snapshotPath('..', '/a/t.js'), /unusable snapshot name/);
});

test('the cycle: first run writes, second passes, a changed workload fails with the diff, update rewrites',
  async () => {
    await withUpdate(undefined, async () => {
      const path = snapshotPath('panels', FAKE_TEST_FILE);
      assert.ok(!existsSync(path));

      const first = await (await workload()).assertSnapshot('panels', { file: FAKE_TEST_FILE });
      assert.deepEqual(first, { path, written: true });
      const approved = readFileSync(path, 'utf8');
      assert.match(approved, /^-- CAPQUERY: Query 1\n-- PHASE: 1\n-- EXPECTED_PARAMS: \$1 = '3'\nSELECT p\.id/);
      assert.ok(approved.includes("-- PHASE: 2 (update)\n-- EXPECTED_PARAMS: $1 = 'false', $2 = '2'\n" +
        'UPDATE alarm_panels SET is_online = $1 WHERE id = $2'), approved);

      const second = await (await workload()).assertSnapshot('panels', { file: FAKE_TEST_FILE });
      assert.deepEqual(second, { path, written: false });

      const changed = await workload({ extraLazyLoad: true });
      const err = await changed.assertSnapshot('panels', { file: FAKE_TEST_FILE }).then(() => null, (e) => e);
      assert.ok(err instanceof CapqueryAssertionError, String(err));
      assert.equal(err.code, 'P0004');
      const lines = err.detail.split('\n');
      assert.deepEqual(lines.slice(0, 2), ['--- expected', '+++ captured']);
      assert.ok(lines.includes('+SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id'), err.detail);
      assert.ok(err.message.startsWith(`${err.serverMessage}\n--- expected\n+++ captured\n`));
      assert.equal(readFileSync(path, 'utf8'), approved, 'a failed comparison must not touch the file');

      const rewritten = await withUpdate('1', async () =>
        (await workload({ extraLazyLoad: true })).assertSnapshot('panels', { file: FAKE_TEST_FILE }));
      assert.deepEqual(rewritten, { path, written: true });
      assert.notEqual(readFileSync(path, 'utf8'), approved);
      await (await workload({ extraLazyLoad: true })).assertSnapshot('panels', { file: FAKE_TEST_FILE });
      await assert.rejects((await workload()).assertSnapshot('panels', { file: FAKE_TEST_FILE }),
        CapqueryAssertionError);
    });
  });

test('the test file is found from the caller\'s stack', async () => {
  await withUpdate(undefined, async () => {
    const cap = await workload();
    const { path, written } = await cap.assertSnapshot('from the stack');
    assert.equal(path, join(dirname(HERE), '__capquery_snapshots__', 'snapshot.test.mjs', 'from the stack.sql'));
    assert.ok(written);
    // a hand-edited snapshot file is compared, not overwritten
    writeFileSync(path, readFileSync(path, 'utf8').replace("$1 = 'false'", "$1 = 'true'"));
    await assert.rejects((await workload()).assertSnapshot('from the stack'),
      (e) => e instanceof CapqueryAssertionError && e.detail.includes("-- EXPECTED_PARAMS: $1 = 'true', $2 = '2'"));
  });
});
