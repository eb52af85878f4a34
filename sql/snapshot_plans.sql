--
-- snapshot_plans: captured plans and snapshot text, as pg_regress prints them.
--
-- capq_begin(plans => 'on') records each executor statement's plan (EXPLAIN,
-- COSTS OFF); 'analyze' adds actual rows and loops (TIMING OFF), so the text
-- depends on the plan and the data only.  Utility and transaction statements
-- have no plan.  capq_snapshot(plans => true) prints each plan under its
-- statement as '--' comment lines; phases show their number and name.
--
-- Output settings: capq_snapshot() returns one multi-line text value.  In
-- psql's default aligned format it would print under a header, padded, with
-- a '+' at the end of every line.  So around each snapshot this file switches
-- to "\pset format unaligned" and "\pset tuples_only on": the value then
-- prints exactly as returned, one plain line per line, as a user's
-- expected/*.out would hold it; the defaults come back afterwards.
--
-- Stable plans: the tables are tiny and ANALYZEd before any capture, so the
-- planner picks sequential scans; one lookup runs under SET LOCAL
-- enable_seqscan = off to show an index scan.  The 'analyze' statements avoid
-- Sort, Hash and HashAggregate nodes, whose EXPLAIN ANALYZE lines report
-- memory use in kB, which can differ between platforms.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

CREATE TABLE plans_panel (id int PRIMARY KEY, mac text NOT NULL, online boolean NOT NULL);
CREATE TABLE plans_sensor (id int PRIMARY KEY, panel_id int NOT NULL REFERENCES plans_panel,
                           kind text NOT NULL);
INSERT INTO plans_panel SELECT g, 'mac-' || g, g % 2 = 0 FROM generate_series(1, 4) g;
INSERT INTO plans_sensor SELECT g, 1 + g % 4, (ARRAY['door', 'motion'])[1 + g % 2]
  FROM generate_series(1, 8) g;
ANALYZE plans_panel, plans_sensor;
CREATE TEMP VIEW captured AS
  SELECT seq, phase, phase_name, kind, query, plan IS NOT NULL AS has_plan
  FROM capq_queries();

-- plans => 'on': a plan for SELECT, INSERT, UPDATE and DELETE, none for
-- utility and transaction statements
SELECT capq_begin('plans on', plans => 'on') > 0 AS began;
SELECT kind FROM plans_sensor WHERE panel_id = 2 ORDER BY id;
INSERT INTO plans_sensor VALUES (9, 2, 'smoke');
UPDATE plans_sensor SET kind = 'glass' WHERE id = 9;
DELETE FROM plans_sensor WHERE id = 9;
SELECT capq_phase('by key');
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT mac FROM plans_panel WHERE id = 3;
COMMIT;
CREATE TEMP TABLE plans_scratch (id int);
CREATE TEMP TABLE plans_copy AS SELECT * FROM plans_panel;
SELECT capq_end();
SELECT seq, phase, phase_name, kind, has_plan FROM captured;
SELECT count(*) FILTER (WHERE has_plan) AS with_plan,
       count(*) FILTER (WHERE kind IN ('select', 'insert', 'update', 'delete')) AS executor,
       count(*) FILTER (WHERE NOT has_plan AND kind IN ('utility', 'transaction')) AS without_plan,
       count(*) AS total
  FROM captured;
-- the plan column itself
\pset format unaligned
\pset tuples_only on
SELECT seq || ': ' || kind || E'\n' || plan FROM capq_queries() WHERE plan IS NOT NULL;
-- the snapshot with plans: one '--   ' line per plan line, no costs
SELECT capq_snapshot(plans => true);
\pset format aligned
\pset tuples_only off
-- without plans => true the snapshot has no plan lines
SELECT position('-- PLAN:' IN capq_snapshot()) = 0 AS no_plan_lines,
       position('-- PLAN:' IN capq_snapshot(plans => true)) > 0 AS plan_lines,
       position('cost=' IN capq_snapshot(plans => true)) = 0 AS no_costs;

-- plans => 'analyze': actual rows and loops, no times
SELECT capq_begin('plans analyze', plans => 'analyze') > 0 AS began;
SELECT mac FROM plans_panel WHERE online = true;
SELECT count(*) AS doors FROM plans_sensor WHERE kind = 'door';
SELECT capq_phase('changes');
UPDATE plans_sensor SET kind = 'door' WHERE panel_id = 1;
INSERT INTO plans_sensor VALUES (10, 4, 'smoke');
DELETE FROM plans_sensor WHERE id = 10;
SELECT capq_phase();
VACUUM plans_sensor;
SELECT capq_end();
SELECT seq, phase, phase_name, kind, has_plan FROM captured;
\pset format unaligned
\pset tuples_only on
SELECT capq_snapshot(plans => true);
\pset format aligned
\pset tuples_only off
SELECT position('actual rows=' IN capq_snapshot(plans => true)) > 0 AS actual_rows,
       position('time=' IN capq_snapshot(plans => true)) = 0 AS no_times;

-- the default, plans => 'off': no plan anywhere, and plans => true changes
-- nothing in the snapshot
SELECT capq_begin('plans off') > 0 AS began;
SELECT count(*) FROM plans_panel;
SELECT capq_end();
SELECT bool_and(NOT has_plan) AS no_plans FROM captured;
SELECT capq_snapshot(plans => true) = capq_snapshot() AS same_text;

-- an unknown plans value
SELECT capq_begin(plans => 'verbose');

DROP VIEW captured;
DROP TABLE plans_sensor, plans_panel, plans_scratch, plans_copy;
