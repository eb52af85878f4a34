--
-- local_bounds: runs on an instance WITHOUT shared_preload_libraries.
--
-- The backend-local ring refuses an over-long phase name (22023) just as
-- the shared one does; it once made this backend spin, unkillable.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS capquery;
RESET client_min_messages;

SELECT capq_begin() > 0 AS began;
SELECT capq_phase(repeat('x', 33 * 1024 * 1024));
\echo :LAST_ERROR_SQLSTATE
SELECT 1 AS still_counted;
SELECT capq_end();
SELECT seq, query FROM capq_queries();
