--
-- capture_protocol: a statement counts once however the client runs it.
--
-- * PREPARE is not recorded; each EXECUTE is one entry of the prepared
--   statement's kind, with its parameters rendered as PostgreSQL logs them
--   ($1 = '4', quotes doubled, NULL unquoted).  DEALLOCATE is a utility.
-- * DECLARE CURSOR is one entry, with the DECLARE's text; FETCH, MOVE and
--   CLOSE are not recorded, however many batches are fetched.  Its rows are
--   all the rows the cursor's query processed over every FETCH.
-- * A query string holding several statements (psql sends "\;"-joined
--   statements as one string) gives one entry per statement, each with its
--   own text.
-- * The extended protocol (Parse/Bind/Execute, and portals fetched with a
--   row limit) cannot be driven from psql 15, which has no \bind: it is
--   covered by the Python driver tests (test/python).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

CREATE TABLE proto_item (id int PRIMARY KEY, v text);
INSERT INTO proto_item SELECT g, 'v' || g FROM generate_series(1, 10) g;
CREATE TEMP VIEW captured AS
  SELECT seq, phase, phase_name, nesting, kind, query, params, rows, relations
  FROM capq_queries();

-- PREPARE / EXECUTE
SELECT capq_begin() > 0 AS began;
PREPARE proto_get(int) AS SELECT v FROM proto_item WHERE id = $1;
EXECUTE proto_get(4);
EXECUTE proto_get(5);
PREPARE proto_put(int, text) AS INSERT INTO proto_item VALUES ($1, $2);
EXECUTE proto_put(11, 'it''s');
EXECUTE proto_put(12, NULL);
PREPARE proto_noparams AS UPDATE proto_item SET v = upper(v) WHERE id > 10;
EXECUTE proto_noparams;
DEALLOCATE proto_get;
SELECT capq_end();
SELECT * FROM captured;
SELECT capq_count('select') AS selects, capq_count('insert') AS inserts,
       capq_count('update') AS updates, capq_count('utility') AS utilities;

-- DECLARE CURSOR fetched in several batches: one entry per cursor
SELECT capq_begin() > 0 AS began;
BEGIN;
DECLARE proto_c1 CURSOR FOR SELECT id FROM proto_item ORDER BY id;
FETCH 3 FROM proto_c1;
FETCH 3 FROM proto_c1;
MOVE 2 IN proto_c1;
FETCH 2 FROM proto_c1;
CLOSE proto_c1;
DECLARE proto_c2 CURSOR FOR SELECT id FROM proto_item WHERE id <= 2;
FETCH ALL FROM proto_c2;
COMMIT;
SELECT capq_end();
SELECT seq, kind, query, relations FROM captured;
SELECT capq_count('select') AS selects;

-- rows of a cursor: every row it processed, not only the last batch
SELECT capq_begin() > 0 AS began;
BEGIN;
DECLARE proto_c3 CURSOR FOR SELECT id FROM proto_item ORDER BY id;
FETCH 3 FROM proto_c3;
FETCH 3 FROM proto_c3;
COMMIT;
SELECT capq_end();
SELECT seq, kind, query, rows FROM captured;

-- several statements in one query string: one entry each, own text
SELECT capq_begin() > 0 AS began;
SELECT 1 AS a \; SELECT 2 AS b \; UPDATE proto_item SET v = v WHERE id = 1;
SELECT 3 AS c \; SELECT capq_count() AS so_far \; SELECT 4 AS d;
SELECT capq_end();
SELECT * FROM captured;

DROP TABLE proto_item;
DEALLOCATE ALL;
DROP VIEW captured;
