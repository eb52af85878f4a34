--
-- capture_lifecycle: begin, phases, end, reading back, sessions, reset.
--
-- * A capture starts in phase 1; capq_phase(name) starts the next one and
--   returns its number; entries carry the phase number and name.
-- * Capture state lives outside transactions: ROLLBACK keeps the captured
--   statements, and neither undoes capq_begin() nor capq_end().
-- * capq_end() returns the number of statements captured.
-- * Readers without a capture id read the active capture, else the one this
--   backend ended last; with an id, any retained capture.
-- * capq_sessions() lists captures as active or ended; a capture ends when
--   its backend exits.  capq_reset() (superuser) drops them all.
-- Capture ids grow across tests, so they are compared, never printed;
-- captures are picked out by id (\gset), as labels of ended captures of an
-- earlier run may still be retained.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

CREATE TABLE life_item (id int);
CREATE TEMP VIEW captured AS
  SELECT seq, phase, phase_name, nesting, kind, query, params, rows, relations
  FROM capq_queries();

-- a labelled capture, seen by capq_sessions() as active and empty
SELECT capq_begin('life-main') AS life_main \gset
SELECT capture = :life_main AS same_id, label, owner_pid = pg_backend_pid() AS mine,
       scope, state, statements, lost
  FROM capq_sessions() WHERE capture = :life_main;

-- phases
INSERT INTO life_item VALUES (1);
SELECT capq_phase('load');
SELECT * FROM life_item;
SELECT * FROM life_item;
SELECT capq_phase();

-- ROLLBACK keeps what was captured
BEGIN;
INSERT INTO life_item VALUES (2);
ROLLBACK;
SELECT capq_phase('after rollback');
BEGIN;
DELETE FROM life_item;
SELECT capq_count() AS inside_transaction;
ROLLBACK;
SELECT capq_count() AS total, capq_count('insert') AS inserts,
       capq_count('transaction') AS transactions;
SELECT capture = :life_main AS same_id, state, statements, lost
  FROM capq_sessions() WHERE capture = :life_main;
SELECT capq_end();
SELECT capture = :life_main AS same_id, state, statements, lost
  FROM capq_sessions() WHERE capture = :life_main;

-- reading after the end: the capture this backend ended last
SELECT * FROM captured;
SELECT capq_count() AS total, capq_count('select') AS selects;
SELECT capq_assert_count(9);
SELECT capq_assert_max(2, 'select');
SELECT 'not captured: no active capture' AS note;
SELECT capq_count() AS still_total;

-- capq_begin() in a transaction that rolls back still began the capture,
-- which captured the ROLLBACK; capq_end() in one that rolls back still ended it
BEGIN;
SELECT capq_begin('life-tx') AS life_tx \gset
SELECT 'inside' AS marker;
ROLLBACK;
SELECT state, statements FROM capq_sessions() WHERE capture = :life_tx;
BEGIN;
SELECT capq_end();
ROLLBACK;
SELECT state, statements FROM capq_sessions() WHERE capture = :life_tx;
SELECT * FROM captured;

-- with an active capture, readers without an id read it; with an id, the
-- older ones are still readable
SELECT capq_begin() AS life_third \gset
SELECT 'third' AS marker;
SELECT capq_count() AS active_count,
       capq_count(capture => :life_main) AS main_count,
       capq_count('transaction', :life_tx) AS tx_transactions;
SELECT seq, phase, phase_name, kind, query FROM capq_queries(:life_main) WHERE phase = 2;
SELECT capq_end();
SELECT capq_count() AS ended_last;
SELECT capture = :life_third AS third, label, state, statements
  FROM capq_sessions()
  WHERE capture IN (:life_main, :life_tx, :life_third) ORDER BY capture;

-- a capture ends when its backend exits, and stays readable by id
SELECT capq_begin('life-left-behind') AS life_left \gset
SELECT 'from the old backend' AS marker;
\connect
-- the old backend exits asynchronously: wait (up to 30 s) for its capture to end
SELECT set_config('regress_capq.left', :'life_left', false) IS NOT NULL AS noted;
DO $$
BEGIN
  FOR i IN 1..3000 LOOP
    EXIT WHEN (SELECT state FROM capq_sessions()
               WHERE capture = current_setting('regress_capq.left')::bigint) = 'ended';
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
SELECT label, state, statements FROM capq_sessions() WHERE capture = :life_left;
SELECT capq_count(capture => :life_left) AS left_count;
SELECT seq, kind, query FROM capq_queries(:life_left);

-- capq_reset() drops every capture (superuser only; see capture_errors)
SELECT capq_begin('life-reset') > 0 AS began;
SELECT 1;
SELECT capq_reset();
SELECT count(*) AS captures_left FROM capq_sessions();
SELECT capq_count();
-- (the message names the capture id: show the SQLSTATE only)
\set VERBOSITY sqlstate
SELECT capq_count(capture => :life_left);
\set VERBOSITY default
SELECT capq_begin('life-after-reset') > 0 AS began;
SELECT 'after reset' AS marker;
SELECT capq_end();

DROP TABLE life_item;
