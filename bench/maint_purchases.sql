-- bench/maint_purchases.sql — the end of both maintenance templates
-- (\ir'd by maint_expire_setup.sql and maint_tiers_setup.sql): every row of
-- bench.hist becomes one purchase as earn() writes it (src/lots.c
-- credit_write: a lot, an 'earn' ledger row pointing at it), in id (= time)
-- order; then the sequences, the indexes, VACUUM (FREEZE, ANALYZE).
INSERT INTO loyalty.lot (program_id, member, id, earned_at, available_at, expires_at,
                         points, remaining, source, ref, amount)
SELECT :program_id, member, id, at, at, at + interval '3 years',
       floor(amount)::bigint, floor(amount)::bigint, 'earn', 'o' || g || '-' || k, amount
FROM bench.hist ORDER BY id;

INSERT INTO loyalty.ledger (program_id, member, id, at, kind, points, ref, result, amount,
                            category, lot_id, qual_at, qual_points, qual_spend, qual_orders,
                            detail)
SELECT :program_id, member, id, at, 'earn', floor(amount)::bigint, 'o' || g || '-' || k,
       floor(amount)::bigint, amount, 'food', id, at, floor(amount)::bigint, amount, 1,
       jsonb_build_object('base', floor(amount)::bigint)
FROM bench.hist ORDER BY id;

SELECT setval(pg_get_serial_sequence('loyalty.lot', 'id'), max(id)),
       setval(pg_get_serial_sequence('loyalty.ledger', 'id'), max(id))
FROM bench.hist \gset
DROP TABLE bench.hist;
SELECT bench.restore_indexes();

VACUUM (FREEZE, ANALYZE) loyalty.account, loyalty.lot, loyalty.ledger, loyalty.tier_change;
