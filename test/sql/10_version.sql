-- The library runs its own version's statements: a database whose extension
-- is at another version (the DBA installed the new library and has not run
-- ALTER EXTENSION loyalty UPDATE yet) gets a clear 55000 from every
-- operation instead of a missing-column error or worse.  Checked once per
-- backend; a mismatch is not remembered.  The library's version in the messages is
-- masked (it changes with every release).
SET client_min_messages = warning;
SELECT loyalty.create_program('ver') > 0 AS ok;
SELECT loyalty.earn('ver', 'm', 10, 'o1', '2026-01-01');
-- a new backend (the check is once per backend), the catalogue saying
-- another version (as after installing another library)
\c
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE h text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'library is version [0-9.]+,', 'library is version X.Y.Z,')
         || ' (hint: ' || h || ')';
END $f$;
BEGIN;
UPDATE pg_extension SET extversion = '0.0.1' WHERE extname = 'loyalty';
SELECT pg_temp.err($$SELECT loyalty.balance('ver', 'm')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('ver', 'm', 10, 'o2', '2026-01-02')$$);
SELECT pg_temp.err($$CALL loyalty.expire_points()$$);
-- unrelated DDL is not blocked by loyalty's event triggers
CREATE TABLE pg_temp.unrelated (x int);
DROP TABLE pg_temp.unrelated;
-- nor DROP EXTENSION (its event trigger unschedules the pg_cron job)
SELECT pg_temp.err($$DROP EXTENSION loyalty CASCADE$$);
SELECT count(*) AS loyalty_installed FROM pg_extension WHERE extname = 'loyalty';
ROLLBACK;
-- the same backend once the versions agree: works (nothing was remembered)
SELECT loyalty.balance('ver', 'm');
SELECT loyalty.earn('ver', 'm', 10, 'o2', '2026-01-02');
