--
-- read_path: what the readers print is what they printed before they were
-- made to scan each text once.  The expected output was produced by the
-- build before that change (one scan per reader and per shown statement,
-- no caches): every line here must stay byte for byte.
--
-- Covers the shortcuts the readers now take: identifiers whose folded form
-- is (or is not) as long as their source (quoted, U&"...", longer than
-- NAMEDATALEN), keywords in any case; a text repeated without parameters
-- (rendered once in a snapshot, its values kept by the shape grouping);
-- the same text with different bound parameters (rendered per statement);
-- phases with names, out of order in the ring; an assertion that renders
-- only the shapes over its limit, with their examples.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

-- identifiers and keywords: same shape whatever their case, unless quoted
SELECT capq_fingerprint($$SELECT "MyCol", mycol FROM t$$)
     = capq_fingerprint($$select "MyCol", MYCOL from T$$) AS folded_same,
       capq_fingerprint($$SELECT "MyCol" FROM t$$)
     = capq_fingerprint($$SELECT mycol FROM t$$) AS quoted_differs,
       capq_fingerprint($$SELECT U&"d\0061ta" FROM t$$)
     = capq_fingerprint($$SELECT "data" FROM t$$) AS unicode_same,
       capq_fingerprint($$SELECT abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_xyz FROM t$$)
     = capq_fingerprint($$SELECT abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_uvw FROM t$$) AS truncated_same;
SELECT capq_fingerprint($$SELECT a->>'k', b::int, c >= -5, d <> 2 FROM "T" WHERE e IN (1, 2)$$) AS operators,
       capq_fingerprint($$SELECT U&"d\0061ta", "Quoted""Name" FROM t$$) AS quoted,
       capq_fingerprint($$SELECT abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_xyz FROM t$$) AS long_identifier;

CREATE TABLE rp_panels (id int PRIMARY KEY, "Label" text, is_online boolean);
INSERT INTO rp_panels VALUES (1, 'a', true), (2, 'b''s', false), (3, NULL, true);
PREPARE rp_get (int) AS SELECT id, "Label" FROM rp_panels WHERE id = $1;

SELECT capq_begin('read path') IS NOT NULL AS began;
SELECT capq_phase('first request') IS NOT NULL AS phased;
SELECT id, "Label" FROM rp_panels WHERE id = 1;
SELECT id, "Label" FROM rp_panels WHERE id = 1;
SELECT id, "Label" FROM rp_panels WHERE id = 2;
EXECUTE rp_get(1);
EXECUTE rp_get(2);
EXECUTE rp_get(3);
EXECUTE rp_get(3);
SELECT capq_phase('second request') IS NOT NULL AS phased;
SELECT id FROM rp_panels WHERE id IN (1, 2, 3) AND "Label" IS NOT NULL /* controller='panels',traceparent='00-1' */;
SELECT id FROM rp_panels WHERE id IN (3, 2) AND "Label" IS NOT NULL /* controller='panels',traceparent='00-2' */;
UPDATE rp_panels SET is_online = NOT is_online WHERE id = -1 RETURNING id;
SELECT id, "Label" FROM rp_panels WHERE id = 1;
SELECT capq_phase() IS NOT NULL AS phased;
select ID, "Label" from RP_PANELS where ID = 1;
SELECT capq_end() AS captured;

SELECT capq_snapshot();
SELECT phase, fingerprint, query, kind, executions, rows, relations, call_sites
  FROM capq_summary();
SELECT seq, phase, phase_name, kind, query, params, rows, relations
  FROM capq_queries();
SELECT capq_assert_no_repeats(2);
SELECT capq_assert_no_repeats(10);

DEALLOCATE rp_get;
DROP TABLE rp_panels;
