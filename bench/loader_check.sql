-- bench/loader_check.sql — the loader's two ways give the same data
-- (bench.sh check).  One small data set is described for two pairs of
-- programs with identical settings; one program of each pair is loaded by
-- bench_load.load_bulk (first, into empty tables: the index drop/rebuild
-- path), the other by bench_load.load_calls (loyalty.enroll / earn /
-- redeem).  Then every row of account, lot, ledger and tier_change must be
-- equal between the two (program_id and created_at aside), balance() and
-- tier_of() must agree for every member, and verify() must be empty.
--   pts_*    points basis, calendar year, fixed expiry 3 years, tiers with
--            multipliers (1.5, 2), rounding floor, a max_multiplier
--   spend_*  spend basis, end_of_period 1 year / year, rounding round,
--            points_per_unit 3 per 2 units, tiers 1.2 / 1.5
--   short_*  no tiers, fixed expiry 200 days (redeems skip expired lots),
--            rounding ceil, America/New_York (DST)
-- Members c1..c400 with 1..12 ops each over 2025-2026, amounts exponential
-- (mean 900; some 0-point ones), every 5th member's last op a redeem of part
-- of its balance at that time (what the lots usable then hold).
-- psql variables: none.  Raises (and stops psql) on any difference.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET TimeZone = 'Asia/Shanghai';

SELECT loyalty.create_program(code => c, expiry => 'fixed', expiry_after => '3 years',
                              max_multiplier => 1.8, timezone => 'Asia/Shanghai') > 0 AS ok
FROM unnest(ARRAY['pts_bulk', 'pts_calls']) c;
SELECT loyalty.create_program(code => c, expiry => 'end_of_period', expiry_after => '1 year',
                              expiry_period => 'year', rounding => 'round', points_per_unit => 3,
                              unit => 2, tier_basis => 'spend', timezone => 'Asia/Shanghai') > 0 AS ok
FROM unnest(ARRAY['spend_bulk', 'spend_calls']) c;
SELECT loyalty.create_program(code => c, expiry => 'fixed', expiry_after => '200 days',
                              rounding => 'ceil', timezone => 'America/New_York') > 0 AS ok
FROM unnest(ARRAY['short_bulk', 'short_calls']) c;
SELECT count(*) AS tiers FROM (
  SELECT loyalty.add_tier(c, 'silver', 0), loyalty.add_tier(c, 'gold', 3000, 1.5),
         loyalty.add_tier(c, 'platinum', 9000, 2)
  FROM unnest(ARRAY['pts_bulk', 'pts_calls']) c
  UNION ALL
  SELECT loyalty.add_tier(c, 'silver', 0), loyalty.add_tier(c, 'gold', 5000, 1.2),
         loyalty.add_tier(c, 'platinum', 20000, 1.5)
  FROM unnest(ARRAY['spend_bulk', 'spend_calls']) c) s;

SELECT setseed(0.17);
CREATE TEMP TABLE spec_member AS
SELECT 'c' || g AS member, g,
       timestamptz '2025-01-01 00:00' + random() * interval '30 days' AS joined_at,
       CASE WHEN g % 3 > 0 THEN date '1970-01-01' + (g * 7919) % 18250 END AS birthday,
       1 + floor(random() * 12)::int AS n
FROM generate_series(1, 400) g;
CREATE TEMP TABLE spec_op AS
SELECT m.member, k AS seq,
       m.joined_at + interval '31 days' + (k - 1) * (interval '660 days' / m.n)
         + random() * (interval '600 days' / m.n) AS at,
       CASE WHEN random() < 0.03 THEN 0.40 ELSE round((1 - ln(1 - random()) * 900)::numeric, 2) END AS amount,
       (ARRAY['food', 'baby', NULL, 'home'])[1 + floor(random() * 4)::int] AS category,
       m.g % 5 = 0 AND k = m.n AND k > 1 AS is_redeem
FROM spec_member m, generate_series(1, m.n) k;

INSERT INTO bench_load.member (program, member, joined_at, birthday, ord)
SELECT c, member, joined_at, birthday, g
FROM spec_member, unnest(ARRAY['pts_bulk', 'pts_calls', 'spend_bulk', 'spend_calls', 'short_bulk', 'short_calls']) c;
INSERT INTO bench_load.op (program, member, seq, at, kind, amount, category, ref)
SELECT c, member, seq, at, 'earn', amount, category, 'o-' || member || '-' || seq
FROM spec_op, unnest(ARRAY['pts_bulk', 'pts_calls', 'spend_bulk', 'spend_calls', 'short_bulk', 'short_calls']) c
WHERE NOT is_redeem;

-- the redeems: a third of what the member's lots usable at that time hold,
-- at least 1 point (a member whose lots hold nothing then does not redeem).
-- The points depend on the tiers, so they are read from a first bulk load
-- of the earns, rolled back.
CREATE TEMP TABLE spec_redeem (program text, member text, seq int, at timestamptz, points bigint);
DO $$
DECLARE rs spec_redeem[];
BEGIN
  BEGIN
    PERFORM bench_load.load_bulk(ARRAY['pts_bulk', 'spend_bulk', 'short_bulk']);
    SELECT array_agg(ROW(c.program, r.member, r.seq, r.at,
             (SELECT sum(l.points) / 3 FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
               WHERE p.code = c.program AND l.member = r.member AND l.earned_at <= r.at
                 AND (l.expires_at IS NULL OR l.expires_at > r.at)))::spec_redeem)
      INTO rs
      FROM spec_op r, (VALUES ('pts_bulk'), ('spend_bulk'), ('short_bulk')) c(program) WHERE r.is_redeem;
    RAISE EXCEPTION USING ERRCODE = 'P0099', MESSAGE = 'roll back';
  EXCEPTION WHEN SQLSTATE 'P0099' THEN
    NULL;
  END;
  INSERT INTO spec_redeem SELECT * FROM unnest(rs);
END $$;
INSERT INTO bench_load.op (program, member, seq, at, kind, points, ref)
SELECT c, r.member, r.seq, r.at, 'redeem', r.points, 'r-' || r.member
FROM spec_redeem r, unnest(ARRAY[r.program, replace(r.program, '_bulk', '_calls')]) c
WHERE r.points > 0;

SELECT format('spec: %s members, %s ops (%s redeems) per program',
              count(DISTINCT member), count(*), count(*) FILTER (WHERE kind = 'redeem'))
FROM bench_load.op WHERE program = 'pts_bulk' \gset
\echo :format

SELECT bench_load.load_bulk(ARRAY['pts_bulk', 'spend_bulk', 'short_bulk']) AS bulk_ops;
CALL bench_load.load_calls('pts_calls');
CALL bench_load.load_calls('spend_calls');
CALL bench_load.load_calls('short_calls');

-- every row equal between the two programs of a pair
CREATE TEMP VIEW row_diff AS
WITH pr AS (SELECT id, code, split_part(code, '_', 1) AS pair, split_part(code, '_', 2) AS how
            FROM loyalty.program),
t AS (
  SELECT 'account' AS tbl, pr.pair, pr.how, to_jsonb(a) - 'program_id' AS r
  FROM loyalty.account a JOIN pr ON pr.id = a.program_id
  UNION ALL
  SELECT 'lot', pr.pair, pr.how, to_jsonb(l) - 'program_id' FROM loyalty.lot l JOIN pr ON pr.id = l.program_id
  UNION ALL
  SELECT 'ledger', pr.pair, pr.how, to_jsonb(e) - 'program_id' - 'created_at'
  FROM loyalty.ledger e JOIN pr ON pr.id = e.program_id
  UNION ALL
  SELECT 'tier_change', pr.pair, pr.how, to_jsonb(c) - 'program_id'
  FROM loyalty.tier_change c JOIN pr ON pr.id = c.program_id)
SELECT tbl, pair, r, count(*) FILTER (WHERE how = 'bulk') AS bulk, count(*) FILTER (WHERE how = 'calls') AS calls
FROM t GROUP BY tbl, pair, r
HAVING count(*) FILTER (WHERE how = 'bulk') <> count(*) FILTER (WHERE how = 'calls');

\pset footer off
SELECT pr.code AS program, count(DISTINCT a.member) AS members,
       (SELECT count(*) FROM loyalty.lot l WHERE l.program_id = pr.id) AS lots,
       (SELECT count(*) FROM loyalty.ledger l WHERE l.program_id = pr.id) AS ledger,
       (SELECT count(*) FROM loyalty.tier_change l WHERE l.program_id = pr.id) AS tier_changes,
       string_agg(DISTINCT a.tier, ',') AS tiers, sum(a.held) AS held
FROM loyalty.program pr JOIN loyalty.account a ON a.program_id = pr.id
GROUP BY pr.id, pr.code ORDER BY pr.code;
SELECT tbl, pair, r, bulk, calls FROM row_diff ORDER BY tbl, pair, r::text LIMIT 10;

SELECT (SELECT count(*) FROM row_diff) AS rows_differing,
       (SELECT count(*) FROM loyalty.verify()) AS verify_problems,
       (SELECT count(*) FROM (
          SELECT pair, member, balance, tier FROM (
            SELECT split_part(p.code, '_', 1) AS pair, a.member,
                   loyalty.balance(p.code, a.member, '2027-06-01 00:00+08') AS balance,
                   loyalty.tier_of(p.code, a.member, '2026-12-31 00:00+08') AS tier,
                   split_part(p.code, '_', 2) AS how
            FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id) s
          GROUP BY pair, member, balance, tier HAVING count(*) <> 2) d) AS balances_or_tiers_differing
\gset
\echo 'loader check: rows differing' :rows_differing ', verify() problems' :verify_problems ', members whose balance or tier differ' :balances_or_tiers_differing
SELECT :rows_differing + :verify_problems + :balances_or_tiers_differing = 0 AS ok \gset
\if :ok
\echo 'loader check: OK (load_bulk wrote exactly what the functions write)'
\else
DO $$ BEGIN RAISE EXCEPTION 'loader check failed'; END $$;
\endif
