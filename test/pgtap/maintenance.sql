-- pgTAP: scheduling with pg_cron (this runs in the cron database, where
-- pg_cron can be created), and the shape of the lifecycle functions.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;
SELECT plan(19);

SELECT has_function('loyalty', 'refund', ARRAY['text','text','text','numeric','text','timestamp with time zone']);
SELECT has_function('loyalty', 'transfer', ARRAY['text','text','text','bigint','text','timestamp with time zone']);
SELECT function_returns('loyalty', 'refund', ARRAY['text','text','text','numeric','text','timestamp with time zone'], 'bigint');
SELECT function_returns('loyalty', 'transfer', ARRAY['text','text','text','bigint','text','timestamp with time zone'], 'void');
SELECT is((SELECT prokind FROM pg_proc WHERE oid = 'loyalty.expire_points(timestamptz, integer)'::regprocedure),
          'p'::"char", 'expire_points is a procedure');
SELECT is((SELECT prokind FROM pg_proc WHERE oid = 'loyalty.evaluate_tiers(timestamptz, integer)'::regprocedure),
          'p'::"char", 'evaluate_tiers is a procedure');
SELECT is((SELECT prokind FROM pg_proc WHERE oid = 'loyalty.run_maintenance(timestamptz)'::regprocedure),
          'p'::"char", 'run_maintenance is a procedure');
SELECT function_lang_is('loyalty', 'refund', ARRAY['text','text','text','numeric','text','timestamp with time zone'], 'c');
SELECT function_lang_is('loyalty', 'transfer', ARRAY['text','text','text','bigint','text','timestamp with time zone'], 'c');

SELECT has_function('loyalty', 'track_orders',
  ARRAY['regclass','text','name','name','name','name','name','name','boolean']);
SELECT has_function('loyalty', 'untrack_orders', ARRAY['regclass']);
SELECT function_lang_is('loyalty', '_orders_trigger', ARRAY[]::text[], 'c',
                        'the orders trigger is C');

-- without pg_cron: a clear error
SELECT throws_ok($$SELECT loyalty.schedule_maintenance()$$, '55000', NULL,
                 'schedule_maintenance without pg_cron says so');
CREATE EXTENSION pg_cron;
SELECT lives_ok($$SELECT loyalty.schedule_maintenance()$$, 'schedules with pg_cron');
SELECT lives_ok($$SELECT loyalty.schedule_maintenance('10 1 * * *')$$, 'schedules again');
SELECT is((SELECT count(*) FROM cron.job WHERE jobname = 'loyalty-maintenance'), 1::bigint,
          'two calls, one job');
SELECT is((SELECT schedule FROM cron.job WHERE jobname = 'loyalty-maintenance'), '10 1 * * *',
          'the second call changed the schedule');
SELECT is((SELECT command FROM cron.job WHERE jobname = 'loyalty-maintenance'),
          'CALL loyalty.run_maintenance()', 'the job runs the maintenance procedure');
SELECT throws_ok($$SELECT loyalty.schedule_maintenance('not a schedule')$$, '22023',
                 'invalid schedule: not a schedule', 'a bad schedule is rejected (pg_cron''s 22023)');

SELECT * FROM finish();
ROLLBACK;
