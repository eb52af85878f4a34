--
-- capture_truncation: capquery.max_query_length (superuser, default 4096
-- bytes, minimum 64) cuts long statement texts at a UTF-8 character
-- boundary; the query column then ends with "...".  A text at or under the
-- limit is kept whole, with no marker.
--
-- Checked for each entry: the text is valid UTF-8 (convert_from() verifies
-- it), at most max_query_length + 3 bytes, ends with "...", and what precedes
-- the "..." is a prefix of the statement sent.  The texts are built with
-- \gset so that a 1 MB statement need not be written out here.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

SHOW capquery.max_query_length;

-- 2-, 3- and 4-byte characters; 'é' x 500000 makes a 1 MB statement.
-- "SELECT '<46 x a>' AS exact" is 64 bytes, "... AS exactx" 65.
SELECT repeat('é', 500000) AS big_e, repeat('€', 100) AS euros,
       repeat('😀', 100) AS smileys, repeat('a', 46) AS fill46 \gset

SELECT capq_begin() > 0 AS began;
SELECT octet_length(:'big_e') AS bytes;
SET capquery.max_query_length = 64;
SELECT octet_length(:'euros') AS bytes;
SELECT octet_length(:'smileys') AS bytes;
SELECT :'fill46' AS exact;
SELECT :'fill46' AS exactx;
RESET capquery.max_query_length;
SELECT capq_end();

-- what was sent, to compare with what was captured
CREATE TEMP TABLE trunc_sent (seq int, limit_bytes int, sent text);
INSERT INTO trunc_sent VALUES
  (1, 4096, format('SELECT octet_length(%L) AS bytes', :'big_e')),
  (2, 4096, 'SET capquery.max_query_length = 64'),
  (3, 64, format('SELECT octet_length(%L) AS bytes', :'euros')),
  (4, 64, format('SELECT octet_length(%L) AS bytes', :'smileys')),
  (5, 64, format('SELECT %L AS exact', :'fill46')),
  (6, 64, format('SELECT %L AS exactx', :'fill46')),
  (7, 64, 'RESET capquery.max_query_length');

SELECT q.seq, octet_length(s.sent) AS sent_bytes,
       octet_length(q.query) AS captured_bytes, right(q.query, 4) AS ending,
       convert_from(convert_to(q.query, 'UTF8'), 'UTF8') = q.query AS valid_utf8,
       CASE WHEN q.query LIKE '%...'
            THEN octet_length(q.query) - 3 <= s.limit_bytes
                 AND strpos(s.sent, left(q.query, -3)) = 1
            ELSE q.query = s.sent
       END AS matches_sent
  FROM capq_queries() q JOIN trunc_sent s USING (seq)
  ORDER BY seq;

-- the texts at the 64-byte limit, and one cut before a whole '€'
SELECT seq, query FROM capq_queries() WHERE seq IN (3, 5, 6) ORDER BY seq;

DROP TABLE trunc_sent;
