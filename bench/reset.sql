-- bench/reset.sql — put the tables back to the state right after setup
-- (enrolled members with their 2025 history, no 2026 purchases), so every
-- phase starts from the same data, freshly vacuumed and analyzed.
-- The ledger and tier history are append-only; a superuser may empty them
-- with loyalty.maintenance = on (see src/guard.c).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
LOAD 'loyalty';
SET loyalty.maintenance = on;
TRUNCATE loyalty.ledger, loyalty.lot, loyalty.tier_change, loyalty.streak, loyalty.account;
INSERT INTO loyalty.account     SELECT * FROM bench.account_seed;
INSERT INTO loyalty.lot         SELECT * FROM bench.lot_seed;
INSERT INTO loyalty.ledger      SELECT * FROM bench.ledger_seed;
INSERT INTO loyalty.tier_change SELECT * FROM bench.tier_change_seed;
VACUUM ANALYZE loyalty.account, loyalty.ledger, loyalty.lot, loyalty.tier_change;
CHECKPOINT;
