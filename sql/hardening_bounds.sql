--
-- hardening_bounds: no input makes capquery's work, its records or its
-- messages unbounded, and whatever is cut is marked.
--
-- * Labels and phase names are limited to 63 bytes (22023), checked before
--   anything is copied: a 33 MB phase name is refused at once instead of
--   looping in the ring's eviction under its lock.
-- * An unknown scope, plans or kind value is echoed clipped.
-- * An assertion's errdetail stays within 64 kB plus one line, however many
--   long statements the capture holds (it once grew to 100 MB).
-- * 70,000 parameters of an EXECUTE are all kept (a 16-bit count once kept
--   $1..$4464), and a cut list of parameters is always marked.
-- * A 4 MB bytea parameter is clipped to capquery.max_params_length, and
--   marked.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

-- the SQLSTATE, message and detail of an error, and its detail's length
CREATE FUNCTION pg_temp.error_of(stmt text)
RETURNS TABLE (sqlstate text, message text, detail_bytes int)
LANGUAGE plpgsql AS $$
DECLARE
  msg text;
  det text;
BEGIN
  EXECUTE stmt;
  RETURN QUERY SELECT 'no error'::text, NULL::text, NULL::int;
EXCEPTION WHEN OTHERS OR assert_failure THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  RETURN QUERY SELECT SQLSTATE, left(msg, 200), octet_length(det);
END $$;

-- names: 63 bytes pass, 64 and 33 MB are refused with 22023
SELECT capq_begin(repeat('l', 63)) > 0 AS began_with_63_byte_label;
SELECT capq_phase(repeat('p', 63)) AS phase_with_63_byte_name;
SELECT * FROM pg_temp.error_of($$SELECT capq_phase(repeat('p', 64))$$);
SELECT * FROM pg_temp.error_of($$SELECT capq_phase(repeat('x', 33 * 1024 * 1024))$$);
SELECT capq_end();
SELECT * FROM pg_temp.error_of($$SELECT capq_begin(repeat('x', 33 * 1024 * 1024))$$);

-- an unknown value is echoed clipped to 63 bytes and "..."
SELECT * FROM pg_temp.error_of($$SELECT capq_begin(scope => repeat('s', 1000000))$$);
SELECT * FROM pg_temp.error_of($$SELECT capq_count(kind => repeat('k', 1000000))$$);

-- an assertion's detail over 120 statements of 4 kB each stays bounded
-- (statements are generated first, and run without echo or output)
SET capquery.max_query_length = 8192;
CREATE TEMP TABLE gen AS
  SELECT format('SELECT %L AS filler_%s', repeat('z', 4000), i) AS stmt
    FROM generate_series(1, 120) AS i;
SELECT capq_begin() > 0 AS began;
\set ECHO none
\o /dev/null
SELECT stmt FROM gen \gexec
\o
\set ECHO all
SELECT capq_end();
SELECT sqlstate, message, detail_bytes BETWEEN 60000 AND 66000 AS detail_bounded
  FROM pg_temp.error_of($$SELECT capq_assert_count(1)$$);
RESET capquery.max_query_length;

-- 70,000 parameters of an EXECUTE, under a 4 MB max_params_length
SET capquery.max_params_length = '4MB';
\set ECHO none
SELECT format('PREPARE many_params(%s) AS SELECT $70000',
              string_agg('int', ',')) FROM generate_series(1, 70000) \gexec
\set ECHO all
SELECT format('EXECUTE many_params(%s)', string_agg(i::text, ',')) AS exec_stmt
  FROM generate_series(1, 70000) AS i \gset
SELECT capq_begin() > 0 AS began;
\set ECHO none
\o /dev/null
:exec_stmt;
\o
\set ECHO all
SELECT capq_end();
SELECT right(params, 30) AS last_params, params LIKE '%...' AS marked
  FROM capq_queries();
DEALLOCATE many_params;

-- the same under a 1 kB limit: cut, and marked
SET capquery.max_params_length = '1kB';
\set ECHO none
SELECT format('PREPARE many_params(%s) AS SELECT $70000',
              string_agg('int', ',')) FROM generate_series(1, 70000) \gexec
\set ECHO all
SELECT format('EXECUTE many_params(%s)', string_agg(i::text, ',')) AS exec_stmt
  FROM generate_series(1, 70000) AS i \gset
SELECT capq_begin() > 0 AS began;
\set ECHO none
\o /dev/null
:exec_stmt;
\o
\set ECHO all
SELECT capq_end();
SELECT left(params, 24) AS first_params, right(params, 5) AS cut_mark,
       octet_length(params) < 2048 AS bounded
  FROM capq_queries();
DEALLOCATE many_params;

-- a 4 MB bytea parameter: a clipped prefix of its hex, marked
PREPARE big_bytea(bytea) AS SELECT length($1);
SELECT capq_begin() > 0 AS began;
EXECUTE big_bytea(decode(repeat('ab', 4 * 1024 * 1024), 'hex'));
SELECT capq_end();
SELECT left(params, 12) AS first_bytes, right(params, 3) AS cut_mark,
       octet_length(params) <= 1024 + 16 AS bounded
  FROM capq_queries();
DEALLOCATE big_bytea;
RESET capquery.max_params_length;
