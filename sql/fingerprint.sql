--
-- fingerprint: statement shapes, table-driven.
--
-- Each case is a pair of statement texts and whether they must have the same
-- shape: capq_fingerprint(a) = capq_fingerprint(b).  Same shape whatever the
-- literal values, the length of a constant list, a parameter in place of a
-- literal, comments, white space and keyword case; a different shape for a
-- different column, table, predicate, join, ORDER BY or LIMIT.
--
-- The output lists only the cases whose expectation fails, so the expected
-- output shows zero such rows, then how many cases were checked: a wrong
-- fingerprint adds a row, a lost case changes the count.
--
-- Fingerprints are the first 64 bits of a SHA-256 of the shape: the values
-- printed at the end are the same on every run, server and machine, so they
-- can be written into a test or an allow-list.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

CREATE TEMP TABLE shape_case (
  id serial PRIMARY KEY,
  label text NOT NULL,
  a text NOT NULL,
  b text NOT NULL,
  same boolean NOT NULL
);

INSERT INTO shape_case (label, a, b, same) VALUES
  -- same shape
  ('integer literals',
   $$SELECT * FROM sensors WHERE panel_id = 1$$,
   $$SELECT * FROM sensors WHERE panel_id = 42$$, true),
  ('string literals',
   $$SELECT * FROM sensors WHERE kind = 'door'$$,
   $$SELECT * FROM sensors WHERE kind = 'it''s smoke'$$, true),
  ('string literal styles',
   $$SELECT * FROM sensors WHERE kind = E'door\n'$$,
   $$SELECT * FROM sensors WHERE kind = 'motion'$$, true),
  ('numeric literals',
   $$SELECT * FROM readings WHERE value > 1.5$$,
   $$SELECT * FROM readings WHERE value > 2e3$$, true),
  ('negative literal',
   $$SELECT * FROM readings WHERE value = -5$$,
   $$SELECT * FROM readings WHERE value = 7$$, true),
  ('boolean literals',
   $$SELECT * FROM alarm_panels WHERE is_online = true$$,
   $$SELECT * FROM alarm_panels WHERE is_online = FALSE$$, true),
  ('NULL as a value',
   $$INSERT INTO sensors (panel_id, kind) VALUES (NULL, 'door')$$,
   $$INSERT INTO sensors (panel_id, kind) VALUES (3, 'smoke')$$, true),
  ('typed literals',
   $$SELECT * FROM readings WHERE at > timestamp '2024-01-01 00:00'$$,
   $$SELECT * FROM readings WHERE at > timestamp '1999-12-31 23:59'$$, true),
  ('parameter vs integer literal',
   $$SELECT * FROM sensors WHERE panel_id = $1$$,
   $$SELECT * FROM sensors WHERE panel_id = 7$$, true),
  ('parameter vs string literal',
   $$UPDATE sensors SET kind = $1 WHERE id = $2$$,
   $$UPDATE sensors SET kind = 'glass' WHERE id = 9$$, true),
  ('parameter vs boolean literal',
   $$SELECT * FROM alarm_panels WHERE is_online = $1$$,
   $$SELECT * FROM alarm_panels WHERE is_online = true$$, true),
  ('parameter numbers',
   $$SELECT * FROM sensors WHERE panel_id = $1 AND kind = $2$$,
   $$SELECT * FROM sensors WHERE panel_id = $2 AND kind = $1$$, true),
  ('IN list lengths',
   $$SELECT * FROM sensors WHERE panel_id IN (1, 2, 3)$$,
   $$SELECT * FROM sensors WHERE panel_id IN (4, 5)$$, true),
  ('IN list of one',
   $$SELECT * FROM sensors WHERE panel_id IN (1, 2, 3)$$,
   $$SELECT * FROM sensors WHERE panel_id IN (8)$$, true),
  ('IN list of parameters',
   $$SELECT * FROM sensors WHERE panel_id IN ($1, $2, $3, $4)$$,
   $$SELECT * FROM sensors WHERE panel_id IN (4, 5)$$, true),
  ('two IN lists',
   $$SELECT * FROM sensors WHERE panel_id IN (1, 2) AND kind IN ('door')$$,
   $$SELECT * FROM sensors WHERE panel_id IN (7) AND kind IN ('door', 'smoke', 'motion')$$, true),
  ('ARRAY lengths',
   $$SELECT * FROM sensors WHERE panel_id = ANY (ARRAY[1, 2, 3])$$,
   $$SELECT * FROM sensors WHERE panel_id = ANY (ARRAY[9])$$, true),
  ('VALUES rows',
   $$INSERT INTO sensors (panel_id, kind) VALUES (1, 'door'), (1, 'smoke')$$,
   $$INSERT INTO sensors (panel_id, kind) VALUES (2, 'motion')$$, true),
  ('LIMIT and OFFSET values',
   $$SELECT * FROM sensors ORDER BY id LIMIT 10 OFFSET 20$$,
   $$SELECT * FROM sensors ORDER BY id LIMIT 5 OFFSET 0$$, true),
  ('block comment',
   $$SELECT * FROM sensors /* lazy load */ WHERE panel_id = 1$$,
   $$SELECT * FROM sensors WHERE panel_id = 1$$, true),
  ('line comment',
   E'SELECT * FROM sensors -- the N+1\nWHERE panel_id = 1',
   $$SELECT * FROM sensors WHERE panel_id = 1$$, true),
  ('sqlcommenter tag',
   $$SELECT * FROM sensors WHERE panel_id = 1 /*controller='panels',action='show'*/$$,
   $$SELECT * FROM sensors WHERE panel_id = 2 /*controller='alarms',action='index'*/$$, true),
  ('white space',
   E'SELECT *\n\t FROM   sensors\nWHERE panel_id=1',
   $$SELECT * FROM sensors WHERE panel_id = 1$$, true),
  ('keyword case',
   $$select * from sensors where panel_id = 1 order by id$$,
   $$SELECT * FROM sensors WHERE panel_id = 1 ORDER BY id$$, true),
  ('unquoted identifier case',
   $$SELECT ID FROM Sensors WHERE Panel_Id = 1$$,
   $$SELECT id FROM sensors WHERE panel_id = 1$$, true),
  ('quoted lower-case identifier',
   $$SELECT "id" FROM "sensors" WHERE panel_id = 1$$,
   $$SELECT id FROM sensors WHERE panel_id = 1$$, true),
  ('trailing semicolon',
   $$SELECT * FROM sensors WHERE panel_id = 1;$$,
   $$SELECT * FROM sensors WHERE panel_id = 1$$, true),
  ('PREPARE of the statement',
   $$PREPARE lazy_sensors (int) AS SELECT * FROM sensors WHERE panel_id = $1$$,
   $$SELECT * FROM sensors WHERE panel_id = 3$$, true),
  -- different shapes
  ('different column selected',
   $$SELECT id FROM sensors WHERE panel_id = 1$$,
   $$SELECT kind FROM sensors WHERE panel_id = 1$$, false),
  ('different column filtered',
   $$SELECT * FROM sensors WHERE panel_id = 1$$,
   $$SELECT * FROM sensors WHERE id = 1$$, false),
  ('different table',
   $$SELECT * FROM sensors WHERE id = 1$$,
   $$SELECT * FROM alarm_panels WHERE id = 1$$, false),
  ('quoted mixed-case identifier',
   $$SELECT * FROM "Sensors" WHERE id = 1$$,
   $$SELECT * FROM sensors WHERE id = 1$$, false),
  ('different operator',
   $$SELECT * FROM sensors WHERE panel_id = 1$$,
   $$SELECT * FROM sensors WHERE panel_id > 1$$, false),
  ('extra predicate',
   $$SELECT * FROM sensors WHERE panel_id = 1$$,
   $$SELECT * FROM sensors WHERE panel_id = 1 AND kind = 'door'$$, false),
  ('AND vs OR',
   $$SELECT * FROM sensors WHERE panel_id = 1 AND kind = 'door'$$,
   $$SELECT * FROM sensors WHERE panel_id = 1 OR kind = 'door'$$, false),
  ('IS NULL vs IS NOT NULL',
   $$SELECT * FROM sensors WHERE kind IS NULL$$,
   $$SELECT * FROM sensors WHERE kind IS NOT NULL$$, false),
  ('IN list vs equality',
   $$SELECT * FROM sensors WHERE panel_id IN (1, 2)$$,
   $$SELECT * FROM sensors WHERE panel_id = 1$$, false),
  ('IN list vs IN subquery',
   $$SELECT * FROM sensors WHERE panel_id IN (1, 2)$$,
   $$SELECT * FROM sensors WHERE panel_id IN (SELECT id FROM alarm_panels)$$, false),
  ('join vs no join',
   $$SELECT * FROM alarm_panels LEFT OUTER JOIN sensors ON alarm_panels.id = sensors.panel_id$$,
   $$SELECT * FROM alarm_panels$$, false),
  ('join kind',
   $$SELECT * FROM alarm_panels LEFT OUTER JOIN sensors ON alarm_panels.id = sensors.panel_id$$,
   $$SELECT * FROM alarm_panels JOIN sensors ON alarm_panels.id = sensors.panel_id$$, false),
  ('ORDER BY presence',
   $$SELECT * FROM sensors WHERE panel_id = 1 ORDER BY id$$,
   $$SELECT * FROM sensors WHERE panel_id = 1$$, false),
  ('ORDER BY column',
   $$SELECT * FROM sensors ORDER BY id$$,
   $$SELECT * FROM sensors ORDER BY kind$$, false),
  ('ORDER BY direction',
   $$SELECT * FROM sensors ORDER BY id$$,
   $$SELECT * FROM sensors ORDER BY id DESC$$, false),
  ('LIMIT presence',
   $$SELECT * FROM sensors ORDER BY id LIMIT 10$$,
   $$SELECT * FROM sensors ORDER BY id$$, false),
  ('statement kind',
   $$DELETE FROM sensors WHERE id = 1$$,
   $$SELECT * FROM sensors WHERE id = 1$$, false),
  ('VALUES row width',
   $$INSERT INTO sensors (panel_id, kind) VALUES (1, 'door')$$,
   $$INSERT INTO sensors (panel_id) VALUES (1)$$, false),
  ('binary minus is an operator',
   $$SELECT value - 1 FROM readings$$,
   $$SELECT value FROM readings$$, false);

-- cases whose expectation fails: none
SELECT id, label, same AS expected_same, a, b,
       capq_fingerprint(a) AS fingerprint_a, capq_fingerprint(b) AS fingerprint_b
  FROM shape_case
 WHERE (capq_fingerprint(a) = capq_fingerprint(b)) IS DISTINCT FROM same
 ORDER BY id;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE same) AS same_shape,
       count(*) FILTER (WHERE NOT same) AS different_shape
  FROM shape_case;

-- a fingerprint is 16 hex digits, and a statement has one whatever its text
SELECT count(*) FILTER (WHERE capq_fingerprint(a) ~ '^[0-9a-f]{16}$'
                          AND capq_fingerprint(b) ~ '^[0-9a-f]{16}$') AS well_formed,
       count(*) AS cases
  FROM shape_case;
SELECT capq_fingerprint(NULL) IS NULL AS null_in_null_out,
       capq_fingerprint('') = capq_fingerprint('  ') AS empty_texts_alike,
       capq_fingerprint($$SELECT 'unterminated$$) ~ '^[0-9a-f]{16}$' AS lexical_error_still_fingerprinted;

-- stable values: SHA-256 based, the same on every run, server and machine
SELECT capq_fingerprint(q) AS fingerprint, q AS statement
  FROM (VALUES (1, $$SELECT * FROM sensors WHERE panel_id = 1$$),
               (2, $$select * from SENSORS where panel_id = $1 /* app.py:42 */$$),
               (3, $$SELECT * FROM sensors WHERE panel_id IN (1, 2, 3)$$),
               (4, $$INSERT INTO alarm_panels (mac_address, is_online) VALUES ('00:11:22:33:44:55', true)$$),
               (5, $$BEGIN$$)) AS t(n, q)
 ORDER BY n;

-- capq_summary() groups captured statements by that same fingerprint: three
-- literals, a bound parameter (PREPARE/EXECUTE) and an IN list of any length
CREATE TABLE shape_sensors (id int PRIMARY KEY, panel_id int NOT NULL, kind text NOT NULL);
INSERT INTO shape_sensors VALUES (1, 1, 'door'), (2, 1, 'smoke'), (3, 2, 'motion');
PREPARE shape_lazy (int) AS SELECT kind FROM shape_sensors WHERE panel_id = $1 ORDER BY id;
SELECT capq_begin('shapes') > 0 AS began;
SELECT kind FROM shape_sensors WHERE panel_id = 1 ORDER BY id;
SELECT kind FROM shape_sensors WHERE panel_id = 2 ORDER BY id;
select KIND from SHAPE_SENSORS where PANEL_ID = 3 order by ID;
EXECUTE shape_lazy(1);
SELECT kind FROM shape_sensors WHERE panel_id IN (1, 2) ORDER BY id;
SELECT kind FROM shape_sensors WHERE panel_id IN (2, 3, 4, 5) ORDER BY id;
SELECT capq_end();
SELECT fingerprint = capq_fingerprint($$SELECT kind FROM shape_sensors WHERE panel_id = 9 ORDER BY id$$)
         AS lazy_shape,
       fingerprint = capq_fingerprint($$SELECT kind FROM shape_sensors WHERE panel_id IN (9) ORDER BY id$$)
         AS in_shape,
       query, executions, rows
  FROM capq_summary()
 ORDER BY executions DESC;
DEALLOCATE shape_lazy;
DROP TABLE shape_sensors;

-- casts: a literal or parameter with a type cast is a constant like any other
SELECT id, label, same AS expected_same, a, b
  FROM (VALUES
    (1, 'cast literals', $$SELECT * FROM sensors WHERE panel_id = 1::int$$,
        $$SELECT * FROM sensors WHERE panel_id = 2::int$$, true),
    (2, 'cast parameter vs cast literal', $$SELECT * FROM sensors WHERE kind = $1::text$$,
        $$SELECT * FROM sensors WHERE kind = 'door'::text$$, true),
    (3, 'cast string literals', $$SELECT * FROM sensors WHERE kind = 'door'::text$$,
        $$SELECT * FROM sensors WHERE kind = 'smoke'::text$$, true),
    (4, 'literal before <>', $$SELECT * FROM sensors WHERE 'door' <> kind$$,
        $$SELECT * FROM sensors WHERE 'smoke' <> kind$$, true),
    (5, 'cast vs no cast', $$SELECT * FROM sensors WHERE panel_id = $1::int$$,
        $$SELECT * FROM sensors WHERE panel_id = $1$$, false),
    (6, 'cast type', $$SELECT * FROM sensors WHERE panel_id = $1::int$$,
        $$SELECT * FROM sensors WHERE panel_id = $1::bigint$$, false)
  ) AS c(id, label, a, b, same)
 WHERE (capq_fingerprint(a) = capq_fingerprint(b)) IS DISTINCT FROM same
 ORDER BY id;

DROP TABLE shape_case;
