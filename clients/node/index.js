// clients/node/index.js: capquery for Node test suites (node --test, Jest, Vitest).
// Wraps a pg Client or Pool in a capture, asserts through the server's capq_* functions, keeps snapshot files.
//
// The module never imports pg: it drives whatever Client or Pool the caller
// hands it (any pg 8.x), so it adds no dependency to an application.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULE_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(MODULE_FILE), '..', '..');
const SNAPSHOT_DIR = '__capquery_snapshots__';

/*
 * A failed capquery assertion (SQLSTATE P0004).  The message is the server's
 * errmsg, errdetail and errhint, unchanged and in that order, so a test
 * runner shows the numbered statements, the diff or the repeated shape as
 * the server wrote them; the driver's error stays in `cause`.
 */
export class CapqueryAssertionError extends Error {
  constructor(pgError) {
    const parts = [pgError.message];
    if (pgError.detail) parts.push(pgError.detail);
    if (pgError.hint) parts.push(`HINT:  ${pgError.hint}`);
    super(parts.join('\n'), { cause: pgError });
    this.name = 'CapqueryAssertionError';
    this.code = pgError.code;
    this.serverMessage = pgError.message;
    this.detail = pgError.detail;
    this.hint = pgError.hint;
  }
}

// Run one capq_* call; a P0004 becomes a CapqueryAssertionError, any other
// error (55000: no capture, 22023: bad kind ...) is rethrown as the driver raised it.
async function call(client, sql, values) {
  try {
    return (await client.query(sql, values)).rows;
  } catch (err) {
    if (err && err.code === 'P0004') throw new CapqueryAssertionError(err);
    throw err;
  }
}

const isPool = (db) => typeof db.connect === 'function' && 'totalCount' in db;

// Each owner connection's latest capture: capq_assert_count and
// capq_assert_max read that one, so an older capture must not call them.
const latestCapture = new WeakMap();

// The label a pool's connections join with: capquery.session in its
// connection options ('-c capquery.session=NAME'), or null.
export function poolSessionLabel(pool) {
  const opts = (pool.options && pool.options.options) || '';
  const m = /(?:^|\s)-c\s*capquery\.session=(\S+)/.exec(opts) ||
    /(?:^|\s)--capquery\.session=(\S+)/.exec(opts);
  return m ? m[1] : null;
}

/*
 * One capture.  `owner` is the connection that began it: assertions that
 * read "this backend's capture" (capq_assert_count, capq_assert_max) must run
 * there.  For a Pool the owner is a connection of its own, which close() ends.
 */
class Capture {
  constructor(owner, id, label, ownsOwner) {
    this.owner = owner;
    this.id = id;
    this.label = label;
    this.ownsOwner = ownsOwner;
    this.active = true;
  }

  // Start the next phase of the active capture; returns its number.
  async phase(name = null) {
    const rows = await call(this.owner, 'SELECT capq_phase($1) AS n', [name]);
    return rows[0].n;
  }

  async end() {
    if (!this.active) return null;
    const rows = await call(this.owner, 'SELECT capq_end() AS n', []);
    this.active = false;
    return Number(rows[0].n);
  }

  async count(kind = null) {
    const rows = await call(this.owner, 'SELECT capq_count($1, $2) AS n', [kind, this.id]);
    return Number(rows[0].n);
  }

  queries() {
    return call(this.owner, 'SELECT * FROM capq_queries($1) ORDER BY seq', [this.id]);
  }

  summary() {
    return call(this.owner, 'SELECT * FROM capq_summary($1) ORDER BY phase, executions DESC, query',
      [this.id]);
  }

  async snapshot() {
    return (await call(this.owner, 'SELECT capq_snapshot($1) AS s', [this.id]))[0].s;
  }

  // capq_assert_count and capq_assert_max take no capture id: they read the
  // owner's latest capture, so refuse (rather than check the wrong one) after a newer began
  checkLatest(what) {
    if (latestCapture.get(this.owner) !== this) {
      throw new Error(`capquery: ${what} reads the connection's latest capture, and capture ${this.id} ` +
        'is no longer it: assert before beginning the next capture on this connection, or use count()');
    }
  }

  async assertCount(expected, kind = null) {
    this.checkLatest('assertCount');
    await call(this.owner, 'SELECT capq_assert_count($1, $2)', [expected, kind]);
  }

  async assertMax(max, kind = null) {
    this.checkLatest('assertMax');
    await call(this.owner, 'SELECT capq_assert_max($1, $2)', [max, kind]);
  }

  async assertNoRepeats(maxRepeats = 1) {
    await call(this.owner, 'SELECT capq_assert_no_repeats($1, $2)', [maxRepeats, this.id]);
  }

  async assertSameCount(other, kind = null) {
    await call(this.owner, 'SELECT capq_assert_same_count($1, $2, $3)', [this.id, other.id, kind]);
  }

  /*
   * Compare the capture's snapshot with __capquery_snapshots__/<test file>/<name>.sql
   * beside the calling test file.  When the file is missing, or CAPQUERY_UPDATE=1,
   * it is (re)written from capq_snapshot() and the call passes; otherwise the
   * server compares (capq_assert_snapshot) and a difference raises its diff.
   * opts.file: the test file (a path or import.meta.url) when the caller's
   * stack cannot tell it.  Returns { path, written }.
   */
  async assertSnapshot(name, opts = {}) {
    const path = snapshotPath(name, opts.file ?? callerFile(new Error().stack));
    if (!existsSync(path) || updateRequested()) {
      const text = await this.snapshot();
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      return { path, written: true };
    }
    await call(this.owner, 'SELECT capq_assert_snapshot($1, $2)', [readFileSync(path, 'utf8'), this.id]);
    return { path, written: false };
  }

  // End the owner connection when the capture opened it (a Pool's); idempotent.
  async close() {
    if (this.ownsOwner && this.owner) {
      const owner = this.owner;
      this.owner = null;
      await owner.end();
    }
  }
}

/*
 * capture(db, body, {label, scope, plans}): run `await body(capture)` under a
 * capture and return the ended Capture, ready for its assertions.
 *
 * db is a pg Client: the capture belongs to it, and body runs its queries
 * on it (scope 'backend'), or on connections that join by label or scope.
 * db is a pg Pool: a separate owner connection (the pool's settings, outside
 * its max) begins the capture; the pool's connections join through the
 * label in their options ('-c capquery.session=LABEL', taken as the default
 * label) or through scope 'database'.  Call capture.close() when done.
 * On an error in body the capture is ended and the error rethrown.
 */
export async function capture(db, body, opts = {}) {
  let owner = db;
  let ownsOwner = false;
  let label = opts.label ?? null;
  const scope = opts.scope ?? 'backend';
  if (isPool(db)) {
    label = label ?? poolSessionLabel(db);
    if (label === null && scope === 'backend') {
      throw new Error('capquery: a Pool needs its connections to join the capture: create it with ' +
        "options: '-c capquery.session=LABEL', or pass { scope: 'database' }");
    }
    owner = new db.Client(db.options);
    ownsOwner = true;
    await owner.connect();
  }
  let cap;
  try {
    const rows = await call(owner, 'SELECT capq_begin($1, $2, $3) AS id',
      [label, scope, opts.plans ?? 'off']);
    cap = new Capture(owner, rows[0].id, label, ownsOwner);
    latestCapture.set(owner, cap);
  } catch (err) {
    if (ownsOwner) await owner.end();
    throw err;
  }
  try {
    await body(cap);
  } catch (err) {
    await cap.end().catch(() => {});
    await cap.close().catch(() => {});
    throw err;
  }
  await cap.end();
  return cap;
}

const updateRequested = () => ['1', 'true', 'yes'].includes((process.env.CAPQUERY_UPDATE ?? '').toLowerCase());

// The first file on a stack that is not this module (the test calling us).
function callerFile(stack) {
  for (const line of (stack || '').split('\n').slice(1)) {
    const m = /(file:\/\/[^\s)]+|\/[^\s():]+):\d+:\d+\)?\s*$/.exec(line);
    if (!m) continue;
    const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
    if (file !== MODULE_FILE) return file;
  }
  throw new Error('capquery: cannot tell the test file from the stack; pass { file: import.meta.url }');
}

// __capquery_snapshots__/<test file>/<name>.sql beside the test file.
export function snapshotPath(name, testFile) {
  const file = testFile.startsWith('file://') ? fileURLToPath(testFile) : resolve(testFile);
  const safe = String(name).replace(/[^A-Za-z0-9._ -]+/g, '_').trim();
  if (!safe || safe.startsWith('.')) throw new Error(`capquery: unusable snapshot name ${JSON.stringify(name)}`);
  return join(dirname(file), SNAPSHOT_DIR, basename(file), `${safe}.sql`);
}

/*
 * The disposable server: bin/capquery-tmpdb start (a throwaway PostgreSQL 15
 * with capquery preloaded and created).  Returns { host, port, user,
 * database, uri, dir, env }; with exportEnv (default) its PG* variables go
 * into process.env, so new pg Clients and Pools reach it with no settings.
 * The server also stops when this process exits (capquery-tmpdb watches it).
 * opts.command: another capquery-tmpdb; opts.bindir: PostgreSQL's binaries.
 */
export async function startServer(opts = {}) {
  const command = opts.command ?? process.env.CAPQUERY_TMPDB_COMMAND ?? join(REPO_ROOT, 'bin', 'capquery-tmpdb');
  const args = [...(opts.bindir ? ['--bindir', opts.bindir] : []), 'start'];
  const stdout = await run(command, args);
  const env = parseExports(stdout);
  for (const v of ['PGHOST', 'PGPORT', 'CAPQUERY_TMPDB']) {
    if (!env[v]) throw new Error(`capquery: ${command} start printed no ${v}:\n${stdout}`);
  }
  let previousEnv = null;
  if (opts.exportEnv ?? true) {
    previousEnv = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
  }
  return {
    host: env.PGHOST, port: Number(env.PGPORT), user: env.PGUSER, database: env.PGDATABASE,
    uri: env.CAPQUERY_URI, dir: env.CAPQUERY_TMPDB, env, command, previousEnv,
  };
}

// Stop a server from startServer() (default: the one in CAPQUERY_TMPDB), remove
// its directory, and restore the environment variables startServer() set.
export async function stopServer(server = null) {
  const dir = server?.dir ?? process.env.CAPQUERY_TMPDB;
  if (!dir) throw new Error('capquery: no server to stop (CAPQUERY_TMPDB is not set)');
  const command = server?.command ?? process.env.CAPQUERY_TMPDB_COMMAND ?? join(REPO_ROOT, 'bin', 'capquery-tmpdb');
  await run(command, ['stop', dir]);
  // give back the variables startServer() replaced
  if (server?.previousEnv && process.env.CAPQUERY_TMPDB === dir) {
    for (const [k, v] of Object.entries(server.previousEnv)) {
      if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  } else if (process.env.CAPQUERY_TMPDB === dir) {
    delete process.env.CAPQUERY_TMPDB;
  }
}

function run(command, args) {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        err.message = `capquery: ${command} ${args.join(' ')} failed: ${err.message}\n${stderr}`;
        reject(err);
      } else {
        resolvePromise(stdout);
      }
    });
  });
}

// The NAME=VALUE pairs of shell `export` lines (values bare or single-quoted).
export function parseExports(text) {
  const env = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('export ')) continue;
    const re = /([A-Za-z_][A-Za-z0-9_]*)=('(?:[^']|'\\'')*'|\S*)/g;
    let m;
    while ((m = re.exec(line.slice(7))) !== null) {
      let v = m[2];
      if (v.startsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
      env[m[1]] = v;
    }
  }
  return env;
}
