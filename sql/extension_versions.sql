--
-- extension_versions: every older version updates to the current one.
--
-- From every version that can be installed, ALTER EXTENSION capquery UPDATE
-- reaches the default version with the objects of a fresh install (the last
-- query: one row per older version).
-- CREATE EXTENSION capquery VERSION '1.0' installs 1.0 as it was released
-- (capq_fingerprint IMMUTABLE); ALTER EXTENSION capquery UPDATE brings it to
-- the default version, and the updated extension has exactly the objects,
-- signatures and properties (volatility, strictness, parallel safety, rows,
-- privileges, composite type columns) of a fresh CREATE EXTENSION.  The
-- functions work after the update.  The extension is left installed at the
-- default version, as the other files expect.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS capquery CASCADE;
RESET client_min_messages;

SELECT name, version, installed FROM pg_available_extension_versions
 WHERE name = 'capquery' ORDER BY version;
SELECT default_version FROM pg_available_extensions WHERE name = 'capquery';

-- one row per object of the extension, with what \dx+ and \df+ would show
CREATE FUNCTION pg_temp.capq_objects()
RETURNS TABLE (object text, properties text)
LANGUAGE sql AS $$
  SELECT pg_describe_object(d.classid, d.objid, 0),
         CASE d.classid
           WHEN 'pg_proc'::regclass THEN
             (SELECT format('(%s) -> %s; volatile %s, strict %s, parallel %s, rows %s, cost %s, acl %s',
                            pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                            p.provolatile, p.proisstrict, p.proparallel, p.prorows, p.procost,
                            coalesce(p.proacl::text, 'default'))
                FROM pg_proc p WHERE p.oid = d.objid)
           WHEN 'pg_type'::regclass THEN
             (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),
                                ', ' ORDER BY a.attnum)
                FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
               WHERE t.oid = d.objid AND a.attnum > 0 AND NOT a.attisdropped)
         END
    FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND e.extname = 'capquery'
$$;

-- 1.0 as released, working with this library until it is updated: its
-- capq_queries() has the 15 columns of 1.0 (the library's 1.0 entry point),
-- and failed statements are entries already
CREATE EXTENSION capquery VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'capquery';
SELECT provolatile FROM pg_proc WHERE oid = 'capq_fingerprint(text)'::regprocedure;
SELECT capq_begin() > 0 AS began;
SELECT 1 AS one;
\set SHOW_CONTEXT never
SELECT 1/0 AS fails;
SELECT capq_end();
SELECT count(*) AS columns FROM pg_attribute
 WHERE attrelid = 'capq_query'::regclass AND attnum > 0;
SELECT * FROM capq_queries() LIMIT 0;
SELECT seq, kind, query, rows FROM capq_queries();
SELECT capq_count() AS sent, capq_count('error') AS failed;

-- updated to the default version: the same capture, read again, has the
-- 1.1 columns
ALTER EXTENSION capquery UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions
                      WHERE name = 'capquery') AS at_default_version
  FROM pg_extension WHERE extname = 'capquery';
SELECT provolatile FROM pg_proc WHERE oid = 'capq_fingerprint(text)'::regprocedure;
SELECT * FROM capq_queries() LIMIT 0;
SELECT seq, kind, query, error, error_message, started_at IS NOT NULL AS started
  FROM capq_queries();
-- a definition whose columns do not match the library's entry point is refused
CREATE FUNCTION pg_temp.capq_queries_mismatch(capture bigint DEFAULT NULL)
RETURNS SETOF capq_query AS '$libdir/capquery', 'capq_queries' LANGUAGE C;
SELECT * FROM pg_temp.capq_queries_mismatch();
\echo :LAST_ERROR_SQLSTATE
DROP FUNCTION pg_temp.capq_queries_mismatch(bigint);
CREATE TEMP TABLE updated AS SELECT * FROM pg_temp.capq_objects();

-- the functions work after the update
SELECT capq_begin('updated') > 0 AS began;
SELECT 2 AS two;
SELECT capq_phase('second');
SELECT 3 AS three;
SELECT capq_end();
SELECT phase, phase_name, kind, query FROM capq_queries();
SELECT capq_count('select') AS selects;
SELECT capq_fingerprint('SELECT 1') = capq_fingerprint('select 2') AS same_shape;

-- a fresh install of the default version has the same objects
DROP EXTENSION capquery;
CREATE EXTENSION capquery;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.capq_objects();
SELECT count(*) > 0 AS has_objects FROM fresh;
SELECT 'only after update' AS side, * FROM (TABLE updated EXCEPT TABLE fresh) u
UNION ALL
SELECT 'only in fresh install', * FROM (TABLE fresh EXCEPT TABLE updated) f
ORDER BY 1, 2;

DROP TABLE updated, fresh;

-- every older version, updated, against a fresh install
CREATE FUNCTION pg_temp.update_paths()
RETURNS TABLE (from_version text, to_version text, differences bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v text;
BEGIN
  DROP EXTENSION capquery;
  CREATE EXTENSION capquery;
  CREATE TEMP TABLE fresh_objects AS SELECT * FROM pg_temp.capq_objects();
  FOR v IN
    SELECT a.version FROM pg_available_extension_versions a
     WHERE a.name = 'capquery'
       AND a.version <> (SELECT default_version FROM pg_available_extensions
                          WHERE name = 'capquery')
     ORDER BY string_to_array(a.version, '.')::int[]
  LOOP
    DROP EXTENSION capquery;
    EXECUTE format('CREATE EXTENSION capquery VERSION %L', v);
    ALTER EXTENSION capquery UPDATE;
    from_version := v;
    SELECT extversion INTO to_version FROM pg_extension WHERE extname = 'capquery';
    SELECT count(*) INTO differences
      FROM ((TABLE fresh_objects EXCEPT SELECT * FROM pg_temp.capq_objects())
            UNION ALL
            (SELECT * FROM pg_temp.capq_objects() EXCEPT TABLE fresh_objects)) d;
    RETURN NEXT;
  END LOOP;
  DROP EXTENSION capquery;
  CREATE EXTENSION capquery;
  DROP TABLE fresh_objects;
END $$;
SELECT * FROM pg_temp.update_paths();
