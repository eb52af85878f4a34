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
