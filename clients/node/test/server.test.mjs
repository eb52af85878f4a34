// startServer()/stopServer() around bin/capquery-tmpdb: the export lines it
// prints become process.env, a capture works against the disposable server,
// and stopping it removes its directory and gives the environment back.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import pg from 'pg';
import { capture, CapqueryAssertionError, parseExports, startServer, stopServer } from '../index.js';
import { createSchema, eagerLoad, lazyLoad } from './workload.mjs';

const TMPDB = process.env.CAPQUERY_TMPDB_COMMAND ??
  resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'bin', 'capquery-tmpdb');
const WORK = mkdtempSync(join(tmpdir(), 'capq-node-server-'));

after(() => rmSync(WORK, { recursive: true, force: true }));

test('parseExports reads bare and single-quoted values of export lines', () => {
  assert.deepEqual(parseExports([
    'export PGHOST=/dev/shm/x PGPORT=20001 PGUSER=postgres PGDATABASE=postgres',
    'export CAPQUERY_TMPDB=/dev/shm/x',
    "export CAPQUERY_URI='postgresql://postgres@127.0.0.1:20001/postgres'",
    "export QUOTED='it'\\''s'",
    'not an export PGHOST=nope',
  ].join('\n')), {
    PGHOST: '/dev/shm/x', PGPORT: '20001', PGUSER: 'postgres', PGDATABASE: 'postgres',
    CAPQUERY_TMPDB: '/dev/shm/x', CAPQUERY_URI: 'postgresql://postgres@127.0.0.1:20001/postgres',
    QUOTED: "it's",
  });
});

test('startServer exports what the command prints; stopServer stops DIR and restores the environment',
  async () => {
    // a stand-in command that logs its arguments, to check the calls themselves
    const log = join(WORK, 'calls.log');
    const fake = join(WORK, 'fake-tmpdb');
    writeFileSync(fake, `#!/bin/sh\necho "$*" >>'${log}'\ncase "$*" in *start)\n` +
      `echo "export PGHOST=${WORK}/sock PGPORT=20999 PGUSER=postgres PGDATABASE=postgres"\n` +
      `echo "export CAPQUERY_TMPDB=${WORK}/db"\n` +
      `echo "export CAPQUERY_URI='postgresql://postgres@127.0.0.1:20999/postgres'";; esac\n`);
    chmodSync(fake, 0o755);
    const before = { PGHOST: process.env.PGHOST, PGPORT: process.env.PGPORT };
    const server = await startServer({ command: fake, bindir: '/some/bin' });
    assert.equal(server.port, 20999);
    assert.equal(server.dir, `${WORK}/db`);
    assert.equal(server.uri, 'postgresql://postgres@127.0.0.1:20999/postgres');
    assert.equal(process.env.PGPORT, '20999');
    assert.equal(process.env.CAPQUERY_TMPDB, `${WORK}/db`);
    await stopServer(server);
    assert.deepEqual({ PGHOST: process.env.PGHOST, PGPORT: process.env.PGPORT }, before);
    assert.equal(process.env.CAPQUERY_TMPDB, undefined);
    assert.deepEqual(readFileSync(log, 'utf8').split('\n'), ['--bindir /some/bin start', `stop ${WORK}/db`, '']);
    await assert.rejects(startServer({ command: join(WORK, 'missing') }), /capquery: .*missing start failed/);
  });

test('the disposable server from bin/capquery-tmpdb: a capture catches the N+1 and passes the eager load',
  { skip: existsSync(TMPDB) ? false : `${TMPDB} is absent (it comes with the disposable-server change)` },
  async () => {
    const server = await startServer({ bindir: process.env.PGTEMP_BINDIR });
    let client;
    try {
      assert.ok(existsSync(server.dir));
      client = new pg.Client();   // no settings: PGHOST, PGPORT ... from startServer
      await client.connect();
      assert.equal(client.port, server.port);
      await createSchema(client, 'tmpdb', 3);
      const lazy = await capture(client, () => lazyLoad(client, 'tmpdb', 3));
      await assert.rejects(lazy.assertNoRepeats(), CapqueryAssertionError);
      const eager = await capture(client, () => eagerLoad(client, 'tmpdb', 3));
      await eager.assertNoRepeats();
      await eager.assertCount(1);
      // the URI reaches the same server over TCP
      const tcp = new pg.Client({ connectionString: server.uri });
      await tcp.connect();
      assert.equal((await tcp.query("SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'capquery'")).rows[0].n, 1);
      await tcp.end();
    } finally {
      if (client) await client.end();
      await stopServer(server);
    }
    assert.ok(!existsSync(server.dir), `${server.dir} is still there`);
  });
