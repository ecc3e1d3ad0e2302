-- bench/views_setup.sql — the database of the BI views benchmark (bench.sh
-- views): two programs, :members members, about :per_member ledger rows
-- each, all in 2026, made by bench/loader.sql (load_bulk at the default
-- size: the rows earn() and redeem() write, in time order -- ids and heap
-- order = time, as a production ledger grows -- keys and indexes rebuilt
-- after the load; through the functions for small sizes), then VACUUM
-- (FREEZE, ANALYZE)d.
--
-- Programs (both Asia/Shanghai):
--   north  members m1 .. m<0.6 N>     tier basis points: silver 0, gold 3000 x1.5, platinum 9000 x2;
--                                      expiry fixed 3 years (every lot its own expires_at)
--   south  the other 40%               tier basis spend:  silver 0, gold 5000 x1.2, platinum 20000 x1.5;
--                                      expiry :south_expiry: 'fixed' 3 years (default) or
--                                      'end_of_period' 1 year / year (every 2026 lot
--                                      expires at 2028-01-01 00:00 local)
-- Member g has n_g = per_member - per_member/2 .. per_member + per_member/2
-- rows (mean per_member), spread evenly over 2026 local time with jitter:
--   * purchases: amount 10 + exponential(mean 150) yuan, 4 categories, one
--     lot each; a purchase that crosses a threshold upgrades the member
--     (until 2028-01-01 local) and the later ones earn the tier's multiplier;
--   * every 10th member's last row is a redeem of exactly its first lot's
--     points (earned in the lowest tier: floor(amount)), which spends that
--     lot (first to expire first).
-- Accounts: 3 in 4 joined in 2025, the 4th 10 minutes before its first
-- 2026 purchase.  "Random" numbers are hashes of (member, row, salt): the
-- same data on every run, whatever the plan.
--
-- psql variables: :members, :per_member, :south_expiry (fixed | end_of_period), :load.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
SET work_mem = '1GB';        -- this session only: the loader's sorts and hashes

CREATE EXTENSION loyalty;
\ir loader.sql
CREATE SCHEMA bench;
CREATE TABLE bench.build_log (step text, done_at timestamptz DEFAULT clock_timestamp());
INSERT INTO bench.build_log VALUES ('start');

SELECT loyalty.create_program(
  code          => 'north',
  name          => 'north: points basis',
  expiry        => 'fixed',
  expiry_after  => '3 years',
  timezone      => 'Asia/Shanghai') AS north \gset
SELECT loyalty.add_tier('north', 'silver',      0);
SELECT loyalty.add_tier('north', 'gold',     3000, 1.5);
SELECT loyalty.add_tier('north', 'platinum', 9000, 2);

SELECT loyalty.create_program(
  code          => 'south',
  name          => 'south: spend basis',
  points_per_value => 50,
  expiry        => :'south_expiry',
  expiry_after  => CASE :'south_expiry' WHEN 'fixed' THEN interval '3 years' ELSE interval '1 year' END,
  tier_basis    => 'spend',
  timezone      => 'Asia/Shanghai') AS south \gset
SELECT loyalty.add_tier('south', 'silver',       0);
SELECT loyalty.add_tier('south', 'gold',      5000, 1.2, 40);
SELECT loyalty.add_tier('south', 'platinum', 20000, 1.5, 30);

-- u(x, salt): a uniform number in [0, 1) derived from x.
CREATE FUNCTION bench.u(x bigint, salt bigint) RETURNS float8
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (abs(hashint8extended(x, salt)) % 1000000007) / 1000000007.0::float8 $$;
INSERT INTO bench.build_log VALUES ('programs');

-- the spec: every member's rows
INSERT INTO bench_load.op (program, member, seq, at, kind, amount, category, points, ref)
WITH m AS (
  SELECT g, CASE WHEN g <= 0.6 * :members THEN 'north' ELSE 'south' END AS program,
         greatest(1, :per_member - :per_member / 2 + (g::bigint * 7919) % (2 * (:per_member / 2) + 1))::int AS n
  FROM generate_series(1, :members) AS g),
r AS (
  SELECT m.g, m.program, m.n, k,
         CASE WHEN m.g % 10 = 0 AND k = m.n AND m.n > 1 THEN 'redeem' ELSE 'earn' END AS kind,
         timestamptz '2026-01-01 00:00+08'
           + ((k - 1) + bench.u(m.g * 64 + k, 1)) / m.n * interval '365 days' AS at,
         round((10 - ln(1 - bench.u(m.g * 64 + k, 2)) * 150)::numeric, 2) AS amount,
         (ARRAY['food', 'baby', 'home', 'beauty'])[1 + floor(bench.u(m.g * 64 + k, 3) * 4)::int] AS category
  FROM m, generate_series(1, m.n) AS k)
SELECT program, 'm' || g, k, at, kind,
       CASE WHEN kind = 'earn' THEN amount END, CASE WHEN kind = 'earn' THEN category END,
       -- the redeem takes exactly the points of the member's first lot
       CASE WHEN kind = 'redeem'
            THEN floor(round((10 - ln(1 - bench.u(g * 64 + 1, 2)) * 150)::numeric, 2))::bigint END,
       CASE WHEN kind = 'earn' THEN 'o' || g || '-' || k ELSE 'r' || g END
FROM r;
INSERT INTO bench_load.member (program, member, joined_at, birthday, ord)
SELECT o.program, o.member,
       CASE WHEN g % 4 = 0 THEN o.first_at - interval '10 minutes'
            ELSE timestamptz '2025-01-01 00:00+08' + bench.u(g, 4) * interval '364 days' END,
       date '1970-01-01' + ((g::bigint * 7919) % 18250)::int, g
FROM (SELECT program, member, substr(member, 2)::bigint AS g, min(at) AS first_at
      FROM bench_load.op GROUP BY program, member) o;
INSERT INTO bench.build_log VALUES ('spec (bench_load.member, bench_load.op)');

SET client_min_messages = notice;
CALL bench_load.load(ARRAY['north', 'south'], :'load');
SET client_min_messages = warning;
INSERT INTO bench.build_log VALUES ('load (bench_load.load, verify() included)');
TRUNCATE bench_load.member, bench_load.op;

VACUUM (FREEZE, ANALYZE) loyalty.account, loyalty.lot, loyalty.ledger, loyalty.tier_change,
                         loyalty.program, loyalty.tier;
INSERT INTO bench.build_log VALUES ('VACUUM (FREEZE, ANALYZE)');
CHECKPOINT;
INSERT INTO bench.build_log VALUES ('CHECKPOINT');
