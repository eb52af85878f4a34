/*
 * capquery--1.0.sql: the SQL objects of capquery 1.0, run by CREATE EXTENSION.
 * A newer version is installed by this script followed by the update scripts
 * capquery--1.0--1.1.sql and so on; doc/sql-interface.md documents them all.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION capquery" to load this file. \quit

-- Capture lifecycle

CREATE FUNCTION capq_begin(label text DEFAULT NULL,
                           scope text DEFAULT 'backend',
                           plans text DEFAULT 'off')
RETURNS bigint
AS 'MODULE_PATHNAME', 'capq_begin'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION capq_phase(name text DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'capq_phase'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION capq_end()
RETURNS bigint
AS 'MODULE_PATHNAME', 'capq_end'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION capq_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'capq_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION capq_reset() FROM PUBLIC;

-- Counting and asserting

CREATE FUNCTION capq_count(kind text DEFAULT NULL, capture bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'capq_count'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION capq_assert_count(expected bigint, kind text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'capq_assert_count'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION capq_assert_max(max bigint, kind text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'capq_assert_max'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

-- Reading captures

-- A composite type, not OUT parameters: the argument and the first column
-- are both named "capture", which OUT parameters cannot express.
CREATE TYPE capq_query AS (
    capture bigint, seq bigint, phase int, phase_name text,
    pid int, username name, database name, nesting int,
    kind text, query text, params text, rows bigint,
    duration_ms float8, relations text[], plan text);

CREATE FUNCTION capq_queries(capture bigint DEFAULT NULL)
RETURNS SETOF capq_query
AS 'MODULE_PATHNAME', 'capq_queries'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE ROWS 100;

CREATE FUNCTION capq_sessions(
    OUT capture bigint, OUT label text, OUT owner_pid int, OUT scope text,
    OUT state text, OUT statements bigint, OUT lost bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'capq_sessions'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 10;

-- Snapshots

CREATE FUNCTION capq_snapshot(capture bigint DEFAULT NULL, plans boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'capq_snapshot'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION capq_assert_snapshot(expected text, capture bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'capq_assert_snapshot'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

-- Statement shapes and N+1

CREATE FUNCTION capq_fingerprint(query text)
RETURNS text
AS 'MODULE_PATHNAME', 'capq_fingerprint'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE TYPE capq_shape AS (
    phase int, fingerprint text, query text, kind text, executions bigint,
    rows bigint, total_ms float8, relations text[], call_sites text[]);

CREATE FUNCTION capq_summary(capture bigint DEFAULT NULL)
RETURNS SETOF capq_shape
AS 'MODULE_PATHNAME', 'capq_summary'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE ROWS 20;

CREATE FUNCTION capq_assert_no_repeats(max_repeats int DEFAULT 1, capture bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'capq_assert_no_repeats'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION capq_assert_same_count(capture_a bigint, capture_b bigint, kind text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'capq_assert_same_count'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
