--
-- alarm_checkout: the database footprint of "show a panel, then check it out".
--
-- The workload runs under a capquery capture and the file ends by printing
-- capq_snapshot().  expected/alarm_checkout.out is therefore the approved
-- list of statements: a change to what the application sends shows up as a
-- diff of that file, in review.
--
-- psql settings: the whole file prints in unaligned, tuples-only mode, so a
-- result (and the multi-line snapshot above all) is printed as plain lines,
-- without headers, padding or '+' continuation marks.
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

-- fixture data, not captured
CREATE TABLE alarm_panels (
  id serial PRIMARY KEY,
  mac_address text NOT NULL,
  is_online boolean NOT NULL DEFAULT false
);
CREATE TABLE sensors (
  id serial PRIMARY KEY,
  panel_id integer NOT NULL REFERENCES alarm_panels (id),
  kind text NOT NULL
);
CREATE TABLE panel_checkouts (
  id serial PRIMARY KEY,
  panel_id integer NOT NULL REFERENCES alarm_panels (id),
  technician text NOT NULL
);
INSERT INTO alarm_panels (mac_address, is_online)
  VALUES ('00:11:22:33:44:55', true), ('00:11:22:33:44:66', false);
INSERT INTO sensors (panel_id, kind)
  VALUES (1, 'door'), (1, 'motion'), (2, 'smoke');

-- the workload, as the application sends it; phase 1 shows the panel
SELECT capq_begin('alarm checkout') > 0;
SELECT alarm_panels.id, alarm_panels.mac_address, alarm_panels.is_online
  FROM alarm_panels WHERE alarm_panels.mac_address = '00:11:22:33:44:55';
-- the panel's sensors, loaded eagerly in one query
SELECT sensors.id, sensors.panel_id, sensors.kind
  FROM sensors WHERE sensors.panel_id IN (1) ORDER BY sensors.id;

SELECT capq_phase('check out');
BEGIN;
UPDATE alarm_panels SET is_online = false WHERE alarm_panels.id = 1;
INSERT INTO panel_checkouts (panel_id, technician) VALUES (1, 'ada') RETURNING panel_checkouts.id;
COMMIT;

SELECT capq_end();

-- the approved footprint
SELECT capq_snapshot();

DROP TABLE panel_checkouts, sensors, alarm_panels;
