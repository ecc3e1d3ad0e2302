-- bench/maint_tiers_setup.sql — template database for the evaluate_tiers
-- benchmark (run by maintenance.sh; every timed run works on a copy).
--
-- One program 'bench' (1 point per yuan, floor, expiry fixed 3 years,
-- Asia/Shanghai, tier basis points / calendar year, downgrade to_qualified,
-- tiers silver 0 / gold 3000 / platinum 9000, multipliers 1, no rules).
-- Members m1..mN (every 10th platinum, the others gold), each:
--   * one 2024 purchase that crossed the tier's threshold: earn() upgraded
--     the member then, so the account holds the tier since that purchase
--     until 2026-01-01 00:00 local (end of the next calendar year) and
--     tier_change has the 'upgrade' row;
--   * :history purchases in 2025 (none for every 7th member), amounts
--     exponential with mean 2000 yuan; a gold member's are capped so its
--     2025 total stays below 9000 (otherwise earn() would have upgraded it
--     during 2025 and it would not be due now).
-- All rows are written straight into account / lot / ledger / tier_change
-- with the columns earn() writes (src/lots.c credit_write, src/tiers.c), in
-- time order (ids and heap order = time).  So at 2026-01-01 every member's
-- tier period has ended; evaluating the 2025 window renews some (gold stays
-- gold, platinum stays platinum) and lowers the rest (to gold or silver).
--
-- psql variables: :members, :history.
\ir maint_program.sql
-- k = 0: the 2024 purchase that made the tier; k >= 1: 2025 purchases.
CREATE TABLE bench.hist AS
WITH m AS (
  SELECT g, CASE WHEN g % 10 = 0 THEN 'platinum' ELSE 'gold' END AS tier
  FROM generate_series(1, :members) AS g),
p AS (
  SELECT g, tier, 0 AS k,
         timestamptz '2024-01-01 00:00' + random() * interval '360 days' AS at,
         round((CASE WHEN tier = 'platinum' THEN 9000 ELSE 3000 END + random() * 5999)::numeric, 2) AS amount
  FROM m
  UNION ALL
  SELECT g, tier, k,
         timestamptz '2025-01-01 00:00' + ((k - 1) * 360.0 / :history + random() * 360.0 / :history) * interval '1 day',
         round(CASE WHEN tier = 'gold' THEN least(1 - ln(1 - random()) * 2000, 8999.0 / :history - 0.01)
                    ELSE 1 - ln(1 - random()) * 2000 END::numeric, 2)
  FROM m, generate_series(1, :history) AS k
  WHERE g % 7 <> 0)
SELECT row_number() OVER (ORDER BY at, g) AS id, 'm' || g AS member, g, tier, k, at, amount
FROM p;

SELECT bench.drop_indexes();

INSERT INTO loyalty.account (program_id, member, joined_at, birthday, tier, tier_since, tier_until,
                             purchases, last_earn_at, credited, held)
SELECT :program_id, member, timestamptz '2023-12-01 00:00', date '1970-01-01' + ((g::bigint * 7919) % 18250)::int,
       tier, min(at), timestamptz '2026-01-01 00:00', count(*), max(at), sum(floor(amount))::bigint,
       sum(floor(amount))::bigint
FROM bench.hist GROUP BY member, g, tier ORDER BY g;

INSERT INTO loyalty.tier_change (program_id, member, at, from_tier, to_tier, reason, valid_until)
SELECT :program_id, member, at, 'silver', tier, 'upgrade', timestamptz '2026-01-01 00:00'
FROM bench.hist WHERE k = 0 ORDER BY id;

\ir maint_purchases.sql
