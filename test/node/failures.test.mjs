// Failed statements are entries, sent by Node's pg (issue 10).  A query with
// parameters goes through the extended protocol (Parse/Bind/Execute), one
// without through the simple protocol.  Each failure class -- planning
// (SELECT 1/0, folded), analysis (a missing table), parse (kind 'invalid'),
// refused in an aborted transaction (25P02) and while running (division by
// a column that is 0) -- is captured in order with its SQLSTATE, over both
// protocols, and a simple-protocol string whose second statement fails
// gives that statement's own span.  The connection comes from the libpq
// environment that test/run-all.sh exports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';

// (kind, query, SQLSTATE or null), in the order the workload sends them
const EXPECTED = [
  ['select', 'SELECT $1::int / 0', '22012'],
  ['select', 'SELECT * FROM capq_fail_node_missing WHERE id = $1', '42P01'],
  ['invalid', 'SELEC $1', '42601'],
  ['transaction', 'BEGIN', null],
  ['select', 'SELECT d FROM capq_fail_node WHERE id = $1', null],
  ['select', 'SELECT 1/0', '22012'],
  ['select', 'SELECT $1::int AS refused', '25P02'],
  ['transaction', 'ROLLBACK', null],
  ['select', 'SELECT id / d FROM capq_fail_node WHERE id = $1', '22012'],
];

async function failsWith(client, text, values) {
  await assert.rejects(client.query(text, values), (err) => {
    failsWith.codes.push(err.code);
    return true;
  });
}
failsWith.codes = [];

async function withClient(body) {
  const client = new pg.Client();
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

test('failure classes over the extended protocol, in order, with their SQLSTATEs', async () => {
  await withClient(async (client) => {
    // a temporary table: node runs test files in parallel
    await client.query('CREATE TEMP TABLE capq_fail_node (id int PRIMARY KEY, d int)');
    await client.query('INSERT INTO capq_fail_node VALUES (1, 0), (2, 1)');
    const capture = (await client.query('SELECT capq_begin() AS id')).rows[0].id;
    failsWith.codes = [];
    // with parameters: Parse/Bind/Execute; 1/0 of a bound 1 folds at Bind
    await failsWith(client, 'SELECT $1::int / 0', [1]);
    await failsWith(client, 'SELECT * FROM capq_fail_node_missing WHERE id = $1', [1]);
    await failsWith(client, 'SELEC $1', [1]);
    await client.query('BEGIN');
    await client.query('SELECT d FROM capq_fail_node WHERE id = $1', [1]);
    await failsWith(client, 'SELECT 1/0');
    await failsWith(client, 'SELECT $1::int AS refused', [2]);
    await client.query('ROLLBACK');
    await failsWith(client, 'SELECT id / d FROM capq_fail_node WHERE id = $1', [1]);
    await client.query('SELECT capq_end()');
    assert.deepEqual(failsWith.codes, ['22012', '42P01', '42601', '22012', '25P02', '22012']);

    const { rows } = await client.query(
      'SELECT kind, query, error, error_message, started_at FROM capq_queries($1) ORDER BY seq',
      [capture]);
    assert.deepEqual(rows.map((r) => [r.kind, r.query, r.error]), EXPECTED);
    for (const r of rows) {
      assert.equal(r.error === null, r.error_message === null, r.query);
      assert.ok(r.started_at instanceof Date, r.query);
    }
    assert.match(rows[2].error_message, /^syntax error at or near "SELEC"/);
    const counts = (await client.query(
      "SELECT capq_count(capture => $1) AS sent, capq_count('error', $1) AS failed, " +
      "capq_count('invalid', $1) AS invalid",
      [capture])).rows[0];
    // pg returns bigint as a string
    assert.deepEqual(counts, { sent: '9', failed: '6', invalid: '1' });
    const snapshot = (await client.query('SELECT capq_snapshot($1) AS s', [capture])).rows[0].s;
    assert.deepEqual(snapshot.split('\n').filter((l) => l.startsWith('-- ERROR:')),
      EXPECTED.filter((e) => e[2]).map((e) => `-- ERROR: ${e[2]}`));
  });
});

test('a simple-protocol string whose second statement fails', async () => {
  await withClient(async (client) => {
    const capture = (await client.query('SELECT capq_begin() AS id')).rows[0].id;
    await assert.rejects(client.query('SELECT 1 AS first; SELECT 1/0 AS second; SELECT 3'),
      (err) => err.code === '22012');
    await client.query('SELECT capq_end()');
    const { rows } = await client.query(
      'SELECT kind, query, error FROM capq_queries($1) ORDER BY seq', [capture]);
    assert.deepEqual(rows.map((r) => [r.kind, r.query, r.error]), [
      ['select', 'SELECT 1 AS first', null],
      ['select', 'SELECT 1/0 AS second', '22012'],
    ]);
  });
});
