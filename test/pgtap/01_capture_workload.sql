-- capquery used the way a SQL-level test suite uses it: capture a workload
-- inside the test, then count, list and assert on what the server executed.
--
-- Run by pg_prove (one psql session per file, in a database where pgtap and
-- capquery are installed).  Rules this file relies on, from the contract:
--   * every top-level statement psql sends is captured as its own entry;
--   * a statement that calls a capq_* function is never captured, so
--     "SELECT is(capq_count(), ...)" may run while the capture is active;
--   * pgTAP's other statements (SELECT ok(...), results_eq('...'), ...) are
--     ordinary statements: they run only once the capture has ended;
--   * capture state lives outside transactions (this file is one transaction
--     that ends in ROLLBACK, and uses ROLLBACK TO SAVEPOINT inside a capture).
-- Workload SELECTs send their output to /dev/null so that only TAP reaches
-- pg_prove; "\gset" keeps capture ids in psql variables without output.

\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
SELECT plan(46);

-- Top-level statements only (the default), utility statements included:
-- pinned here because pgTAP's assertion functions run nested statements.
SET LOCAL capquery.track = 'top';
SET LOCAL capquery.track_utility = on;

CREATE TEMP TABLE tap_items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO tap_items SELECT g, 'item ' || g FROM generate_series(1, 10) g;

-- Runs a statement and returns the error it raises, for checking errdetail.
CREATE FUNCTION pg_temp.capq_error(sql text,
    OUT state text, OUT message text, OUT detail text)
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE sql;
EXCEPTION WHEN OTHERS OR ASSERT_FAILURE THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
                            message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
END
$fn$;

------------------------------------------------------------------------------
-- Capture 1.  Phase 1: three SELECTs.
SELECT capq_begin('pgtap workload') AS cap1 \gset
SELECT count(*) FROM tap_items \g /dev/null
SELECT name FROM tap_items WHERE id = 3 \g /dev/null
SELECT id FROM tap_items WHERE id > 7 ORDER BY id \g /dev/null

SELECT is(capq_count(), 3::bigint,
    'three statements captured: the capq_begin() call is not one of them');
SELECT is(capq_count('select'), 3::bigint, '... all three of kind select');
SELECT is(capq_count('insert'), 0::bigint, '... none of kind insert');
SELECT is(capq_count(), 3::bigint,
    'reading the count is not captured either (still 3)');
SELECT is((SELECT state FROM capq_sessions() WHERE capture = :cap1),
    'active', 'capq_sessions shows the capture active while it runs');

-- Phase 2: writes, transaction control and a utility statement.
SELECT is(capq_phase('writes'), 2, 'capq_phase() starts phase 2');
INSERT INTO tap_items VALUES (11, 'eleven'), (12, 'twelve');
UPDATE tap_items SET name = upper(name) WHERE id <= 4;
DELETE FROM tap_items WHERE id = 12;
SAVEPOINT tap_sp;
RELEASE SAVEPOINT tap_sp;
CREATE TEMP TABLE tap_scratch (x int);

SELECT is(capq_count(), 9::bigint, 'nine statements captured over two phases');
SELECT is(capq_count('select'), 3::bigint, '3 select');
SELECT is(capq_count('insert'), 1::bigint, '1 insert');
SELECT is(capq_count('update'), 1::bigint, '1 update');
SELECT is(capq_count('delete'), 1::bigint, '1 delete');
SELECT is(capq_count('transaction'), 2::bigint, '2 transaction (SAVEPOINT, RELEASE)');
SELECT is(capq_count('utility'), 1::bigint, '1 utility (CREATE TABLE)');
SELECT is(capq_count('merge'), 0::bigint, '0 merge');
SELECT is(capq_end(), 9::bigint, 'capq_end() returns the number captured');

-- Not captured: the capture has ended.
SELECT count(*) FROM tap_items \g /dev/null
INSERT INTO tap_scratch VALUES (1);

SELECT is(capq_count(), 9::bigint,
    'after capq_end() reads fall back to the ended capture, which no longer grows');
SELECT is(capq_count(capture => :cap1), 9::bigint, 'the capture can be read by id');

-- The entries, in execution order, each with its own text, phase and kind.
SELECT results_eq(
    $$SELECT seq, phase, kind, btrim(query)
        FROM capq_queries()$$,
    $$VALUES (1::bigint, 1, 'select'::text, 'SELECT count(*) FROM tap_items'::text),
             (2, 1, 'select', 'SELECT name FROM tap_items WHERE id = 3'),
             (3, 1, 'select', 'SELECT id FROM tap_items WHERE id > 7 ORDER BY id'),
             (4, 2, 'insert', 'INSERT INTO tap_items VALUES (11, ''eleven''), (12, ''twelve'')'),
             (5, 2, 'update', 'UPDATE tap_items SET name = upper(name) WHERE id <= 4'),
             (6, 2, 'delete', 'DELETE FROM tap_items WHERE id = 12'),
             (7, 2, 'transaction', 'SAVEPOINT tap_sp'),
             (8, 2, 'transaction', 'RELEASE SAVEPOINT tap_sp'),
             (9, 2, 'utility', 'CREATE TEMP TABLE tap_scratch (x int)')$$,
    'capq_queries() lists every statement in order with seq, phase, kind and text');
SELECT results_eq(
    $$SELECT seq, rows FROM capq_queries() WHERE kind <> 'transaction' AND kind <> 'utility'$$,
    $$VALUES (1::bigint, 1::bigint), (2, 1), (3, 3), (4, 2), (5, 4), (6, 1)$$,
    'rows processed: rows returned by each SELECT, rows written by each DML');
SELECT is((SELECT array_agg(DISTINCT phase_name) FROM capq_queries() WHERE phase = 2),
    ARRAY['writes'], 'phase 2 entries carry the phase name');
SELECT is((SELECT count(*) FROM capq_queries()
            WHERE capture = :cap1 AND pid = pg_backend_pid()
              AND username = current_user AND database = current_database()),
    9::bigint, 'every entry carries capture id, backend pid, user and database');
SELECT is((SELECT count(*) FROM capq_queries() WHERE duration_ms >= 0), 9::bigint,
    'every entry has a duration');
SELECT is((SELECT count(*) FROM capq_queries() WHERE query LIKE '%capq%'), 0::bigint,
    'no capq_* call appears among the entries');

SELECT results_eq(
    $$SELECT label, owner_pid, scope, state, statements, lost
        FROM capq_sessions() WHERE capture = $$ || :cap1,
    $$VALUES ('pgtap workload'::text, pg_backend_pid(), 'backend'::text,
              'ended'::text, 9::bigint, 0::bigint)$$,
    'capq_sessions shows the ended capture with its label, owner, scope and count');

-- Assertions against the ended capture.
SELECT lives_ok('SELECT capq_assert_count(9)', 'assert_count(9) passes');
SELECT lives_ok($$SELECT capq_assert_count(3, 'select')$$, 'assert_count(3, select) passes');
SELECT lives_ok($$SELECT capq_assert_count(0, 'merge')$$, 'assert_count(0, merge) passes');
SELECT throws_ok('SELECT capq_assert_count(8)', 'P0004', NULL,
    'assert_count(8) fails with P0004 when 9 were captured');
SELECT throws_ok($$SELECT capq_assert_count(2, 'select')$$, 'P0004', NULL,
    'assert_count(2, select) fails with P0004 when 3 selects were captured');
SELECT lives_ok('SELECT capq_assert_max(9)', 'assert_max(9) passes at the limit');
SELECT lives_ok($$SELECT capq_assert_max(1, 'update')$$, 'assert_max(1, update) passes');
SELECT throws_ok('SELECT capq_assert_max(8)', 'P0004', NULL,
    'assert_max(8) fails with P0004 when 9 were captured');
SELECT throws_ok($$SELECT capq_assert_max(2, 'select')$$, 'P0004', NULL,
    'assert_max(2, select) fails with P0004');

-- What a failing assertion tells the developer.
SELECT matches((pg_temp.capq_error($$SELECT capq_assert_max(2, 'select')$$)).message,
    '\m2\M.*\m3\M|\m3\M.*\m2\M',
    'the P0004 message states the limit (2) against the captured count (3)');
SELECT matches((pg_temp.capq_error('SELECT capq_assert_count(4)')).detail,
    'SELECT count\(\*\) FROM tap_items.*SELECT name FROM tap_items WHERE id = 3.*'
    'SELECT id FROM tap_items WHERE id > 7.*INSERT INTO tap_items.*'
    'UPDATE tap_items.*DELETE FROM tap_items WHERE id = 12',
    'the P0004 detail lists the captured statements in order');
SELECT matches((pg_temp.capq_error('SELECT capq_assert_count(4)')).detail,
    '\m1\M[^\n]*SELECT count\(\*\) FROM tap_items.*\m6\M[^\n]*DELETE FROM tap_items',
    'the P0004 detail numbers the statements');

------------------------------------------------------------------------------
-- Capture 2: a ROLLBACK neither removes captured statements nor ends the
-- capture, even one begun inside the rolled-back savepoint.
SAVEPOINT before_cap2;
SELECT capq_begin('pgtap rollback') AS cap2 \gset
INSERT INTO tap_items VALUES (13, 'thirteen');
SELECT name FROM tap_items WHERE id = 13 \g /dev/null
ROLLBACK TO SAVEPOINT before_cap2;

SELECT is(capq_count(), 3::bigint,
    'after ROLLBACK TO: the INSERT, the SELECT and the ROLLBACK TO are captured');
SELECT is(capq_count('transaction'), 1::bigint, '... the ROLLBACK TO as kind transaction');
SELECT is((SELECT state FROM capq_sessions() WHERE capture = :cap2), 'active',
    'the capture begun inside the rolled-back savepoint is still active');
SELECT is(capq_end(), 3::bigint, 'and it ends normally');
SELECT is((SELECT count(*) FROM tap_items WHERE id = 13), 0::bigint,
    '(the insert really was rolled back)');

SELECT isnt(:cap2::bigint, :cap1::bigint, 'each capture gets its own id');
SELECT is(capq_count(), 3::bigint, 'an unqualified read now sees the capture ended last');
SELECT is(capq_count(capture => :cap1), 9::bigint, 'the earlier capture is still readable by id');
SELECT is(capq_count('select', :cap1), 3::bigint, '... also by kind');
SELECT is((SELECT count(*) FROM capq_queries(:cap2) WHERE capture = :cap2), 3::bigint,
    'capq_queries(id) returns that capture''s entries');

SELECT * FROM finish();
ROLLBACK;
