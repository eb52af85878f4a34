--
-- capture_nesting_errors: the nesting level stays right when errors escape
-- nested statements, whether or not a capture was active at the time (the
-- hooks skip PG_TRY when nothing is captured and repair the level at the
-- enclosing PG_FINALLY, the catching subtransaction or the aborting
-- transaction), and when a procedure rolls back its own transaction.
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
SELECT seq, nesting, kind, query, rows IS NULL AS unfinished FROM capq_queries();

-- 3. a procedure that rolls back and commits its own transactions
SELECT capq_begin() > 0 AS began;
CALL ne_proc();
SELECT 3 AS top_level;
SELECT capq_end();
SELECT seq, nesting, kind, query FROM capq_queries();
SELECT id FROM ne_item;

RESET capquery.track;
DROP PROCEDURE ne_proc();
DROP FUNCTION ne_catch();
DROP FUNCTION ne_fail();
DROP TABLE ne_item;
