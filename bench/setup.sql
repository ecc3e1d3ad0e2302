-- bench/setup.sql — one-time setup of the benchmark database (run by run.sh).
--
-- Creates the extension, one program with 3 tiers and 5 active earning
-- rules, enrols 100k members (via loyalty.enroll), gives them a 2025
-- purchase history, keeps pristine copies of the member tables for
-- reset.sql, and defines the "floor": a plain LANGUAGE sql function writing
-- the same rows as one earn.
--
-- psql variables: :members (members to enrol), :history (past purchases per member).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET bench.members = :members;
SET bench.history = :history;

CREATE EXTENSION loyalty;

SELECT loyalty.create_program(
  code          => 'bench',
  name          => 'pgbench program',
  expiry        => 'fixed',
  expiry_after  => '3 years',
  timezone      => 'Asia/Shanghai') AS program_id \gset

SELECT loyalty.add_tier('bench', 'silver',      0);
SELECT loyalty.add_tier('bench', 'gold',     3000, 1.5);
SELECT loyalty.add_tier('bench', 'platinum', 9000, 2);

-- 5 active rules: 3 multipliers (weekday, category, birthday month) and a
-- two-step bonus ladder (one group: only the larger qualifying bonus).
SELECT loyalty.add_rule('bench', 'friday',    'multiplier', '{"factor": 2,   "weekdays": [5]}');
SELECT loyalty.add_rule('bench', 'baby',      'multiplier', '{"factor": 1.5, "categories": ["baby"]}');
SELECT loyalty.add_rule('bench', 'birthday',  'multiplier', '{"factor": 2,   "birthday_month": true}');
SELECT loyalty.add_rule('bench', 'ladder_5k', 'bonus', '{"points": 500,  "min_amount": 5000,  "group": "ladder"}');
SELECT loyalty.add_rule('bench', 'ladder_10k','bonus', '{"points": 1200, "min_amount": 10000, "group": "ladder"}');

-- Members m1..mN, enrolled in 2025, with birthdays spread over the year
-- (so about 1 in 12 purchases hits the birthday multiplier).
DO $$
BEGIN
  PERFORM loyalty.enroll('bench', 'm' || g, timestamptz '2025-01-01 00:00+08',
                         date '1970-01-01' + (g * 7919) % 18250)
  FROM generate_series(1, current_setting('bench.members')::int) AS g;
END
$$;

CREATE SCHEMA bench;

-- History: 3 purchases per member in 2025 (the previous tier window), so
-- the ledger and lots look like a program in production (300k rows each,
-- analyzed) rather than empty tables.  Written directly with SQL (same
-- columns earn() writes; points = base rate) to keep setup fast; members
-- whose 2025 points reach a threshold hold gold/platinum until the end of
-- 2026, with their tier_change row.  Skipped with history = 0.
SELECT setseed(0.42);
CREATE TABLE bench.hist AS
SELECT row_number() OVER (ORDER BY g, k) AS id, 'm' || g AS member, k,
       timestamptz '2025-01-01 00:00+08'
         + (k - 1) * interval '4 months' + random() * interval '119 days' AS at,
       round((10 - ln(1 - random()) * 900)::numeric, 2) AS amount,
       (ARRAY['food', 'baby', 'home', 'beauty'])[1 + floor(random() * 4)::int] AS category
FROM generate_series(1, current_setting('bench.members')::int) AS g,
     generate_series(1, current_setting('bench.history')::int) AS k;

INSERT INTO loyalty.lot (program_id, member, id, earned_at, available_at, expires_at,
                         points, remaining, source, ref, amount)
SELECT :program_id, member, id, at, at, at + interval '3 years',
       floor(amount)::bigint, floor(amount)::bigint, 'earn', 'h' || k, amount
FROM bench.hist;

INSERT INTO loyalty.ledger (program_id, member, id, at, kind, points, ref, result, amount,
                            category, lot_id, qual_at, qual_points, qual_spend, qual_orders,
                            detail)
SELECT :program_id, member, id, at, 'earn', floor(amount)::bigint, 'h' || k,
       floor(amount)::bigint, amount, category, id, at, floor(amount)::bigint, amount, 1,
       jsonb_build_object('base', floor(amount)::bigint)
FROM bench.hist;

SELECT setval(pg_get_serial_sequence('loyalty.lot', 'id'), greatest(max(id), 1)),
       setval(pg_get_serial_sequence('loyalty.ledger', 'id'), greatest(max(id), 1))
FROM bench.hist \gset

WITH q AS (
  SELECT member, sum(floor(amount)) AS pts, max(at) AS last_at FROM bench.hist GROUP BY member),
t AS (
  SELECT member, last_at, pts,
         CASE WHEN pts >= 9000 THEN 'platinum' WHEN pts >= 3000 THEN 'gold' END AS tier
  FROM q),
up AS (
  UPDATE loyalty.account a
     SET purchases = current_setting('bench.history')::int, last_earn_at = t.last_at,
         credited = t.pts::bigint, held = t.pts::bigint,
         tier = coalesce(t.tier, a.tier),
         tier_since = CASE WHEN t.tier IS NOT NULL THEN t.last_at END,
         tier_until = CASE WHEN t.tier IS NOT NULL THEN timestamptz '2027-01-01 00:00+08' END
    FROM t
   WHERE a.program_id = :program_id AND a.member = t.member
  RETURNING a.member, t.tier, t.last_at)
INSERT INTO loyalty.tier_change (program_id, member, id, at, from_tier, to_tier, reason, valid_until)
SELECT :program_id, member, 1, last_at, 'silver', tier, 'upgrade', timestamptz '2027-01-01 00:00+08'
FROM up WHERE tier IS NOT NULL;

DROP TABLE bench.hist;

-- Pristine copies, loaded back by reset.sql before every phase.
CREATE TABLE bench.account_seed     AS SELECT * FROM loyalty.account;
CREATE TABLE bench.ledger_seed      AS SELECT * FROM loyalty.ledger;
CREATE TABLE bench.lot_seed         AS SELECT * FROM loyalty.lot;
CREATE TABLE bench.tier_change_seed AS SELECT * FROM loyalty.tier_change;

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
         tier = tier, tier_since = tier_since, tier_until = tier_until
   WHERE program_id = p_program AND member = p_member
  RETURNING p_points
$$;

SELECT :program_id AS program_id, count(*) AS members FROM loyalty.account;
