-- bench/maint_expire_setup.sql — template database for the expire_points
-- benchmark (bench.sh maintenance builds it in a fresh database that then
-- serves as the TEMPLATE of every timed run).
--
-- Program 'bench' (maint_program.sql).  Members m1..mN, joined 2021-12-01,
-- each with
--   :lots  purchases in 2022 -> lots that expired during 2025 (the work), and
--   :live  purchases in 2025 -> lots expiring in 2028 (must be left alone),
-- made by bench/loader.sql (through loyalty.earn, or load_bulk's identical
-- rows for large sizes).  Amounts are 10..590 yuan, so no member's yearly
-- points reach 3000 and every member is still silver with no tier history.
-- Lots and ledger are in time order in the heap, as years of earn() leave
-- them (:layout 'time'; 'member' clusters them by member), accounts in
-- enrolment order.  Then VACUUM FREEZE ANALYZE, so every copy starts with
-- set hint bits, a visibility map and planner statistics.
--
-- psql variables: :members, :lots, :live, :layout (time | member), :load.
\ir maint_program.sql
INSERT INTO bench_load.member (program, member, joined_at, birthday, ord)
SELECT 'bench', 'm' || g, timestamptz '2021-12-01 00:00', date '1970-01-01' + ((g::bigint * 7919) % 18250)::int, g
FROM generate_series(1, :members) AS g;
-- k = 1..:lots: 2022 purchases (expired by 2026); the rest: 2025 purchases.
INSERT INTO bench_load.op (program, member, seq, at, kind, amount, category, ref)
SELECT 'bench', 'm' || g, k,
       CASE WHEN k <= :lots
            THEN timestamptz '2022-01-01 00:00' + ((k - 1) * 73 + random() * 72) * interval '1 day'
            ELSE timestamptz '2025-01-01 00:00' + ((k - :lots - 1) * 30 + random() * 29) * interval '1 day'
       END,
       'earn', round((10 + random() * 580)::numeric, 2), 'food', 'o' || g || '-' || k
FROM generate_series(1, :members) AS g, generate_series(1, :lots + :live) AS k;
SET client_min_messages = notice;
CALL bench_load.load(ARRAY['bench'], :'load', :'layout');
SET client_min_messages = warning;
TRUNCATE bench_load.member, bench_load.op;
VACUUM (FREEZE, ANALYZE) loyalty.account, loyalty.lot, loyalty.ledger, loyalty.tier_change;
