--
-- security_roles: what code running as another role may do to a session's
-- captures, which captures a role may read, and that a plan and the
-- relations of a statement are as private as its text (CONTRACT 1.1:
-- Visibility and privileges).
--
-- Roles: capq_sec_definer owns SECURITY DEFINER functions; capq_sec_lead
-- is a member of capq_sec_plain, so it has capq_sec_plain's privileges
-- until that membership is revoked.  Captures are begun after SET SESSION
-- AUTHORIZATION: a capture belongs to the session user.  Statements of
-- other backends and roles that cannot read each other are in
-- test/python/test_security.py.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;
\set VERBOSITY terse
CREATE ROLE capq_sec_definer;
CREATE ROLE capq_sec_plain;
CREATE ROLE capq_sec_lead IN ROLE capq_sec_plain;
CREATE TABLE capq_sec_t (id int PRIMARY KEY, ssn text, pin int);
INSERT INTO capq_sec_t VALUES (1, '078-05-1120', 4321);
ANALYZE capq_sec_t;
GRANT SELECT ON capq_sec_t TO PUBLIC;

--
-- 1. Code running as another role cannot begin, step or end a capture in
-- the caller's backend (42501): a SECURITY DEFINER function, a SECURITY
-- DEFINER trigger, and SET ROLE.
--
CREATE FUNCTION capq_sec_trap() RETURNS bigint LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT capq_begin('trap', plans => 'on') $$;
CREATE FUNCTION capq_sec_phase() RETURNS int LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT capq_phase('definer phase') $$;
CREATE FUNCTION capq_sec_end() RETURNS bigint LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT capq_end() $$;
CREATE FUNCTION capq_sec_trigger() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN PERFORM capq_begin('trap', plans => 'on'); RETURN NEW; END $$;
ALTER FUNCTION capq_sec_trap() OWNER TO capq_sec_definer;
ALTER FUNCTION capq_sec_phase() OWNER TO capq_sec_definer;
ALTER FUNCTION capq_sec_end() OWNER TO capq_sec_definer;
ALTER FUNCTION capq_sec_trigger() OWNER TO capq_sec_definer;
CREATE TABLE capq_sec_log (id int);
CREATE TRIGGER capq_sec_log_trap BEFORE INSERT ON capq_sec_log
  FOR EACH ROW EXECUTE FUNCTION capq_sec_trigger();

SELECT capq_sec_trap();
\echo :LAST_ERROR_SQLSTATE
INSERT INTO capq_sec_log VALUES (1);
\echo :LAST_ERROR_SQLSTATE
-- no capture was begun, and the caller's own capq_begin() works
SELECT count(*) AS trap_captures FROM capq_sessions() WHERE label = 'trap';
SELECT capq_begin() > 0 AS began;
SELECT 'caller statement' AS s;
-- the definer can neither start a phase nor end the caller's capture
SELECT capq_sec_phase();
\echo :LAST_ERROR_SQLSTATE
SELECT capq_sec_end();
\echo :LAST_ERROR_SQLSTATE
SELECT phase, query FROM capq_queries() ORDER BY seq;
SELECT capq_end();
-- reading is not refused: what it shows is masked by privileges instead
SELECT capq_count();

-- SET ROLE changes the current user too: begin, phase and end are refused
-- until RESET ROLE (SET SESSION AUTHORIZATION changes the session user)
SELECT capq_begin() > 0 AS began;
SET ROLE capq_sec_plain;
SELECT capq_phase('as plain');
\echo :LAST_ERROR_SQLSTATE
SELECT capq_end();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT capq_end() >= 0 AS ended;
SET ROLE capq_sec_plain;
SELECT capq_begin();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET SESSION AUTHORIZATION capq_sec_plain;
SELECT capq_begin() > 0 AS began;
SELECT capq_end();
RESET SESSION AUTHORIZATION;

--
-- 2. Plans and relations are as private as text.  capq_sec_lead captures
-- with plans; as capq_sec_plain (SET ROLE: capq_sec_lead has its
-- privileges) it runs a query whose plan shows its constants.
--
SET SESSION AUTHORIZATION capq_sec_lead;
SELECT capq_begin('plans', plans => 'on') > 0 AS began;
SET ROLE capq_sec_plain;
SELECT id FROM capq_sec_t WHERE ssn = '078-05-1120' AND pin = 4321;
RESET ROLE;
SELECT id FROM capq_sec_t WHERE ssn = 'lead''s own' AND pin = 1;
SELECT capq_end();
-- capq_sec_lead sees its capture whole
SELECT seq, username, query, relations, plan LIKE '%078-05-1120%' AS plan_has_ssn
  FROM capq_queries() WHERE kind = 'select' ORDER BY seq;
RESET SESSION AUTHORIZATION;

-- without capq_sec_plain's privileges, its statement is masked everywhere:
-- text, plan and relations in capq_queries, the snapshot with plans, the
-- summary, and the assertion message
REVOKE capq_sec_plain FROM capq_sec_lead;
SET SESSION AUTHORIZATION capq_sec_lead;
SELECT seq, username, query, params, relations, plan
  FROM capq_queries() WHERE username = 'capq_sec_plain' ORDER BY seq;
SELECT position('078-05-1120' IN capq_snapshot(plans => true)) AS ssn_in_snapshot,
       position('4321' IN capq_snapshot(plans => true)) AS pin_in_snapshot,
       position('Filter: ((ssn = ''lead''''s own''' IN capq_snapshot(plans => true)) > 0
         AS own_plan_in_snapshot;
SELECT query, relations FROM capq_summary() ORDER BY query;
SELECT position('078-05-1120' IN query) AS ssn_in_own_plan_rows
  FROM capq_queries() WHERE username = 'capq_sec_lead' AND kind = 'select';
\set VERBOSITY default
SELECT capq_assert_count(0, 'select');
\set VERBOSITY terse
RESET SESSION AUTHORIZATION;

--
-- 3. A capture is read by its owner's role, roles with its privileges, and
-- pg_read_all_stats members; others get 42501, by id or not.
--
SET SESSION AUTHORIZATION capq_sec_plain;
SELECT capq_begin('plain capture') > 0 AS began;
SELECT 'plain statement' AS s;
SELECT capq_end();
RESET SESSION AUTHORIZATION;
-- capq_sec_lead no longer has capq_sec_plain's privileges (the messages
-- name the capture id, which depends on the files run before: terse)
SET SESSION AUTHORIZATION capq_sec_lead;
\set VERBOSITY sqlstate
SELECT count(*) FROM capq_queries((SELECT max(capture) FROM capq_sessions() WHERE label = 'plain capture'));
\echo :LAST_ERROR_SQLSTATE
SELECT capq_count(NULL, (SELECT max(capture) FROM capq_sessions() WHERE label = 'plain capture'));
\echo :LAST_ERROR_SQLSTATE
SELECT capq_snapshot((SELECT max(capture) FROM capq_sessions() WHERE label = 'plain capture'));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM capq_summary((SELECT max(capture) FROM capq_sessions() WHERE label = 'plain capture'));
\echo :LAST_ERROR_SQLSTATE
SELECT capq_assert_no_repeats(1, (SELECT max(capture) FROM capq_sessions() WHERE label = 'plain capture'));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
RESET SESSION AUTHORIZATION;
-- given the privileges again, it may
GRANT capq_sec_plain TO capq_sec_lead;
SET SESSION AUTHORIZATION capq_sec_lead;
SELECT username, query FROM capq_queries((SELECT max(capture) FROM capq_sessions() WHERE label = 'plain capture'));
RESET SESSION AUTHORIZATION;
-- the superuser may read every capture
SELECT capq_count(NULL, (SELECT max(capture) FROM capq_sessions() WHERE label = 'plain capture'));

SELECT capq_reset();
DROP TABLE capq_sec_log;
DROP FUNCTION capq_sec_trigger(), capq_sec_trap(), capq_sec_phase(), capq_sec_end();
DROP TABLE capq_sec_t;
DROP ROLE capq_sec_lead;
DROP ROLE capq_sec_plain;
DROP ROLE capq_sec_definer;
