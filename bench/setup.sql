-- bench/setup.sql — the template database of the earn suite (bench.sh earn).
--
-- Creates the extension, one program with 3 tiers, enrols :members members
-- and gives them a 2025 purchase history (bench/loader.sql: through
-- loyalty.enroll / loyalty.earn, or load_bulk's identical rows for large
-- sizes), then adds the 5 earning rules (the history was earned before they
-- existed: configuration changes never rewrite the ledger) and defines the
-- "floor": a plain LANGUAGE sql function writing the same rows as one earn.
--
-- psql variables: :members (members to enrol), :history (past purchases per
-- member), :load (auto | calls | bulk).
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE EXTENSION loyalty;
\ir loader.sql

SELECT loyalty.create_program(
  code          => 'bench',
  name          => 'pgbench program',
  expiry        => 'fixed',
  expiry_after  => '3 years',
  timezone      => 'Asia/Shanghai') AS program_id \gset

SELECT loyalty.add_tier('bench', 'silver',      0);
SELECT loyalty.add_tier('bench', 'gold',     3000, 1.5);
SELECT loyalty.add_tier('bench', 'platinum', 9000, 2);

-- Members m1..mN, enrolled in 2025, with birthdays spread over the year
-- (so about 1 in 12 purchases hits the birthday multiplier).  History:
-- :history purchases per member in 2025 (the previous tier window), so the
-- ledger and lots look like a program in production (300k rows each,
-- analyzed) rather than empty tables; members whose 2025 points reach a
-- threshold were upgraded by the crossing purchase and hold gold/platinum
-- until the end of 2026.  None with history = 0.
SELECT setseed(0.42);
INSERT INTO bench_load.member (program, member, joined_at, birthday, ord)
SELECT 'bench', 'm' || g, timestamptz '2025-01-01 00:00+08', date '1970-01-01' + (g * 7919) % 18250, g
FROM generate_series(1, :members) AS g;
INSERT INTO bench_load.op (program, member, seq, at, kind, amount, category, ref)
SELECT 'bench', 'm' || g, k,
       timestamptz '2025-01-01 00:00+08' + (k - 1) * interval '4 months' + random() * interval '119 days',
       'earn', round((10 - ln(1 - random()) * 900)::numeric, 2),
       (ARRAY['food', 'baby', 'home', 'beauty'])[1 + floor(random() * 4)::int], 'h' || k
FROM generate_series(1, :members) AS g, generate_series(1, :history) AS k;
SET client_min_messages = notice;
CALL bench_load.load(ARRAY['bench'], :'load');
SET client_min_messages = warning;
TRUNCATE bench_load.member, bench_load.op;
VACUUM (FREEZE, ANALYZE) loyalty.account, loyalty.ledger, loyalty.lot, loyalty.tier_change;

-- 5 active rules: 3 multipliers (weekday, category, birthday month) and a
-- two-step bonus ladder (one group: only the larger qualifying bonus).
SELECT loyalty.add_rule('bench', 'friday',    'multiplier', '{"factor": 2,   "weekdays": [5]}');
SELECT loyalty.add_rule('bench', 'baby',      'multiplier', '{"factor": 1.5, "categories": ["baby"]}');
SELECT loyalty.add_rule('bench', 'birthday',  'multiplier', '{"factor": 2,   "birthday_month": true}');
SELECT loyalty.add_rule('bench', 'ladder_5k', 'bonus', '{"points": 500,  "min_amount": 5000,  "group": "ladder"}');
SELECT loyalty.add_rule('bench', 'ladder_10k','bonus', '{"points": 1200, "min_amount": 10000, "group": "ladder"}');

CREATE SCHEMA bench;

-- The floor: the rows one earn() writes -- a lot, a ledger row pointing at
-- it, and the account UPDATE of the same columns -- with the points already
-- computed by the caller.  No lock/lookup/idempotency/tier/rule work.  Ids
-- as loyalty 0.4 numbers them: the member's own sequence (max + 1).
CREATE FUNCTION bench.earn_floor(p_program integer, p_member text, p_amount numeric,
                                 p_ref text, p_at timestamptz, p_category text,
                                 p_points bigint)
  RETURNS bigint LANGUAGE sql VOLATILE
AS $$
  WITH lot AS (
    INSERT INTO loyalty.lot (program_id, member, id, earned_at, available_at, expires_at,
                             points, remaining, source, ref, amount)
    SELECT p_program, p_member, n.id, p_at, p_at, p_at + interval '3 years',
           p_points, p_points, 'earn', p_ref, p_amount
    FROM (SELECT coalesce(max(id), 0) + 1 AS id FROM loyalty.lot
          WHERE program_id = p_program AND member = p_member) n
    RETURNING id),
  led AS (
    INSERT INTO loyalty.ledger (program_id, member, id, at, kind, points, ref, result, amount,
                                category, event, counterparty, reason, lot_id, qual_at,
                                qual_points, qual_spend, qual_orders, detail)
    SELECT p_program, p_member, n.id, p_at, 'earn', p_points, p_ref, p_points, p_amount,
           p_category, NULL, NULL, NULL, lot.id, p_at,
           p_points, p_amount, 1, jsonb_build_object('base', p_points)
    FROM lot, (SELECT coalesce(max(id), 0) + 1 AS id FROM loyalty.ledger
               WHERE program_id = p_program AND member = p_member) n)
  UPDATE loyalty.account
     SET debt = 0, purchases = purchases + 1, credited = credited + p_points, held = held + p_points,
         last_earn_at = greatest(last_earn_at, p_at),
         last_activity_at = greatest(coalesce(last_activity_at, p_at), p_at),
         tier = tier, tier_since = tier_since, tier_until = tier_until
   WHERE program_id = p_program AND member = p_member
  RETURNING p_points
$$;

SELECT :program_id AS program_id, count(*) AS members FROM loyalty.account;
