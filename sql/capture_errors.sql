--
-- capture_errors: every error of the interface, with its SQLSTATE.
--
--   55000  nothing to read; capq_begin() twice; capq_end()/capq_phase()
--          without an active capture
--   22023  unknown kind, scope or plans; negative counts; bad capture ids;
--          empty label; out-of-range settings
--   22004  NULL where a value is required
--   42501  capq_reset() without EXECUTE, wide scopes without privileges; superuser-only
--          settings
--   42704  a capture id that never existed
--   P0004  failed assertions: errmsg compares expected with captured,
--          errdetail lists the statements numbered with their phase (a
--          failed one marked with its SQLSTATE), errhint names a statement
--          shape repeated within one phase
-- The SQLSTATE is printed after each error with \echo :LAST_ERROR_SQLSTATE.
-- Messages naming a capture id (which grows across tests) are shown terse.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
DROP ROLE IF EXISTS regress_capq_plain;
DROP ROLE IF EXISTS regress_capq_stats;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- 55000: this backend has begun nothing yet
SELECT capq_count();
\echo :LAST_ERROR_SQLSTATE
SELECT capq_count('select');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM capq_queries();
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_count(0);
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_max(0);
\echo :LAST_ERROR_SQLSTATE
SELECT capq_end();
\echo :LAST_ERROR_SQLSTATE
SELECT capq_phase('x');
\echo :LAST_ERROR_SQLSTATE

-- 55000: a second capq_begin() while one is active (the detail names it)
SELECT capq_begin() > 0 AS began;
\set VERBOSITY terse
SELECT capq_begin();
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin('another');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- 22023: unknown kinds (names are lower case, as the contract spells them)
SELECT capq_count('bogus');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_count('SELECT');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_count('');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_count(0, 'nope');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_max(0, 'nope');
\echo :LAST_ERROR_SQLSTATE

-- 22023: negative counts
SELECT capq_assert_count(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_max(-1, 'select');
\echo :LAST_ERROR_SQLSTATE

-- 22023: capture ids are positive
SELECT capq_count(capture => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM capq_queries(-5);
\echo :LAST_ERROR_SQLSTATE

-- 42704: a capture that never existed
SELECT capq_count(capture => 9223372036854775807);
\echo :LAST_ERROR_SQLSTATE

-- 22004: NULL where a value is required
SELECT capq_assert_count(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_max(NULL, 'select');
\echo :LAST_ERROR_SQLSTATE

-- NULL kind and NULL capture mean "all kinds" and "the default capture"
SELECT capq_count(NULL, NULL) AS all_kinds;
SELECT capq_assert_count(0, NULL);
SELECT capq_end();

-- capq_begin() arguments: 22023 and 22004
SELECT capq_begin(scope => 'galaxy');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin(scope => 'Backend');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin(plans => 'maybe');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin('');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin(repeat('x', 64));
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin(scope => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin(plans => NULL);
\echo :LAST_ERROR_SQLSTATE
-- none of them began a capture
SELECT capq_end();
\echo :LAST_ERROR_SQLSTATE

-- 22023: settings out of range
SET capquery.max_query_length = 10;
\echo :LAST_ERROR_SQLSTATE
SET capquery.track = 'sometimes';
\echo :LAST_ERROR_SQLSTATE

-- 42501: a role without privileges
CREATE ROLE regress_capq_plain;
CREATE ROLE regress_capq_stats IN ROLE pg_read_all_stats;
SET SESSION AUTHORIZATION regress_capq_plain;
SELECT capq_reset();
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin(scope => 'database');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin(scope => 'all');
\echo :LAST_ERROR_SQLSTATE
SET capquery.track = 'all';
\echo :LAST_ERROR_SQLSTATE
SET capquery.track_utility = off;
\echo :LAST_ERROR_SQLSTATE
SET capquery.max_query_length = 100;
\echo :LAST_ERROR_SQLSTATE
-- scope 'backend' needs no privilege
SELECT capq_begin() > 0 AS began;
SELECT capq_end();
RESET SESSION AUTHORIZATION;
-- granted EXECUTE, a non-superuser may reset (as pg_stat_statements_reset():
-- the privilege is the function's, revoked from PUBLIC by the install script)
GRANT EXECUTE ON FUNCTION capq_reset() TO regress_capq_plain;
SET SESSION AUTHORIZATION regress_capq_plain;
SELECT capq_reset();
RESET SESSION AUTHORIZATION;
REVOKE EXECUTE ON FUNCTION capq_reset() FROM regress_capq_plain;
-- pg_read_all_stats members may use the wide scopes
SET SESSION AUTHORIZATION regress_capq_stats;
SELECT capq_begin(scope => 'database') > 0 AS began;
SELECT scope, state FROM capq_sessions() WHERE owner_pid = pg_backend_pid() AND state = 'active';
SELECT capq_end() >= 0 AS ended;
RESET SESSION AUTHORIZATION;

-- P0004: failed assertions
SELECT capq_begin() > 0 AS began;
SELECT 1 AS one;
SELECT 1 AS one;
SELECT capq_phase('second');
SELECT 2 AS two;
-- a statement that fails counts too (1.1), and is marked in the list
INSERT INTO pg_temp.no_such_table VALUES (1);
SELECT capq_assert_count(1);
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_count(2, 'select');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_max(3);
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_count(2, 'insert');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_count(0, 'error');
\echo :LAST_ERROR_SQLSTATE
-- passing assertions return nothing
SELECT capq_assert_count(4);
SELECT capq_assert_max(3, 'select');
SELECT capq_assert_count(1, 'insert');
SELECT capq_assert_count(1, 'error');
-- a failed assertion does not end the capture or count itself
SELECT 3 AS three;
SELECT capq_end();
SELECT capq_assert_count(5);
SELECT capq_assert_max(0, 'update');

DROP ROLE regress_capq_plain;
DROP ROLE regress_capq_stats;
