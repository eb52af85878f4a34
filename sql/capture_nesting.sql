--
-- capture_nesting: statements nested in functions, and capq_* calls.
--
-- * capquery.track = 'top' (default): only top-level statements (nesting 0).
-- * capquery.track = 'all' (superuser): statements run inside PL/pgSQL and
--   SQL functions, DO blocks and procedures too, with their nesting level
--   (1 inside a function called at top level, 2 one function deeper).
-- * A statement that calls a capq_* function, directly or through a
--   function, DO block, procedure, trigger or cursor, is never captured; the
--   other statements around it are.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

CREATE TABLE nest_item (id int PRIMARY KEY, v text);
CREATE FUNCTION nest_three(k int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  INSERT INTO nest_item VALUES (k, 'x');
  UPDATE nest_item SET v = 'y' WHERE id = k;
  SELECT count(*) INTO n FROM nest_item;
  RETURN n;
END $$;
CREATE FUNCTION nest_sql(k int) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM nest_item WHERE id <= k
$$;
CREATE TEMP VIEW captured AS
  SELECT seq, phase, phase_name, nesting, kind, query, params, rows, relations
  FROM capq_queries();

-- track = 'top': the call only
SHOW capquery.track;
SELECT capq_begin() > 0 AS began;
SELECT nest_three(1);
DO $$ BEGIN PERFORM nest_three(2); END $$;
SELECT capq_end();
SELECT * FROM captured;

-- track = 'all': the three statements inside, at nesting 1, and at
-- nesting 2 when the function is called from a DO block
SET capquery.track = 'all';
SELECT capq_begin() > 0 AS began;
SELECT nest_three(3);
SELECT nest_sql(5);
DO $$ BEGIN EXECUTE 'SELECT 42'; PERFORM nest_three(4); END $$;
SELECT capq_end();
SELECT * FROM captured;
SELECT nesting, count(*) FROM captured GROUP BY nesting ORDER BY nesting;
RESET capquery.track;

-- capq_* calls are not captured, directly or indirectly; what runs beside
-- them is (at track = 'all', the PERFORM 1 / SELECT 7 below)
CREATE FUNCTION nest_count_inside() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1;
  RETURN capq_count();
END $$;
CREATE FUNCTION nest_count_sql() RETURNS bigint LANGUAGE sql AS $$
  SELECT capq_count()
$$;
CREATE PROCEDURE nest_proc(n bigint) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM n;
END $$;
CREATE TABLE nest_trig (id int);
CREATE FUNCTION nest_trig_f() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM capq_count();
  RETURN NEW;
END $$;
CREATE TRIGGER nest_trig_t BEFORE INSERT ON nest_trig
  FOR EACH ROW EXECUTE FUNCTION nest_trig_f();
SET capquery.track = 'all';
SELECT capq_begin() > 0 AS began;
SELECT 'first' AS marker;
SELECT nest_count_inside();
SELECT nest_count_sql();
DO $$ BEGIN PERFORM 7; PERFORM capq_count(); END $$;
CALL nest_proc(capq_count());
INSERT INTO nest_trig VALUES (1);
BEGIN;
DECLARE nest_c CURSOR FOR SELECT capq_count() AS n;
FETCH ALL FROM nest_c;
COMMIT;
SELECT 'last' AS marker;
SELECT capq_end();
SELECT * FROM captured;
RESET capquery.track;

-- EXECUTE of a prepared statement whose parameter calls capq_count():
-- the EXECUTE calls a capq_* function, so it is not captured either
PREPARE nest_echo(bigint) AS SELECT $1 AS echoed;
SELECT capq_begin() > 0 AS began;
SELECT 'before' AS marker;
EXECUTE nest_echo(capq_count());
EXECUTE nest_echo(7);
SELECT capq_end();
SELECT * FROM captured;

DEALLOCATE nest_echo;
DROP TABLE nest_item, nest_trig;
DROP FUNCTION nest_three(int), nest_sql(int), nest_count_inside(),
  nest_count_sql(), nest_trig_f();
DROP PROCEDURE nest_proc(bigint);
DROP VIEW captured;
