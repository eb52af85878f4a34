--
-- capture_planning_nesting: statements that run while a statement is
-- planned, or while EXECUTE evaluates its arguments, are nested in it.
--
-- * The planner evaluates a function call whose arguments are constants
--   when the function is IMMUTABLE (constant folding): a SQL or PL/pgSQL
--   function's own statements then run through the executor before the
--   statement that calls it starts.  They are at the caller's nesting
--   level + 1, so capquery.track = 'top' (default) leaves them out.
-- * EXECUTE evaluates its arguments before the prepared statement starts:
--   what they run is nested too, and the EXECUTE is one statement at its
--   own level.
-- * The same holds inside PL/pgSQL (static and dynamic SQL), DO blocks and
--   CALL: with track = 'all' every statement shows its nesting level.
-- * Deferred triggers and foreign key checks fire at commit, after the
--   statement that queued them ended: what they run is nested too (the
--   extended protocol's Bind, which may check a domain, is in
--   test/python/test_bind_nesting.py).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

CREATE TABLE plan_one (x int);
INSERT INTO plan_one VALUES (1);
CREATE TABLE plan_log (v int);
-- folded by the planner: SQL functions, with and without a table
CREATE FUNCTION plan_imm(int) RETURNS int LANGUAGE sql IMMUTABLE
  AS 'SELECT $1';
CREATE FUNCTION plan_imm_table(int) RETURNS int LANGUAGE sql IMMUTABLE
  AS 'SELECT $1 + x FROM plan_one';
-- folded by the planner: PL/pgSQL
CREATE FUNCTION plan_imm_plpgsql(int) RETURNS int LANGUAGE plpgsql IMMUTABLE
  AS 'BEGIN RETURN (SELECT $1 + x FROM plan_one); END';
-- not folded: runs when the statement runs
CREATE FUNCTION plan_vol(int) RETURNS int LANGUAGE plpgsql
  AS 'BEGIN RETURN (SELECT $1 + x FROM plan_one); END';
CREATE PROCEDURE plan_proc(int) LANGUAGE plpgsql
  AS 'BEGIN PERFORM $1; END';
PREPARE plan_p(int) AS SELECT $1 AS echoed;
PREPARE plan_ins(int) AS INSERT INTO plan_log VALUES ($1);
CREATE TEMP VIEW captured AS
  SELECT seq, nesting, kind, query, rows FROM capq_queries();

-- track = 'top': three statements, three captured
SHOW capquery.track;
SELECT capq_begin() > 0 AS began;
SELECT plan_imm(1);
SELECT plan_vol(1);
EXECUTE plan_p(plan_vol(5));
SELECT capq_end();
SELECT * FROM captured;

-- the same with functions that read a table, in PL/pgSQL, and an EXECUTE
-- of an INSERT whose argument folds a function and runs another
SELECT capq_begin() > 0 AS began;
SELECT plan_imm_table(1);
SELECT plan_imm_plpgsql(1);
EXECUTE plan_ins(plan_vol(plan_imm_table(10)));
EXECUTE plan_p(7);
SELECT capq_end();
SELECT * FROM captured;

-- track = 'all': what the planner and EXECUTE's arguments run is at
-- nesting 1, one below the statement; the prepared statement itself (and
-- what it calls) at the EXECUTE's level (and below it)
SET capquery.track = 'all';
SELECT capq_begin() > 0 AS began;
SELECT plan_imm(1);
SELECT plan_imm_plpgsql(2);
SELECT plan_vol(1);
EXECUTE plan_p(plan_vol(5));
PREPARE plan_q(int) AS SELECT plan_vol($1) AS v;
EXECUTE plan_q(plan_vol(6));
SELECT capq_end();
SELECT * FROM captured;

-- inside PL/pgSQL (static and dynamic SQL), a DO block and CALL: one level
-- deeper each time
SELECT capq_begin() > 0 AS began;
DO $$ BEGIN PERFORM plan_imm(3); EXECUTE 'SELECT plan_imm(4)'; END $$;
CALL plan_proc(plan_vol(8));
DO $$ BEGIN EXECUTE 'EXECUTE plan_p(plan_vol(9))'; END $$;
SELECT capq_end();
SELECT * FROM captured;
RESET capquery.track;

-- under 'top', the same statements are three
SELECT capq_begin() > 0 AS began;
DO $$ BEGIN PERFORM plan_imm(3); EXECUTE 'SELECT plan_imm(4)'; END $$;
CALL plan_proc(plan_vol(8));
DO $$ BEGIN EXECUTE 'EXECUTE plan_p(plan_vol(9))'; END $$;
SELECT capq_end();

-- deferred: a foreign key check and a constraint trigger fire at COMMIT,
-- or at the end of a statement outside a transaction block
CREATE TABLE plan_parent (id int PRIMARY KEY);
CREATE TABLE plan_child (pid int REFERENCES plan_parent
  DEFERRABLE INITIALLY DEFERRED);
INSERT INTO plan_parent VALUES (1);
CREATE FUNCTION plan_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO plan_log VALUES (plan_vol(NEW.pid));
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER plan_audit_t AFTER INSERT ON plan_child
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION plan_audit();
SELECT capq_begin() > 0 AS began;
BEGIN;
INSERT INTO plan_child VALUES (1);
COMMIT;
INSERT INTO plan_child VALUES (1);
SELECT capq_end();
SELECT * FROM captured;
SET capquery.track = 'all';
SELECT capq_begin() > 0 AS began;
BEGIN;
INSERT INTO plan_child VALUES (1);
COMMIT;
SELECT capq_end();
SELECT * FROM captured;
RESET capquery.track;

-- an error while planning (a folded function that fails) or while EXECUTE
-- evaluates its arguments leaves the nesting level right: the statements
-- after it are at nesting 0
CREATE FUNCTION plan_fail(int) RETURNS int LANGUAGE sql IMMUTABLE
  AS 'SELECT 1 / ($1 - $1)';
SELECT capq_begin() > 0 AS began;
SELECT plan_fail(1);
EXECUTE plan_p(plan_fail(2));
SELECT 'after' AS marker;
DO $$ BEGIN PERFORM plan_fail(3); EXCEPTION WHEN division_by_zero THEN NULL; END $$;
SELECT 'last' AS marker;
SELECT capq_end();
SELECT * FROM captured;

DEALLOCATE plan_p;
DEALLOCATE plan_q;
DEALLOCATE plan_ins;
DROP VIEW captured;
DROP PROCEDURE plan_proc(int);
DROP FUNCTION plan_imm(int), plan_imm_table(int), plan_imm_plpgsql(int),
  plan_vol(int), plan_fail(int);
DROP TABLE plan_one, plan_log, plan_child, plan_parent;
DROP FUNCTION plan_audit();
