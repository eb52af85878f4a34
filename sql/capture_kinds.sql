--
-- capture_kinds: every statement kind is captured once, in execution order,
-- with its own text, rows processed and the relations it touched.
--
-- Kinds: select, insert, update, delete, merge, utility (DDL, COPY, EXPLAIN,
-- SET ...) and transaction (BEGIN, SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT,
-- ROLLBACK).  capq_count(kind) counts one kind; capquery.track_utility = off
-- stops utility and transaction capture but keeps the executor statements.
-- A statement that fails while executing is still one entry (rows unknown);
-- one that fails before it runs (parse error, aborted transaction) is none.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

CREATE TABLE kinds_item (id int PRIMARY KEY, v text);
CREATE TABLE kinds_other (id int);
CREATE TEMP VIEW captured AS
  SELECT seq, phase, phase_name, nesting, kind, query, params, rows, relations
  FROM capq_queries();

-- one statement of each kind
SELECT capq_begin('kinds') > 0 AS began;
INSERT INTO kinds_item VALUES (1, 'a'), (2, 'b');
SELECT v FROM kinds_item WHERE id = 1;
UPDATE kinds_item SET v = 'c' WHERE id = 2;
MERGE INTO kinds_item t
  USING (VALUES (1, 'm'), (3, 'n')) AS s(id, v) ON t.id = s.id
  WHEN MATCHED THEN UPDATE SET v = s.v
  WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v);
DELETE FROM kinds_item WHERE id = 3;
BEGIN;
SAVEPOINT sp;
CREATE INDEX kinds_item_v ON kinds_item (v);
ROLLBACK TO SAVEPOINT sp;
ALTER TABLE kinds_item ADD COLUMN w int;
RELEASE SAVEPOINT sp;
COMMIT;
VALUES (1), (2), (3);
SELECT capq_end();
SELECT * FROM captured;
SELECT k, capq_count(k) AS n
  FROM unnest(ARRAY['select', 'insert', 'update', 'delete', 'merge',
                    'utility', 'transaction']) AS k;
SELECT capq_count() AS total;

-- more forms: RETURNING, a data-modifying CTE (a SELECT at top level),
-- joins (each relation listed once), utilities that run queries inside
-- (their inner query is nested, so not captured at track = 'top')
INSERT INTO kinds_other VALUES (1), (2);
SELECT capq_begin() > 0 AS began;
INSERT INTO kinds_item VALUES (10, 'x') RETURNING id;
WITH moved AS (DELETE FROM kinds_other WHERE id = 2 RETURNING id)
  SELECT id FROM moved;
SELECT count(*) FROM kinds_item a JOIN kinds_item b USING (id)
  JOIN kinds_other USING (id);
EXPLAIN (COSTS OFF) SELECT * FROM kinds_other;
CREATE TABLE kinds_copy AS SELECT * FROM kinds_item;
COPY kinds_other TO STDOUT;
TRUNCATE kinds_copy;
SET search_path = public;
RESET search_path;
SELECT capq_end();
SELECT * FROM captured;

-- failures are entries (1.1): at execution (rows NULL), at analysis and
-- refused in an aborted transaction (their SQLSTATEs: capture_failures);
-- the ROLLBACK is captured
INSERT INTO kinds_other VALUES (0);
SELECT capq_begin() > 0 AS began;
SELECT 1 / id FROM kinds_other WHERE id = 0;
SELECT no_such_column FROM kinds_other;
BEGIN;
SELECT 1 / id FROM kinds_other WHERE id = 0;
SELECT 1;
ROLLBACK;
SELECT capq_end();
SELECT * FROM captured;

-- capquery.track_utility = off: only executor statements
SELECT capq_begin() > 0 AS began;
SET capquery.track_utility = off;
BEGIN;
CREATE TABLE kinds_untracked (id int);
INSERT INTO kinds_untracked VALUES (1);
SELECT id FROM kinds_untracked;
COMMIT;
RESET capquery.track_utility;
SELECT 'tracked again' AS note;
SELECT capq_end();
SELECT * FROM captured;
SELECT capq_count('utility') AS utility, capq_count('transaction') AS transaction;

DROP TABLE kinds_item, kinds_other, kinds_copy, kinds_untracked;
DROP VIEW captured;
