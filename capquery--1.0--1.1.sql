/* capquery--1.0--1.1.sql: update capquery from version 1.0 to 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION capquery UPDATE TO '1.1'" to load this file. \quit

-- capq_fingerprint depends on standard_conforming_strings (how the scanner
-- reads backslashes in literals), so it is not IMMUTABLE: an expression index
-- on it could return wrong rows.
ALTER FUNCTION capq_fingerprint(text) STABLE;

-- Further 1.1 changes go below, each with a comment saying what changed and
-- why: new capq_queries() columns (error, error_message, started_at) and
-- capq_report().  A function whose result columns change gets a new C entry
-- point (e.g. capq_queries_1_1) so that a 1.0 definition keeps working with
-- the newer library, as pg_stat_statements does.

-- Failed statements are entries (1.1): capq_queries() gains error (the
-- SQLSTATE, NULL when the statement succeeded), error_message (masked like
-- query) and started_at.  Its row type changes, so the function and its type
-- are recreated, with the same signature and default, on the library's 1.1
-- entry point; the 1.0 entry point (capq_queries) stays for installations
-- not yet updated.
DROP FUNCTION capq_queries(bigint);
DROP TYPE capq_query;

CREATE TYPE capq_query AS (
    capture bigint, seq bigint, phase int, phase_name text,
    pid int, username name, database name, nesting int,
    kind text, query text, params text, rows bigint,
    duration_ms float8, relations text[], plan text,
    error text, error_message text, started_at timestamptz);

CREATE FUNCTION capq_queries(capture bigint DEFAULT NULL)
RETURNS SETOF capq_query
AS 'MODULE_PATHNAME', 'capq_queries_1_1'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE ROWS 100;

-- capq_report: a capture as a review document (HTML page, Markdown for a
-- pull request, or text), read with the same masking and 53400 rule as
-- every other reader.  capture may be NULL (the default capture).
CREATE FUNCTION capq_report(capture bigint DEFAULT NULL, format text DEFAULT 'html')
RETURNS text
AS 'MODULE_PATHNAME', 'capq_report'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
