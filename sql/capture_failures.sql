--
-- capture_failures: a statement that fails is an entry, in order, with its
-- SQLSTATE (error), its message (error_message) and its own text -- at
-- parse (kind 'invalid', the whole string), analysis, planning, refused in
-- an aborted transaction (25P02) and while running.  In a multi-statement
-- string the failed statement has its own span.  Counts include failed
-- statements; the kind filter 'error' counts only them; assertion messages
-- and the snapshot mark them (-- ERROR).  A capq_* function's own error is
-- not an entry.  An error caught by a PL/pgSQL exception block is on the
-- nested statement that raised it (track = 'all').  Another role's error
-- message is masked like its text; the SQLSTATE is not.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
DROP ROLE IF EXISTS capq_fail_plain;
DROP ROLE IF EXISTS capq_fail_lead;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE fail_t (id int PRIMARY KEY, d int);
INSERT INTO fail_t VALUES (1, 0), (2, 1);

-- 1/0 of constants is folded by the planner: EXPLAIN, which only plans,
-- already fails, so SELECT 1/0 fails before it runs
EXPLAIN (COSTS OFF) SELECT 1/0 FROM fail_t;
\echo :LAST_ERROR_SQLSTATE

SELECT capq_begin() > 0 AS began;
-- planning: no executor ever saw it, so it has no relations
SELECT 1/0 FROM fail_t;
-- analysis
SELECT * FROM fail_missing;
-- parse: the string never parsed
SELEC 1;
-- refused in an aborted transaction
BEGIN;
SELECT 1/0;
SELECT 2 AS refused;
ROLLBACK;
-- while running: the executor started it (relations are known)
SELECT id / d FROM fail_t ORDER BY id;
-- a multi-statement string whose second statement fails at planning, and
-- one whose second fails at analysis: the third never runs
SELECT 1 AS first\; SELECT 1/0\; SELECT 3 AS never;
SELECT 4 AS first\; SELECT * FROM fail_missing\; SELECT 5 AS never;
-- a string that does not parse is one invalid entry, whatever it holds
SELECT 6\; SELEC 7\; SELECT 8;
-- a capq_* function's own error is not an entry, nor is its statement
SELECT capq_count('no such kind');
\echo :LAST_ERROR_SQLSTATE
SELECT 1 AS one, capq_assert_count(100);
\echo :LAST_ERROR_SQLSTATE
SELECT 'last' AS last;
SELECT capq_end();

SELECT seq, kind, query, error, error_message, relations,
       started_at BETWEEN now() - interval '1 hour' AND clock_timestamp() AS started
  FROM capq_queries() ORDER BY seq;
-- started_at follows the order of the entries
SELECT bool_and(started_at >= prev) AS in_order
  FROM (SELECT started_at, lag(started_at, 1, '-infinity') OVER (ORDER BY seq) AS prev
          FROM capq_queries()) s;
-- capq_count() is what the application sent; 'error' counts failed ones
SELECT capq_count() AS sent, capq_count('error') AS failed,
       capq_count('invalid') AS invalid, capq_count('select') AS selects;
SELECT statements FROM capq_sessions()
 WHERE capture = (SELECT max(capture) FROM capq_queries());
SELECT capq_assert_count(8, 'error');
SELECT capq_assert_max(8, 'error');
-- assertion messages mark failed statements
SELECT capq_assert_count(0, 'error');
SELECT capq_assert_count(0, 'select');
-- the snapshot shows the SQLSTATE, not the message
SELECT capq_snapshot();

--
-- PL/pgSQL: an error caught by an exception block is on the nested
-- statement that raised it, and the caller succeeds; one that escapes is on
-- both.
--
SET capquery.track = 'all';
CREATE FUNCTION fail_caught() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  r int;
BEGIN
  BEGIN
    SELECT id / d INTO r FROM fail_t WHERE id = 1;
  EXCEPTION WHEN division_by_zero THEN
    r := -1;
  END;
  INSERT INTO fail_t VALUES (3, 3);
  RETURN r;
END $$;
CREATE FUNCTION fail_escapes() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO fail_t VALUES (1, 1);
  RETURN 0;
END $$;
SELECT capq_begin() > 0 AS began;
SELECT fail_caught();
SELECT fail_escapes();
SELECT capq_end();
SELECT seq, nesting, kind, query, error, error_message
  FROM capq_queries() ORDER BY seq;
SELECT capq_count('error') AS failed;
RESET capquery.track;

--
-- Masking: capq_fail_lead captures what it runs as capq_fail_plain (SET
-- ROLE); without capq_fail_plain's privileges it sees the SQLSTATE of its
-- failed statements but neither their text nor their message.
--
CREATE ROLE capq_fail_plain;
CREATE ROLE capq_fail_lead IN ROLE capq_fail_plain;
GRANT SELECT ON fail_t TO capq_fail_plain;
SET SESSION AUTHORIZATION capq_fail_lead;
SELECT capq_begin() > 0 AS began;
SET ROLE capq_fail_plain;
SELECT 'as plain' AS s;
SELECT id / d FROM fail_t WHERE d = 0 AND 'secret-1' <> '';
SELECT * FROM "secret-2";
RESET ROLE;
SELECT * FROM "lead-own";
SELECT capq_end();
RESET SESSION AUTHORIZATION;
REVOKE capq_fail_plain FROM capq_fail_lead;
SET SESSION AUTHORIZATION capq_fail_lead;
SELECT seq, username, query, error, error_message FROM capq_queries() ORDER BY seq;
SELECT position('secret' IN capq_snapshot()) AS secret_in_snapshot;
RESET SESSION AUTHORIZATION;

--
-- A failure as the executor starts (a permission check) is on the entry
-- recorded at its start: one entry, with its relations.  With
-- track_utility off, a failed utility statement is not an entry.
--
CREATE TABLE fail_private (id int);
SELECT capq_begin() > 0 AS began;
SET ROLE capq_fail_plain;
SELECT * FROM fail_private;
RESET ROLE;
SET capquery.track_utility = off;
CREATE TABLE fail_t (id int);
RESET capquery.track_utility;
SELECT capq_end();
SELECT seq, username, kind, query, error, relations FROM capq_queries() ORDER BY seq;

DROP FUNCTION fail_caught(), fail_escapes();
DROP TABLE fail_t, fail_private;
DROP ROLE capq_fail_lead;
DROP ROLE capq_fail_plain;
