-- bench/maint_expire_setup.sql — template database for the expire_points
-- benchmark (run by maintenance.sh into a fresh database that then serves
-- as the TEMPLATE of every timed run).
--
-- One program 'bench' (1 point per yuan, floor, expiry fixed 3 years,
-- Asia/Shanghai, tiers silver 0 / gold 3000 / platinum 9000, no rules).
-- Members m1..mN, each with
--   :lots  purchases in 2022 -> lots that expired during 2025 (the work), and
--   :live  purchases in 2025 -> lots expiring in 2028 (must be left alone),
-- written straight into account / lot / ledger with exactly the columns
-- loyalty.earn() writes for such a purchase (src/lots.c credit_write: one lot,
-- one 'earn' ledger row pointing at it, the account's purchases and
-- last_earn_at).  Amounts are 10..590 yuan, so no member's yearly points
-- reach 3000 and every member is (correctly) still silver with no tier
-- history.  Then VACUUM FREEZE ANALYZE, so every copy starts with set hint
-- bits, a visibility map and planner statistics.
--
-- psql variables: :members, :lots, :live, :layout (an ORDER BY list).
\ir maint_program.sql
-- k = 1..:lots: 2022 purchases (expired by 2026); the rest: 2025 purchases.
-- Rows get ids, and are inserted, in time order -- as earn() would have
-- written them over the years -- so the heaps are ordered by time, not by
-- member (:layout = 'at, g'; maintenance.sh BENCH_LAYOUT=member passes
-- '''m'' || g, at' to cluster them by member instead); accounts are
-- inserted in enrolment order (m1, m2, ...).
CREATE TABLE bench.hist AS
WITH p AS (
  SELECT g, k,
         CASE WHEN k <= :lots
              THEN timestamptz '2022-01-01 00:00' + ((k - 1) * 73 + random() * 72) * interval '1 day'
              ELSE timestamptz '2025-01-01 00:00' + ((k - :lots - 1) * 30 + random() * 29) * interval '1 day'
         END AS at,
         round((10 + random() * 580)::numeric, 2) AS amount
  FROM generate_series(1, :members) AS g, generate_series(1, :lots + :live) AS k)
SELECT row_number() OVER (ORDER BY :layout) AS id, 'm' || g AS member, g, k, at, amount
FROM p;

SELECT bench.drop_indexes();

INSERT INTO loyalty.account (program_id, member, joined_at, birthday, tier, purchases, last_earn_at,
                             credited, held)
SELECT :program_id, member, timestamptz '2021-12-01 00:00', date '1970-01-01' + ((g::bigint * 7919) % 18250)::int,
       'silver', count(*), max(at), sum(floor(amount))::bigint, sum(floor(amount))::bigint
FROM bench.hist GROUP BY member, g ORDER BY g;

\ir maint_purchases.sql
