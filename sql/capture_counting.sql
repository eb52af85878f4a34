--
-- capture_counting: a test's own capq_* calls never count, and rows are
-- counted once.
--
-- * Strict mode (capquery.max_repeats) counts what the capture counts: a
--   statement that calls a capq_* function is taken back from its tally
--   as from the capture, so capq_count() can be called any number of
--   times; a repeated statement is still stopped.
-- * capq_fingerprint() keeps its calling statement out of the capture, as
--   every capq_* function does.
-- * rows: a cursor fetched in batches counts each row once, also WITH HOLD
--   (committing it runs a scrollable cursor's query again from the start
--   to keep its result, which must not add the rows fetched before).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

CREATE TEMP VIEW captured AS
  SELECT seq, nesting, kind, query, rows FROM capq_queries();

-- strict mode: capq_count() three times with max_repeats = 2
SET capquery.max_repeats = 2;
SELECT capq_begin() > 0 AS began;
SELECT 1 AS one;
SELECT capq_count();
SELECT capq_count();
SELECT capq_count();
SELECT capq_count('select');
SELECT 1 AS one;
-- a third SELECT 1 is the shape's third execution: stopped (P0004)
\set VERBOSITY terse
SELECT 1 AS one;
\set VERBOSITY default
SELECT capq_count();
SELECT capq_end();
SELECT * FROM captured;
RESET capquery.max_repeats;

-- capq_fingerprint() is not captured, nor is the statement calling it
CREATE TABLE count_texts (q text);
INSERT INTO count_texts VALUES ('SELECT * FROM t WHERE id = 1'),
  ('SELECT * FROM t WHERE id = 2');
SELECT capq_begin() > 0 AS began;
SELECT 'before' AS marker;
SELECT count(DISTINCT capq_fingerprint(q)) FROM count_texts;
SELECT 'after' AS marker;
SELECT capq_end();
SELECT * FROM captured;

-- rows of cursors fetched in batches: 100 rows each
CREATE TABLE count_t100 AS SELECT g AS id FROM generate_series(1, 100) g;
SELECT capq_begin() > 0 AS began;
-- without HOLD
BEGIN;
DECLARE count_plain CURSOR FOR SELECT * FROM count_t100;
FETCH 10 FROM count_plain \g /dev/null
FETCH 30 FROM count_plain \g /dev/null
FETCH ALL FROM count_plain \g /dev/null
COMMIT;
-- WITH HOLD (scrollable: the commit runs the query again from the start)
BEGIN;
DECLARE count_hold CURSOR WITH HOLD FOR SELECT * FROM count_t100;
FETCH 10 FROM count_hold \g /dev/null
COMMIT;
FETCH 40 FROM count_hold \g /dev/null
FETCH ALL FROM count_hold \g /dev/null
CLOSE count_hold;
-- WITH HOLD, SCROLL, nothing fetched before the commit
BEGIN;
DECLARE count_scroll SCROLL CURSOR WITH HOLD FOR SELECT * FROM count_t100;
COMMIT;
FETCH ALL FROM count_scroll \g /dev/null
CLOSE count_scroll;
-- WITH HOLD, NO SCROLL (the commit goes on from where the fetches stopped)
BEGIN;
DECLARE count_noscroll NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM count_t100;
FETCH 25 FROM count_noscroll \g /dev/null
COMMIT;
FETCH ALL FROM count_noscroll \g /dev/null
CLOSE count_noscroll;
-- WITH HOLD declared outside a transaction block: kept at once
DECLARE count_auto CURSOR WITH HOLD FOR SELECT * FROM count_t100;
FETCH 60 FROM count_auto \g /dev/null
FETCH ALL FROM count_auto \g /dev/null
CLOSE count_auto;
SELECT capq_end();
SELECT * FROM captured WHERE kind = 'select';

DROP TABLE count_texts, count_t100;
DROP VIEW captured;
