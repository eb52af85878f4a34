--
-- overflow_lost: runs on the instance with capquery.buffer_size = '64kB'.
--
-- When a capture holds more statements than the ring can keep, the oldest
-- are overwritten.  Such a capture is never read short: capq_count,
-- capq_queries and capq_assert_* raise 53400 saying how many statements
-- were lost (the hint names capquery.buffer_size), and capq_sessions()
-- shows lost > 0.  Captures whose statements all fit read normally, before
-- and after an overflow.  Exact lost counts depend on the record layout,
-- so they are compared with capq_sessions(), not printed; numbers in error
-- messages are shown as N.  Captures are picked out by id (\gset), not by
-- label: ended captures of an earlier run may still be retained.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

SHOW capquery.buffer_size;

-- prints the SQLSTATE, message (digits as N) and hint of an error, and
-- whether the message's lost count is the one capq_sessions() reports
CREATE FUNCTION pg_temp.overflow_error(stmt text, capture bigint)
RETURNS TABLE (sqlstate text, message text, hint text, lost_matches boolean)
LANGUAGE plpgsql AS $$
DECLARE
  msg text;
  hnt text;
BEGIN
  EXECUTE stmt;
  RETURN QUERY SELECT 'no error'::text, NULL::text, NULL::text, NULL::boolean;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hnt = PG_EXCEPTION_HINT;
  RETURN QUERY
    SELECT SQLSTATE, regexp_replace(msg, '[0-9]+', 'N', 'g'), hnt,
           msg = format('capture %s lost %s of its %s statements',
                        s.capture, s.lost, s.statements)
      FROM capq_sessions() s WHERE s.capture = overflow_error.capture;
END $$;

-- a capture that fits
SELECT capq_begin('overflow-fits') AS fits \gset
SELECT 1 AS one;
SELECT 2 AS two;
SELECT capq_end();
SELECT capq_count() AS fits_count;

-- a capture of 2000 nested statements does not fit in 64kB
SELECT capq_begin('overflow-flood') AS flood \gset
SET capquery.track = 'all';
DO $$ BEGIN FOR i IN 1..2000 LOOP EXECUTE 'SELECT ' || i; END LOOP; END $$;
RESET capquery.track;
SELECT label, state, statements, lost > 0 AS lost_some, lost < statements AS kept_some
  FROM capq_sessions() WHERE capture = :flood;
SELECT * FROM pg_temp.overflow_error('SELECT capq_count()', :flood);
SELECT * FROM pg_temp.overflow_error('SELECT capq_count(''select'')', :flood);
SELECT * FROM pg_temp.overflow_error('SELECT * FROM capq_queries()', :flood);
SELECT * FROM pg_temp.overflow_error('SELECT capq_assert_count(2004)', :flood);
SELECT * FROM pg_temp.overflow_error('SELECT capq_assert_max(10000)', :flood);
-- capq_end() still reports how many statements the capture counted
SELECT capq_end();
SELECT label, state, statements, lost > 0 AS lost_some
  FROM capq_sessions() WHERE capture = :flood;
SELECT * FROM pg_temp.overflow_error('SELECT capq_count()', :flood);
SELECT * FROM pg_temp.overflow_error(format('SELECT * FROM capq_queries(%s)', :flood), :flood);
\set VERBOSITY sqlstate
SELECT capq_count();
\set VERBOSITY default

-- the flood also overwrote the earlier, ended capture
SELECT label, state, statements, lost > 0 AS lost_some
  FROM capq_sessions() WHERE capture = :fits;
SELECT * FROM pg_temp.overflow_error(format('SELECT capq_count(capture => %s)', :fits), :fits);

-- a capture begun after the overflow reads normally
SELECT capq_begin('overflow-after') AS after_id \gset
SELECT 'after' AS marker;
SELECT capq_end();
SELECT seq, phase, phase_name, nesting, kind, query, params, rows, relations
  FROM capq_queries();
SELECT lost FROM capq_sessions() WHERE capture = :after_id;

-- one statement longer than the whole ring is kept, cut short, not lost
SELECT repeat('ü', 300000) AS big \gset
SET capquery.max_query_length = '1MB';
SELECT capq_begin('overflow-one-big') AS big_id \gset
SELECT octet_length(:'big') AS bytes;
SELECT capq_end();
RESET capquery.max_query_length;
SELECT capq_count() AS big_count;
SELECT seq, kind, octet_length(query) < 65536 / 4 + 3 AS within_ring,
       right(query, 4) AS ending,
       strpos(format('SELECT octet_length(%L) AS bytes', :'big'), left(query, -3)) = 1 AS prefix_ok
  FROM capq_queries();
SELECT lost FROM capq_sessions() WHERE capture = :big_id;
