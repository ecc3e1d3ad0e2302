-- bench/maint_timed.sql — one timed run (suite_maintenance.sh): writes the
-- backend's pid to :pidfile (suite_maintenance.sh samples /proc/<pid>/status while
-- the statement runs), starts from a fresh checkpoint, runs the statement
-- file :stmt (floor or CALL), and prints one RESULT line: wall time measured
-- in the server (clock_timestamp), WAL written and checkpoints started
-- during the run, and the backend's memory contexts afterwards.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\o :pidfile
SELECT pg_backend_pid();
\o
CHECKPOINT;
SELECT pg_current_wal_lsn() AS wal0,
       (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS ck0,
       clock_timestamp() AS t0 \gset
\i :stmt
SELECT format('RESULT secs=%s wal_mb=%s checkpoints=%s ctx_kb=%s',
              round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3),
              round((pg_current_wal_lsn() - :'wal0'::pg_lsn) / 1048576.0),
              (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) - :ck0,
              (SELECT sum(total_bytes) / 1024 FROM pg_backend_memory_contexts));
