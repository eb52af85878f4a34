--
-- capture_nesting_errors: the nesting level stays right when errors escape
-- nested statements, whether or not a capture was active at the time (the
-- hooks skip PG_TRY when nothing is captured; the abort of the
-- subtransaction or transaction that catches the error puts the level
-- back), when a procedure rolls back its own transaction or fails to
-- commit it, when what runs at commit starts with a utility statement, when
-- a failed transaction block's ROLLBACK TO fails (nothing aborts then), and
-- when executor startup runs a function (initial partition pruning).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
SET capquery.track = 'all';

CREATE TABLE ne_item (id int);
CREATE FUNCTION ne_fail() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  PERFORM count(*) FROM ne_item;
  RETURN (SELECT 1 / (SELECT count(*) FROM ne_item)::int);
END $$;
CREATE FUNCTION ne_catch() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM ne_fail();
  EXCEPTION WHEN division_by_zero THEN
    RETURN -1;
  END;
  RETURN 0;
END $$;
CREATE PROCEDURE ne_proc() LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ne_item VALUES (1);
  ROLLBACK;
  INSERT INTO ne_item VALUES (2);
  COMMIT;
END $$;
-- folded by the planner (IMMUTABLE, constant argument): fails while planning
CREATE FUNCTION ne_imm_div(d int) RETURNS int IMMUTABLE LANGUAGE sql
  AS 'SELECT 10 / d';
CREATE FUNCTION ne_catch_planning() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM ne_imm_div(0);
  EXCEPTION WHEN division_by_zero THEN
    PERFORM count(*) FROM ne_item;
  END;
  RETURN (SELECT count(*) FROM ne_item)::int;
END $$;
-- a cursor loop abandoned by an error, caught one block up
CREATE FUNCTION ne_catch_cursor() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  BEGIN
    FOR r IN SELECT id FROM ne_item LOOP
      PERFORM 1 / (r.id - r.id);
    END LOOP;
  EXCEPTION WHEN division_by_zero THEN
    NULL;
  END;
  RETURN (SELECT count(*) FROM ne_item)::int;
END $$;
-- deferred: checked at COMMIT, and its function begins with a utility statement
CREATE TABLE ne_checked (id int);
CREATE FUNCTION ne_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL work_mem = '1MB';
  IF NEW.id < 0 THEN
    RAISE EXCEPTION 'negative id %', NEW.id USING ERRCODE = 'check_violation';
  END IF;
  PERFORM count(*) FROM ne_checked;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ne_checked_at_commit AFTER INSERT ON ne_checked
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ne_check();
CREATE PROCEDURE ne_proc_commit_fails() LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ne_checked VALUES (-1);
  COMMIT;
END $$;

-- 1. errors escape nested statements while nothing is captured
SELECT ne_fail();
SELECT ne_fail();
SELECT ne_catch();
SELECT capq_begin() > 0 AS began;
SELECT 1 AS top_level;
SELECT capq_end();
SELECT seq, nesting, kind, query FROM capq_queries();

-- 2. the same while capturing: the failed statement is kept, without rows
SELECT capq_begin() > 0 AS began;
SELECT ne_fail();
SELECT ne_catch();
SELECT 2 AS top_level;
SELECT capq_end();
SELECT seq, nesting, kind, query, rows IS NULL AS unfinished, error FROM capq_queries();

-- 3. a procedure that rolls back and commits its own transactions
SELECT capq_begin() > 0 AS began;
CALL ne_proc();
SELECT 3 AS top_level;
SELECT capq_end();
SELECT seq, nesting, kind, query FROM capq_queries();
SELECT id FROM ne_item;

-- 4. an error while planning, and a cursor loop abandoned by an error,
-- each caught in the function: what follows is back at the function's level
SELECT capq_begin() > 0 AS began;
SELECT ne_catch_planning();
SELECT ne_catch_cursor();
SELECT 4 AS top_level;
SELECT capq_end();
SELECT seq, nesting, kind, query, rows IS NULL AS unfinished, error FROM capq_queries();

-- 5. what fires at commit runs on the statement's behalf, one level down,
-- even when it starts with a utility statement; 'top' counts one statement
RESET capquery.track;
SELECT capq_begin() > 0 AS began;
INSERT INTO ne_checked VALUES (1);
SELECT capq_end();
SELECT seq, nesting, kind, query FROM capq_queries();
SET capquery.track = 'all';
SELECT capq_begin() > 0 AS began;
INSERT INTO ne_checked VALUES (2);
SELECT capq_end();
SELECT seq, nesting, kind, query FROM capq_queries();

-- 6. a procedure whose COMMIT fails (a deferred check): the error goes on
-- up, and the next statement is at the top level again
SELECT capq_begin() > 0 AS began;
CALL ne_proc_commit_fails();
SELECT 6 AS top_level;
SELECT capq_end();
SELECT seq, nesting, kind, query, error FROM capq_queries();
SELECT capq_begin() > 0 AS began;
SELECT 6 AS top_level_again;
SELECT capq_end();
SELECT seq, nesting, kind, query FROM capq_queries();

-- 7. a failed transaction block whose ROLLBACK TO fails (no such savepoint)
-- aborts nothing more: the statements after it are at the top level
SELECT capq_begin() > 0 AS began;
BEGIN;
SELECT 1 / 0;
ROLLBACK TO ne_no_such_savepoint;
ROLLBACK;
SELECT 7 AS top_level;
SELECT capq_end();
SELECT seq, nesting, kind, query, error FROM capq_queries();
RESET capquery.track;
SELECT capq_begin() > 0 AS began;
SELECT 7 AS counted;
SELECT capq_end();
SET capquery.track = 'all';

-- 8. a STABLE function compared with the partition key is evaluated when
-- the executor starts (initial pruning): nested, not a statement of its own
CREATE TABLE ne_parted (k int) PARTITION BY LIST (k);
CREATE TABLE ne_parted_1 PARTITION OF ne_parted FOR VALUES IN (1);
CREATE TABLE ne_parted_2 PARTITION OF ne_parted FOR VALUES IN (2);
CREATE FUNCTION ne_stable_key() RETURNS int STABLE LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT count(*) FROM ne_item)::int;
END $$;
SELECT capq_begin() > 0 AS began;
SELECT k FROM ne_parted WHERE k = ne_stable_key();
BEGIN;
DECLARE ne_cursor CURSOR FOR SELECT k FROM ne_parted WHERE k = ne_stable_key();
FETCH 1 FROM ne_cursor;
COMMIT;
SELECT capq_end();
SELECT seq, nesting, kind, query FROM capq_queries()
  WHERE query NOT LIKE '(SELECT count(*)%' OR nesting = 0;
RESET capquery.track;
SELECT capq_begin() > 0 AS began;
SELECT k FROM ne_parted WHERE k = ne_stable_key();
SELECT capq_end();

RESET capquery.track;
DROP FUNCTION ne_stable_key();
DROP TABLE ne_parted;
DROP PROCEDURE ne_proc_commit_fails();
DROP TABLE ne_checked;
DROP FUNCTION ne_check();
DROP FUNCTION ne_catch_cursor();
DROP FUNCTION ne_catch_planning();
DROP FUNCTION ne_imm_div(int);
DROP PROCEDURE ne_proc();
DROP FUNCTION ne_catch();
DROP FUNCTION ne_fail();
DROP TABLE ne_item;
