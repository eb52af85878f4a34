-- scripts/demo.sql: run by scripts/demo.sh against a throwaway, preloaded
-- instance that holds the alarm_panels / sensors schema. psql runs with
-- ON_ERROR_STOP on; it is off only around the assertion that must fail, and
-- the script then checks that it failed with P0004.
\pset footer off
\set VERBOSITY default
\set SHOW_CONTEXT never

\echo '==================================================================='
\echo '(1) The N+1 version: list the panels, then one query per panel'
\echo '==================================================================='
\echo
-- \gexec runs each generated statement as its own top-level statement, in
-- order. The generating SELECT runs before capq_begin(), so it is not captured.
\echo '(psql \\gexec: this generator query, not captured, emits the statements that follow)'
\set ECHO queries
SELECT q FROM (
    SELECT 0 AS ord, $q$SELECT capq_begin('n+1 version')$q$ AS q
    UNION ALL
    SELECT 1, 'SELECT id, mac_address FROM alarm_panels ORDER BY id'
    UNION ALL
    SELECT 1 + id, format('SELECT id, kind, reading FROM sensors WHERE panel_id = %s ORDER BY id', id)
    FROM alarm_panels
    UNION ALL
    SELECT 1000, 'SELECT capq_end()'
) AS statements ORDER BY ord
\gexec
\set ECHO none

\echo '--- statements captured ---'
SELECT capq_count('select') AS selects;
SELECT seq, kind, query FROM capq_queries();

\echo '--- the test asserts "at most 2 SELECTs" and fails: ---'
\set ON_ERROR_STOP off
\set ECHO queries
SELECT capq_assert_max(2, 'select');
\set ECHO none
\set ON_ERROR_STOP on
SELECT :'LAST_ERROR_SQLSTATE' = 'P0004' AS n_plus_1_caught \gset
\if :n_plus_1_caught
\echo '>>> capq_assert_max raised SQLSTATE' :LAST_ERROR_SQLSTATE '(assert_failure): the N+1 is caught'
\else
\echo '>>> capq_assert_max did not raise P0004 (last SQLSTATE' :LAST_ERROR_SQLSTATE ')'
DO $$ BEGIN RAISE EXCEPTION 'demo: the N+1 was not caught'; END $$;
\endif
\echo

\echo '==================================================================='
\echo '(2) The fixed version: one JOIN'
\echo '==================================================================='
\echo
\set ECHO queries
SELECT capq_begin('fixed version');
SELECT p.id, p.mac_address, s.kind, s.reading FROM alarm_panels p JOIN sensors s ON s.panel_id = p.id ORDER BY p.id, s.id;
SELECT capq_end();
\set ECHO none

\echo '--- statements captured ---'
SELECT capq_count('select') AS selects;
SELECT seq, kind, query FROM capq_queries();

\echo '--- the same assertion passes: ---'
\set ECHO queries
SELECT capq_assert_max(2, 'select');
\set ECHO none
\echo '>>> capq_assert_max(2, ''select'') passed'
