-- bench/views_setup.sql — the database of the BI views benchmark (run by
-- views.sh): two programs, :members members, about :per_member ledger rows
-- each, all in 2026, written straight into account / lot / ledger /
-- tier_change with the columns earn() and redeem() write (src/lots.c
-- credit_write and ledger_write), in time order (ids and heap order = time,
-- as a production ledger grows), then indexed, VACUUM (FREEZE, ANALYZE)d.
--
-- Programs (both Asia/Shanghai):
--   north  members m1 .. m<0.6 N>     tier basis points: silver 0, gold 3000, platinum 9000;
--                                      expiry fixed 3 years (every lot its own expires_at)
--   south  the other 40%               tier basis spend:  silver 0, gold 5000, platinum 20000;
--                                      expiry :south_expiry: 'fixed' 3 years (default) or
--                                      'end_of_period' 1 year / year (every 2026 lot
--                                      expires at 2028-01-01 00:00 local)
-- Member g has n_g = per_member - per_member/2 .. per_member + per_member/2
-- rows (mean per_member), spread evenly over 2026 local time with jitter:
--   * purchases: amount 10 + exponential(mean 150) yuan, points = floor(amount)
--     (base rate; no rules, no tier multipliers), 4 categories, one lot each;
--   * every 10th member's last row is a redeem of exactly its first lot's
--     points (that lot's remaining = 0), so loyalty.verify() stays clean.
-- Accounts: 3 in 4 joined in 2025, the 4th joined 10 minutes before its
-- first 2026 purchase; purchases / last_earn_at match; members whose 2026
-- basis reaches a threshold hold gold/platinum (since their last purchase,
-- until 2028-01-01 local) with their 'upgrade' tier_change row.
-- "Random" numbers are hashes of (member, row, salt): the same data on
-- every run, whatever the plan.
--
-- Indexes: the extension's primary keys and indexes of the member tables
-- are dropped before the load and rebuilt afterwards with their exact
-- definitions (sorted builds: minutes instead of the tens of minutes of
-- 20M random-order btree insertions through 128MB of shared_buffers).
-- Indexes are not members of the extension, so the schema ends up identical;
-- the rebuilt btrees are denser than ones grown by inserts (no half-empty
-- pages from splits).
--
-- psql variables: :members, :per_member, :south_expiry (fixed | end_of_period).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
SET work_mem = '1GB';        -- this session only: the generating sort and the per-member hash

CREATE EXTENSION loyalty;
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

-- Drop the member tables' keys and indexes, remembering their definitions.
CREATE TABLE bench.saved_index (ord serial, tbl regclass, name text, is_pkey boolean, def text);
INSERT INTO bench.saved_index (tbl, name, is_pkey, def)
SELECT i.indrelid::regclass, c.relname, i.indisprimary,
       CASE WHEN i.indisprimary
            THEN pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conindid = i.indexrelid))
            ELSE pg_get_indexdef(i.indexrelid) END
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN ('loyalty.account'::regclass, 'loyalty.lot'::regclass,
                     'loyalty.ledger'::regclass, 'loyalty.tier_change'::regclass)
ORDER BY i.indrelid, c.relname;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM bench.saved_index ORDER BY ord LOOP
    IF r.is_pkey THEN
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.name);
    ELSE
      EXECUTE format('DROP INDEX loyalty.%I', r.name);
    END IF;
  END LOOP;
END $$;
INSERT INTO bench.build_log VALUES ('programs, drop indexes');

-- One row per ledger row, in time order (id = position in time).
CREATE UNLOGGED TABLE bench.hist AS
WITH m AS (
  SELECT g, CASE WHEN g <= 0.6 * :members THEN :north ELSE :south END AS program_id,
         greatest(1, :per_member - :per_member / 2 + (g::bigint * 7919) % (2 * (:per_member / 2) + 1))::int AS n
  FROM generate_series(1, :members) AS g),
r AS (
  SELECT m.g, m.program_id, m.n, k,
         CASE WHEN m.g % 10 = 0 AND k = m.n AND m.n > 1 THEN 'redeem' ELSE 'earn' END AS kind,
         timestamptz '2026-01-01 00:00+08'
           + ((k - 1) + bench.u(m.g * 64 + k, 1)) / m.n * interval '365 days' AS at,
         round((10 - ln(1 - bench.u(m.g * 64 + k, 2)) * 150)::numeric, 2) AS amount,
         (ARRAY['food', 'baby', 'home', 'beauty'])[1 + floor(bench.u(m.g * 64 + k, 3) * 4)::int] AS category
  FROM m, generate_series(1, m.n) AS k)
SELECT row_number() OVER (ORDER BY at, g, k) AS id, program_id, 'm' || g AS member, g, n, k, kind,
       at, amount, floor(amount)::bigint AS points, category,
       -- the redeem takes exactly the points of the member's first lot
       CASE WHEN kind = 'redeem'
            THEN floor(round((10 - ln(1 - bench.u(g * 64 + 1, 2)) * 150)::numeric, 2))::bigint END AS redeemed
FROM r;
INSERT INTO bench.build_log VALUES ('generate (bench.hist, sorted by time)');

-- Per-member figures (accounts, tiers, redeem results).
CREATE UNLOGGED TABLE bench.agg AS
SELECT s.*, 'm' || s.g AS member,
       CASE WHEN program_id = :north
            THEN CASE WHEN earned >= 9000 THEN 'platinum' WHEN earned >= 3000 THEN 'gold' END
            ELSE CASE WHEN spent >= 20000 THEN 'platinum' WHEN spent >= 5000 THEN 'gold' END END AS tier
FROM (SELECT h.g, h.program_id,
             count(*) FILTER (WHERE kind = 'earn') AS purchases,
             min(at) AS first_at,
             max(at) FILTER (WHERE kind = 'earn') AS last_earn_at,
             sum(points) FILTER (WHERE kind = 'earn') AS earned,
             sum(amount) FILTER (WHERE kind = 'earn') AS spent,
             coalesce(sum(redeemed), 0) AS redeemed
      FROM bench.hist h GROUP BY h.g, h.program_id) s;
INSERT INTO bench.build_log VALUES ('per-member aggregates (bench.agg)');

INSERT INTO loyalty.account (program_id, member, joined_at, birthday, tier, tier_since, tier_until,
                             purchases, last_earn_at, credited)
SELECT program_id, member,
       CASE WHEN g % 4 = 0 THEN first_at - interval '10 minutes'
            ELSE timestamptz '2025-01-01 00:00+08' + bench.u(g, 4) * interval '364 days' END,
       date '1970-01-01' + ((g::bigint * 7919) % 18250)::int,
       tier, CASE WHEN tier IS NOT NULL THEN last_earn_at END,
       CASE WHEN tier IS NOT NULL THEN timestamptz '2028-01-01 00:00+08' END,
       purchases, last_earn_at, coalesce(earned, 0)
FROM bench.agg ORDER BY g;
INSERT INTO loyalty.tier_change (program_id, member, at, from_tier, to_tier, reason, valid_until)
SELECT program_id, member, last_earn_at, 'silver', tier, 'upgrade', timestamptz '2028-01-01 00:00+08'
FROM bench.agg WHERE tier IS NOT NULL ORDER BY last_earn_at, g;
INSERT INTO bench.build_log VALUES ('account, tier_change');

INSERT INTO loyalty.lot (program_id, member, id, earned_at, available_at, expires_at,
                         points, remaining, source, ref, amount)
SELECT program_id, member, id, at, at,
       CASE WHEN program_id = :south AND :'south_expiry' = 'end_of_period'
            THEN (date_trunc('year', at AT TIME ZONE 'Asia/Shanghai') + interval '2 years') AT TIME ZONE 'Asia/Shanghai'
            ELSE at + interval '3 years' END,
       points, CASE WHEN k = 1 AND g % 10 = 0 AND n > 1 THEN 0 ELSE points END,
       'earn', 'o' || g || '-' || k, amount
FROM bench.hist WHERE kind = 'earn';
INSERT INTO bench.build_log VALUES ('lot');

CREATE UNIQUE INDEX ON bench.agg (g);
INSERT INTO loyalty.ledger (program_id, member, id, at, kind, points, ref, result, amount,
                            category, lot_id, qual_at, qual_points, qual_spend, qual_orders,
                            detail)
SELECT h.program_id, h.member, h.id, h.at, h.kind,
       CASE h.kind WHEN 'earn' THEN h.points ELSE -h.redeemed END,
       CASE h.kind WHEN 'earn' THEN 'o' || h.g || '-' || h.k ELSE 'r' || h.g END,
       -- a redeem returns the available balance after it
       CASE h.kind WHEN 'earn' THEN h.points
            ELSE (SELECT a.earned - a.redeemed FROM bench.agg a WHERE a.g = h.g) END,
       CASE h.kind WHEN 'earn' THEN h.amount END,
       CASE h.kind WHEN 'earn' THEN h.category END,
       CASE h.kind WHEN 'earn' THEN h.id END,
       CASE h.kind WHEN 'earn' THEN h.at END,
       CASE h.kind WHEN 'earn' THEN h.points ELSE 0 END,
       CASE h.kind WHEN 'earn' THEN h.amount ELSE 0 END,
       CASE h.kind WHEN 'earn' THEN 1 ELSE 0 END,
       CASE h.kind WHEN 'earn' THEN jsonb_build_object('base', h.points) END
FROM bench.hist h;
INSERT INTO bench.build_log VALUES ('ledger');

-- account.held: the points still in the member's lots (0.3.1)
UPDATE loyalty.account a SET held = s.held
FROM (SELECT program_id, member, sum(remaining)::bigint AS held FROM loyalty.lot
      WHERE remaining > 0 GROUP BY program_id, member) s
WHERE a.program_id = s.program_id AND a.member = s.member;
INSERT INTO bench.build_log VALUES ('account.held');

SELECT setval(pg_get_serial_sequence('loyalty.lot', 'id'), max(id)),
       setval(pg_get_serial_sequence('loyalty.ledger', 'id'), max(id))
FROM bench.hist \gset
DROP TABLE bench.hist;
DROP TABLE bench.agg;

DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM bench.saved_index ORDER BY ord LOOP
    IF r.is_pkey THEN
      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.tbl, r.name, r.def);
    ELSE
      EXECUTE r.def;
    END IF;
  END LOOP;
END $$;
INSERT INTO bench.build_log VALUES ('rebuild keys and indexes');

VACUUM (FREEZE, ANALYZE) loyalty.account, loyalty.lot, loyalty.ledger, loyalty.tier_change,
                         loyalty.program, loyalty.tier;
INSERT INTO bench.build_log VALUES ('VACUUM (FREEZE, ANALYZE)');
CHECKPOINT;
INSERT INTO bench.build_log VALUES ('CHECKPOINT');
