-- bench/maint_tiers_setup.sql — template database for the evaluate_tiers
-- benchmark (bench.sh maintenance; every timed run works on a copy).
--
-- Program 'bench' (maint_program.sql: tier basis points / calendar year,
-- downgrade to_qualified, silver 0 / gold 3000 / platinum 9000, multipliers
-- 1, no rules).  Members m1..mN (every 10th platinum, the others gold),
-- joined 2023-12-01, each:
--   * one 2024 purchase that crosses the tier's threshold: earn() upgrades
--     the member then, so the account holds the tier since that purchase
--     until 2026-01-01 00:00 local (end of the next calendar year) and
--     tier_change has the 'upgrade' row;
--   * :history purchases in 2025 (none for every 7th member), amounts
--     exponential with mean 2000 yuan; a gold member's are capped so its
--     2025 total stays below 9000 (otherwise earn() would upgrade it during
--     2025 and it would not be due now).
-- Made by bench/loader.sql (through loyalty.earn, or load_bulk's identical
-- rows), heap in time order.  So at 2026-01-01 every member's tier period
-- has ended; evaluating the 2025 window renews some (gold stays gold,
-- platinum stays platinum) and lowers the rest (to gold or silver).
--
-- psql variables: :members, :history, :load.
\ir maint_program.sql
INSERT INTO bench_load.member (program, member, joined_at, birthday, ord)
SELECT 'bench', 'm' || g, timestamptz '2023-12-01 00:00', date '1970-01-01' + ((g::bigint * 7919) % 18250)::int, g
FROM generate_series(1, :members) AS g;
-- k = 0 (seq 1): the 2024 purchase that makes the tier; k >= 1: 2025 purchases.
INSERT INTO bench_load.op (program, member, seq, at, kind, amount, category, ref)
SELECT 'bench', 'm' || g, k + 1, at, 'earn', amount, 'food', 'o' || g || '-' || k
FROM (
  SELECT g, 0 AS k,
         timestamptz '2024-01-01 00:00' + random() * interval '360 days' AS at,
         round((CASE WHEN g % 10 = 0 THEN 9000 ELSE 3000 END + random() * 5999)::numeric, 2) AS amount
  FROM generate_series(1, :members) AS g
  UNION ALL
  SELECT g, k,
         timestamptz '2025-01-01 00:00' + ((k - 1) * 360.0 / :history + random() * 360.0 / :history) * interval '1 day',
         round(CASE WHEN g % 10 <> 0 THEN least(1 - ln(1 - random()) * 2000, 8999.0 / :history - 0.01)
                    ELSE 1 - ln(1 - random()) * 2000 END::numeric, 2)
  FROM generate_series(1, :members) AS g, generate_series(1, :history) AS k
  WHERE g % 7 <> 0) p;
SET client_min_messages = notice;
CALL bench_load.load(ARRAY['bench'], :'load');
SET client_min_messages = warning;
TRUNCATE bench_load.member, bench_load.op;
VACUUM (FREEZE, ANALYZE) loyalty.account, loyalty.lot, loyalty.ledger, loyalty.tier_change;
