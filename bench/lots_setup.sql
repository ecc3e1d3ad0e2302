-- bench/lots_setup.sql — members holding many lots (bench.sh lots).
--
-- Two programs: `roll` (rolling expiry, 1 year) and `fix` (fixed, 3 years),
-- no tiers or rules (the cost measured is the lots').  In each, member `big`
-- holds :lots lots and member `small` holds 10, all earned in 2026 before
-- today (one purchase of 10000 yuan a minute from 300 days ago) and alive.
-- Made by bench/loader.sql through loyalty.earn (rolling expiry is not
-- something load_bulk writes; since 0.3.1 an earning costs the same however
-- many lots the member holds, so :lots earnings take seconds).
-- psql variables: :lots.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION loyalty;
\ir loader.sql
SELECT loyalty.create_program('roll', expiry => 'rolling', expiry_after => '1 year', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.create_program('fix',  expiry => 'fixed',   expiry_after => '3 years', timezone => 'Asia/Shanghai') > 0 AS ok;
INSERT INTO bench_load.member (program, member, joined_at)
SELECT p, m, date_trunc('day', now()) - interval '301 days'
FROM unnest(ARRAY['roll', 'fix']) p, unnest(ARRAY['big', 'small']) m;
INSERT INTO bench_load.op (program, member, seq, at, kind, amount, ref)
SELECT p, m, g, date_trunc('day', now()) - interval '300 days' + g * interval '1 minute', 'earn', 10000,
       m || '-' || g
FROM unnest(ARRAY['roll', 'fix']) p, unnest(ARRAY['big', 'small']) m,
     generate_series(1, CASE m WHEN 'big' THEN :lots ELSE 10 END) g;
CALL bench_load.load_calls('roll');
CALL bench_load.load_calls('fix');
TRUNCATE bench_load.member, bench_load.op;
VACUUM (FREEZE, ANALYZE) loyalty.lot, loyalty.ledger, loyalty.account;
SELECT format('   %s: %s', p.code, string_agg(format('%s holds %s lots', l.member, l.n), ', ' ORDER BY l.member))
FROM (SELECT program_id, member, count(*) AS n FROM loyalty.lot GROUP BY 1, 2) l
JOIN loyalty.program p ON p.id = l.program_id GROUP BY p.code ORDER BY p.code;
SELECT format('   verify(): %s problems', count(*)) FROM loyalty.verify();
