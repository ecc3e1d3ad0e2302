-- bench/profile.sql — where does one earn() spend its time?  (bench.sh earn)
--
-- 1. Server-side cost per call, no client round trip: :calls calls each of
--    earn(), earn_floor() and the floor's statement written inline in
--    PL/pgSQL (plan cached, like the "raw" pgbench phase), in a DO loop
--    (one transaction).
-- 2. Every statement earn() runs inside, with its executor time: the
--    auto_explain module (LOAD'ed in this session only; no cluster change)
--    logs nested statements at NOTICE level; suite_earn.sh aggregates them.
-- Inputs are drawn like the pgbench scripts; refs are unique ('prof-...').
-- psql variables: :calls, :members, :prog_id.
\set ON_ERROR_STOP on
SET bench.calls = :calls;
SET bench.members = :members;
SET bench.prog_id = :prog_id;
SELECT setseed(0.7);

-- warm the backend: plans prepared once (first call of each statement)
SELECT loyalty.earn('bench', 'm1', 1, 'prof-warm-earn', '2026-06-01 12:00+08'),
       bench.earn_floor(:prog_id, 'm1', 1, 'prof-warm-floor', '2026-06-01 12:00+08', NULL, 1);

CREATE TEMP TABLE prof_timing (what text, calls int, us_per_call numeric);
DO $$
DECLARE
  n int := current_setting('bench.calls')::int;
  nm int := current_setting('bench.members')::int;
  pid int := current_setting('bench.prog_id')::int;
  t0 timestamptz;
  i int;
  m text; amt numeric; at timestamptz; cat text;
BEGIN
  FOR pass IN 1..3 LOOP
    t0 := clock_timestamp();
    FOR i IN 1..n LOOP
      m := 'm' || (1 + floor(random() * nm))::int;
      amt := round((1 - ln(1 - random()) * 2500)::numeric, 2);
      at := timestamptz '2026-01-01 00:00+08' + random() * interval '365 days';
      cat := (ARRAY['food', 'baby', 'home', 'beauty'])[1 + floor(random() * 4)::int];
      IF pass = 1 THEN
        PERFORM loyalty.earn('bench', m, amt, 'prof-e-' || i, at, cat);
      ELSIF pass = 2 THEN
        PERFORM bench.earn_floor(pid, m, amt, 'prof-f-' || i, at, cat, floor(amt)::bigint);
      ELSE
        WITH lot AS (
          INSERT INTO loyalty.lot (program_id, member, id, earned_at, available_at, expires_at,
                                   points, remaining, source, ref, amount)
          SELECT pid, m, n.id, at, at, at + interval '3 years', floor(amt)::bigint,
                 floor(amt)::bigint, 'earn', 'prof-r-' || i, amt
          FROM (SELECT coalesce(max(l.id), 0) + 1 AS id FROM loyalty.lot l
                WHERE l.program_id = pid AND l.member = m) n
          RETURNING id),
        led AS (
          INSERT INTO loyalty.ledger (program_id, member, id, at, kind, points, ref, result, amount,
                                      category, lot_id, qual_at, qual_points, qual_spend,
                                      qual_orders, detail)
          SELECT pid, m, n.id, at, 'earn', floor(amt)::bigint, 'prof-r-' || i, floor(amt)::bigint, amt,
                 cat, lot.id, at, floor(amt)::bigint, amt, 1,
                 jsonb_build_object('base', floor(amt)::bigint)
          FROM lot, (SELECT coalesce(max(e.id), 0) + 1 AS id FROM loyalty.ledger e
                     WHERE e.program_id = pid AND e.member = m) n)
        UPDATE loyalty.account
           SET debt = 0, purchases = purchases + 1, credited = credited + floor(amt)::bigint,
               held = held + floor(amt)::bigint,
               last_earn_at = greatest(last_earn_at, at),
               last_activity_at = greatest(coalesce(last_activity_at, at), at),
               tier = tier, tier_since = tier_since, tier_until = tier_until
         WHERE program_id = pid AND member = m;
      END IF;
    END LOOP;
    INSERT INTO prof_timing VALUES ((ARRAY['earn', 'floor', 'raw'])[pass], n,
      round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n, 1));
  END LOOP;
END
$$;
\pset footer off
\echo 'server-side time per call (DO loop, one transaction, no round trip):'
SELECT what, calls, us_per_call AS "µs/call" FROM prof_timing;

-- statement trace: executor time of each statement, nested ones included
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = off;
SET auto_explain.log_format = json;
SET auto_explain.log_level = notice;
SELECT count(*) AS traced_earn_calls FROM (
  SELECT loyalty.earn('bench', 'm' || (1 + floor(random() * :members))::int,
                      round((1 - ln(1 - random()) * 2500)::numeric, 2), 'prof-t-' || g,
                      timestamptz '2026-01-01 00:00+08' + random() * interval '365 days',
                      (ARRAY['food', 'baby', 'home', 'beauty'])[1 + floor(random() * 4)::int])
  FROM generate_series(1, :calls) AS g) s;
SET auto_explain.log_min_duration = -1;
