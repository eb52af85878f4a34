--
-- overflow_bounds: runs on the instance with capquery.buffer_size = '64kB'.
--
-- No record can be larger than the ring takes: a 33 MB phase name (about
-- 50 kB once it was cut, on this ring) once made the ring evict forever
-- under its exclusive lock, hanging every backend.  It is refused (22023)
-- before anything is copied.  A statement text longer than the ring, under
-- a large capquery.max_query_length, is cut to what the ring can hold and
-- marked, and counts exactly.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

SHOW capquery.buffer_size;

SET capquery.max_query_length = '1MB';
SELECT capq_begin() > 0 AS began;
SELECT capq_phase(repeat('x', 33 * 1024 * 1024));
\echo :LAST_ERROR_SQLSTATE
SELECT capq_phase(repeat('x', 50 * 1024));
\echo :LAST_ERROR_SQLSTATE
SELECT capq_phase('short') AS phase;
SELECT format('SELECT %L AS long_text', repeat('t', 200 * 1024)) AS long_stmt \gset
\set ECHO none
\o /dev/null
:long_stmt;
\o
\set ECHO all
SELECT 1 AS after_long_text;
RESET capquery.max_query_length;
SELECT capq_end();
SELECT seq, phase, phase_name, octet_length(query) < 64 * 1024 AS cut_to_ring,
       right(query, 3) AS mark
  FROM capq_queries() ORDER BY seq;

--
-- Reading a capture never evicts it: a statement that calls capq_* itself
-- is not appended (it would be retracted anyway).  2,000 reads of a
-- 100-statement capture on this 64kB ring once pushed its statements out
-- (53400 on the next read).
--
CREATE TEMP TABLE read_loop AS SELECT 'SELECT capq_count()' AS stmt FROM generate_series(1, 2000);
SELECT capq_begin() > 0 AS began;
\set ECHO none
\o /dev/null
SELECT format('SELECT %s AS n', i) FROM generate_series(1, 100) AS i \gexec
SELECT stmt FROM read_loop \gexec
SELECT * FROM capq_queries() \g
SELECT capq_snapshot() \g
\o
\set ECHO all
SELECT capq_count() AS still_counted;
SELECT lost FROM capq_sessions() WHERE owner_pid = pg_backend_pid() AND state = 'active';
SELECT capq_end();

--
-- capq_end() does not count itself when the ring evicted its own statement
-- before it ran: here the caller's nested statements (track = 'all') fill
-- the ring and push out "SELECT end_after_filling()".  The count is the
-- 2,000 nested statements, once 2,001.
--
CREATE FUNCTION end_after_filling() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..2000 LOOP
    PERFORM i;
  END LOOP;
  RETURN capq_end();
END $$;
SET capquery.track = 'all';
SELECT capq_begin() > 0 AS began;
SELECT end_after_filling() AS counted;
RESET capquery.track;
SELECT statements, lost > 0 AS some_lost, statements - lost < 2000 AS evicted
  FROM capq_sessions() WHERE owner_pid = pg_backend_pid() ORDER BY capture DESC LIMIT 1;
DROP FUNCTION end_after_filling();
