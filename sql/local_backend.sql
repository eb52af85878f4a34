--
-- local_backend: runs on an instance WITHOUT shared_preload_libraries.
--
-- The library is loaded by CREATE EXTENSION, by LOAD, or by the first
-- capq_* call in a backend.  From then on scope 'backend' works, in this
-- backend's memory: statements, kinds, phases, nesting, parameters and the
-- exclusion of capq_* calls behave as when preloaded.  Scopes 'database'
-- and 'all' need shared memory and raise 55000 with a hint to preload.
-- Another backend does not see this backend's captures.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

SHOW shared_preload_libraries;
SELECT count(*) AS captures FROM capq_sessions();

-- 55000: nothing to read yet, and the shared-memory scopes
SELECT capq_count();
SELECT capq_begin(scope => 'database');
SELECT capq_begin(scope => 'all');
SELECT count(*) AS captures FROM capq_sessions();

CREATE TABLE local_item (id int PRIMARY KEY, v text);
CREATE FUNCTION local_touch(k int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE local_item SET v = 'touched' WHERE id = k;
END $$;
PREPARE local_get(int) AS SELECT v FROM local_item WHERE id = $1;
CREATE TEMP VIEW captured AS
  SELECT seq, phase, phase_name, nesting, kind, query, params, rows, relations
  FROM capq_queries();

-- a scope 'backend' capture
SELECT capq_begin('local') AS local_id \gset
SELECT label, owner_pid = pg_backend_pid() AS mine, scope, state, statements, lost
  FROM capq_sessions();
INSERT INTO local_item VALUES (1, 'a'), (2, 'b');
EXECUTE local_get(1);
SELECT capq_phase('nested');
SET capquery.track = 'all';
SELECT local_touch(2);
RESET capquery.track;
SELECT 1 AS a \; SELECT capq_count() AS so_far \; SELECT 2 AS b;
BEGIN;
DELETE FROM local_item WHERE id = 1;
ROLLBACK;
SELECT capq_end();
SELECT * FROM captured;
SELECT capq_count('select') AS selects, capq_count('transaction') AS transactions;
SELECT capq_assert_count(11);
SELECT capq_assert_max(1, 'insert');
SELECT label, scope, state, statements, lost FROM capq_sessions();

-- another backend has its own, empty state: the library loads on its first
-- capq_* call and sees none of the captures above
\connect
SELECT count(*) AS captures FROM capq_sessions();
\set VERBOSITY sqlstate
SELECT capq_count(capture => :local_id);
\set VERBOSITY default
SELECT capq_begin() > 0 AS began;
SELECT v FROM local_item ORDER BY id;
SELECT capq_end();
SELECT seq, phase, nesting, kind, query, rows, relations FROM capq_queries();

-- LOAD in a new backend, then a capture; capq_reset() empties this backend's state
\connect
LOAD 'capquery';
SELECT capq_begin() > 0 AS began;
SELECT 'after load' AS marker;
SELECT capq_end();
SELECT capq_count();
SELECT capq_reset();
SELECT count(*) AS captures FROM capq_sessions();
SELECT capq_count();

DEALLOCATE ALL;
DROP FUNCTION local_touch(int);
DROP TABLE local_item;
