--
-- scopes_roles: who may use which capture scope, who may reset, and what a
-- role sees of statements run by other roles (CONTRACT: Visibility and
-- privileges).
--
-- Three kinds of role: the superuser running this file (shown as postgres,
-- whatever its name, so that any OS user can run make installcheck), a
-- member of pg_read_all_stats (capq_stats) and a plain role (capq_plain),
-- plus capq_team, a member of capq_plain (it has capq_plain's privileges).
-- One session can only show what happens within one backend, so the
-- entries of different roles are made with SET ROLE / SET SESSION
-- AUTHORIZATION between statements of a single capture.  A capture belongs
-- to the session user (capq_begin under SET ROLE is refused, see
-- sql/security_roles.sql), so captures are begun after SET SESSION
-- AUTHORIZATION.  Reading other backends' statements across connections is
-- tested in test/python/test_privileges.py.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;
SELECT current_user AS superuser \gset
\set VERBOSITY terse
CREATE ROLE capq_plain LOGIN;
CREATE ROLE capq_stats LOGIN IN ROLE pg_read_all_stats;
CREATE ROLE capq_team LOGIN IN ROLE capq_plain;
-- a table every role may read, to have statements with parameters
CREATE TABLE capq_roles_t (id int PRIMARY KEY, secret text);
INSERT INTO capq_roles_t VALUES (1, 'one'), (2, 'two');
GRANT SELECT ON capq_roles_t TO PUBLIC;

--
-- 1. Scopes.  'backend' is for everybody; 'database' and 'all' need
-- superuser or the privileges of pg_read_all_stats (42501 otherwise).
--
SET SESSION AUTHORIZATION capq_plain;
SELECT current_user, capq_begin(label => 'plain-backend') > 0 AS began;
SELECT capq_end();
SELECT capq_begin(label => 'plain-database', scope => 'database');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_begin(label => 'plain-all', scope => 'all');
\echo :LAST_ERROR_SQLSTATE
-- a refused begin leaves nothing behind: no active capture of this backend
SELECT count(*) AS active_here FROM capq_sessions()
 WHERE owner_pid = pg_backend_pid() AND state = 'active';
RESET SESSION AUTHORIZATION;

-- after SET SESSION AUTHORIZATION both session_user and current_user change
SET SESSION AUTHORIZATION capq_plain;
SELECT session_user, current_user;
SELECT capq_begin(scope => 'all');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- capq_team (a member of capq_plain only) is just as plain
SET SESSION AUTHORIZATION capq_team;
SELECT capq_begin(scope => 'database');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- pg_read_all_stats members may use every scope
SET SESSION AUTHORIZATION capq_stats;
-- (wide captures also take any other backend's statements: only this
-- backend's entries are shown)
SELECT capq_begin(label => 'stats-database', scope => 'database') > 0 AS began;
SELECT 'stats in database scope' AS s;
SELECT scope, state FROM capq_sessions()
 WHERE owner_pid = pg_backend_pid() AND state = 'active';
SELECT CASE username WHEN :'superuser' THEN 'postgres' ELSE username END AS username, query FROM capq_queries() WHERE pid = pg_backend_pid();
SELECT capq_end() >= 1 AS ended;
SELECT capq_begin(label => 'stats-all', scope => 'all') > 0 AS began;
SELECT 'stats in all scope' AS s;
SELECT CASE username WHEN :'superuser' THEN 'postgres' ELSE username END AS username, query FROM capq_queries() WHERE pid = pg_backend_pid();
SELECT capq_end() >= 1 AS ended;
SELECT capq_begin(label => 'stats-backend') > 0 AS began;
SELECT capq_end();
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION capq_stats;
SELECT capq_begin(scope => 'all') > 0 AS began;
SELECT scope FROM capq_sessions()
 WHERE owner_pid = pg_backend_pid() AND state = 'active';
SELECT capq_end() >= 0 AS ended;
RESET SESSION AUTHORIZATION;

-- and so may the superuser
SELECT capq_begin(label => 'super-database', scope => 'database') > 0 AS began;
SELECT 'super in database scope' AS s;
SELECT CASE username WHEN :'superuser' THEN 'postgres' ELSE username END AS username, query FROM capq_queries() WHERE pid = pg_backend_pid();
SELECT capq_end() >= 1 AS ended;
SELECT capq_begin(label => 'super-all', scope => 'all') > 0 AS began;
SELECT 'super in all scope' AS s;
SELECT CASE username WHEN :'superuser' THEN 'postgres' ELSE username END AS username, query FROM capq_queries() WHERE pid = pg_backend_pid();
SELECT capq_end() >= 1 AS ended;
-- an unknown scope is 22023 for everybody
SET ROLE capq_plain;
SELECT capq_begin(scope => 'cluster');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT capq_begin(scope => 'cluster');
\echo :LAST_ERROR_SQLSTATE

-- every capture begun above, with the scope it was granted; the refused
-- begins left no slot behind
SELECT label, scope, state, statements > 0 AS counted, lost FROM capq_sessions()
 WHERE owner_pid = pg_backend_pid() ORDER BY capture;

--
-- 2. capq_reset() is for superusers and roles granted EXECUTE on it: the
-- install script revokes it from PUBLIC, so other roles are refused by the
-- function's ACL (42501) ...
--
SET ROLE capq_plain;
SELECT capq_reset();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE capq_stats;
SELECT capq_reset();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- (granted EXECUTE, a role may reset: sql/capture_errors.sql shows it)
-- the captures are still there
SELECT count(*) > 0 AS kept FROM capq_sessions() WHERE owner_pid = pg_backend_pid();

--
-- 3. Reading statements of other roles.  A statement joins a capture only
-- if the capture's owner may read it.  capq_team (a member of capq_plain)
-- owns the capture: its statements and capq_plain's (SET ROLE) join it;
-- those of the superuser and of capq_stats, run later in the same backend,
-- do not.  Parameters come from EXECUTE of a prepared statement.
--
PREPARE capq_roles_q(int) AS SELECT secret FROM capq_roles_t WHERE id = $1;
SET SESSION AUTHORIZATION capq_team;
SELECT capq_begin(label => 'mixed') > 0 AS began;
EXECUTE capq_roles_q(1);
SELECT 'team text' AS who;
SET ROLE capq_plain;
EXECUTE capq_roles_q(2);
SELECT 'plain text' AS who;
RESET ROLE;
RESET SESSION AUTHORIZATION;
EXECUTE capq_roles_q(1);
SELECT 'superuser text: not captured' AS who;
SET ROLE capq_stats;
SELECT 'stats text: not captured' AS who;
RESET ROLE;
SET SESSION AUTHORIZATION capq_team;

-- the owner sees every statement its capture holds
SELECT seq, CASE username WHEN :'superuser' THEN 'postgres' ELSE username END AS username, kind, query, params FROM capq_queries() ORDER BY seq;
-- counts are not privileged: every statement the capture holds
SELECT capq_count() AS statements, capq_count('select') AS selects;
SELECT capq_end();
RESET SESSION AUTHORIZATION;

-- a pg_read_all_stats member reads the capture by id, every text and
-- parameter; so does the superuser
SET ROLE capq_stats;
SELECT seq, CASE username WHEN :'superuser' THEN 'postgres' ELSE username END AS username, query, params
  FROM capq_queries((SELECT max(capture) FROM capq_sessions() WHERE label = 'mixed'))
 ORDER BY seq;
RESET ROLE;
SELECT count(*) FILTER (WHERE query <> '<insufficient privilege>') AS shown
  FROM capq_queries((SELECT max(capture) FROM capq_sessions() WHERE label = 'mixed'));

-- capq_plain does not have capq_team's privileges: it may not read the
-- capture at all (42501), although some statements in it are its own
-- (the message names the capture id, which varies: sqlstate only)
SET ROLE capq_plain;
\set VERBOSITY sqlstate
SELECT count(*) FROM capq_queries((SELECT max(capture) FROM capq_sessions() WHERE label = 'mixed'));
\echo :LAST_ERROR_SQLSTATE
SELECT capq_count(NULL, (SELECT max(capture) FROM capq_sessions() WHERE label = 'mixed'));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
RESET ROLE;

-- privileges are checked when reading: once capq_team loses capq_plain's
-- privileges, capq_plain's statements in its capture are masked, in the
-- rows and in the assertion message
REVOKE capq_plain FROM capq_team;
SET SESSION AUTHORIZATION capq_team;
SELECT seq, CASE username WHEN :'superuser' THEN 'postgres' ELSE username END AS username, query, params, relations
  FROM capq_queries((SELECT max(capture) FROM capq_sessions() WHERE label = 'mixed'))
 ORDER BY seq;
SELECT capq_count() AS statements;
\set VERBOSITY default
SELECT capq_assert_count(1, 'select');
\set VERBOSITY terse
RESET SESSION AUTHORIZATION;
GRANT capq_plain TO capq_team;

--
-- 4. The superuser resets; afterwards nothing is left to read.
--
SELECT capq_reset();
SELECT count(*) AS captures_left FROM capq_sessions();
SELECT capq_count();
\echo :LAST_ERROR_SQLSTATE

DEALLOCATE capq_roles_q;
DROP TABLE capq_roles_t;
DROP ROLE capq_team;
DROP ROLE capq_stats;
DROP ROLE capq_plain;
