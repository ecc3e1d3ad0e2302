#!/usr/bin/env bash
# pg_cron really runs the job schedule_maintenance() creates: points that
# expired yesterday get their 'expire' ledger row within a minute.
# Needs a server with shared_preload_libraries=pg_cron, cron.database_name =
# the current database, and cron.use_background_workers=on (pg_virtualenv in
# .ci/run sets these).
set -euo pipefail
psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
echo "1..6"
psql_q >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_cron;
DROP EXTENSION IF EXISTS loyalty CASCADE;
CREATE EXTENSION loyalty;
SELECT loyalty.create_program('cron', expiry => 'fixed', expiry_after => '1 day');
SELECT loyalty.earn('cron', 'm', 10, 'o1', now() - interval '2 days');
SQL

job=$(psql_q -c "SELECT loyalty.schedule_maintenance('* * * * *')")
echo "ok 1 - scheduled job $job"
for _ in $(seq 1 80); do
  n=$(psql_q -c "SELECT count(*) FROM loyalty.ledger WHERE kind = 'expire'")
  [ "$n" = "1" ] && break
  sleep 1
done
if [ "$n" = "1" ]; then echo "ok 2 - the job expired the lot"; else
  echo "not ok 2 - no expire row after 80 s"; psql_q -c "SELECT status, return_message FROM cron.job_run_details"; exit 1; fi
status=$(psql_q -c "SELECT status FROM cron.job_run_details WHERE jobid = $job ORDER BY runid DESC LIMIT 1")
if [ "$status" = "succeeded" ]; then echo "ok 3 - pg_cron reports the run succeeded"; else
  echo "not ok 3 - run status: $status"; exit 1; fi
# unschedule_maintenance() removes it (true), then there is nothing (false)
r=$(psql_q -c "SELECT loyalty.unschedule_maintenance()::text || ' ' || loyalty.unschedule_maintenance()::text")
jobs=$(psql_q -c "SELECT count(*) FROM cron.job WHERE jobname = 'loyalty-maintenance'")
if [ "$r" = "true false" ] && [ "$jobs" = 0 ]; then echo "ok 4 - unschedule_maintenance() removed the job"; else
  echo "not ok 4 - unschedule_maintenance() said '$r', $jobs jobs left"; exit 1; fi
# DROP EXTENSION leaves no job behind that would fail every night
psql_q -c "SELECT loyalty.schedule_maintenance('5 0 * * *')" >/dev/null
psql_q -c "BEGIN; DROP EXTENSION loyalty CASCADE; ROLLBACK" >/dev/null
jobs=$(psql_q -c "SELECT count(*) FROM cron.job WHERE jobname = 'loyalty-maintenance'")
if [ "$jobs" = 1 ]; then echo "ok 5 - a DROP EXTENSION that rolls back keeps the job"; else
  echo "not ok 5 - $jobs jobs after a rolled-back DROP EXTENSION"; exit 1; fi
psql_q -c "DROP EXTENSION loyalty CASCADE" >/dev/null
jobs=$(psql_q -c "SELECT count(*) FROM cron.job WHERE jobname = 'loyalty-maintenance'")
if [ "$jobs" = 0 ]; then echo "ok 6 - DROP EXTENSION loyalty removed the pg_cron job"; else
  echo "not ok 6 - $jobs jobs left after DROP EXTENSION"; exit 1; fi
psql_q -c "DROP EXTENSION pg_cron" >/dev/null
