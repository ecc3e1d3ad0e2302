-- bench/lots_setup.sql — members holding many lots (run by lots.sh).
--
-- Two programs: `roll` (rolling expiry, 1 year) and `fix` (fixed, 3 years),
-- no tiers or rules (the cost measured is the lots').  In each, member `big`
-- holds :lots lots and member `small` holds 10, all earned in 2026 before
-- today and alive.  The first 10 purchases of each member go through earn();
-- the rest of big's are copies of its 10th written straight into lot and
-- ledger (as a member would after :lots purchases; earning them one by one
-- would take the old rolling code hours), with account.credited, held and
-- purchases matching, so verify() stays empty.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION loyalty;
SELECT loyalty.create_program('roll', expiry => 'rolling', expiry_after => '1 year', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.create_program('fix',  expiry => 'fixed',   expiry_after => '3 years', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.earn(p, m, 10000, m || '-' || g, date_trunc('day', now()) - interval '300 days' + g * interval '1 minute')
FROM unnest(ARRAY['roll', 'fix']) p, unnest(ARRAY['big', 'small']) m, generate_series(1, 10) g
ORDER BY p, m, g;
WITH src AS (
  SELECT l.*, g FROM loyalty.lot l, generate_series(11, :lots) g
  WHERE l.member = 'big' AND l.ref = 'big-10'),
new_lot AS (
  INSERT INTO loyalty.lot (program_id, member, earned_at, available_at, expires_at, points, remaining,
                           source, ref, amount, rolls)
  SELECT program_id, member, earned_at + (g - 10) * interval '1 second', available_at + (g - 10) * interval '1 second',
         expires_at, points, remaining, source, 'big-' || g, amount, rolls FROM src
  RETURNING program_id, member, id, earned_at, points, ref, amount)
INSERT INTO loyalty.ledger (program_id, member, at, kind, points, ref, result, amount, lot_id,
                            qual_at, qual_points, qual_spend, qual_orders)
SELECT program_id, member, earned_at, 'purchase', points, ref, points, amount, id,
       earned_at, points, amount, 1 FROM new_lot;
UPDATE loyalty.account a SET credited = s.pts, held = s.held, purchases = s.n
FROM (SELECT program_id, member, sum(points) AS pts, sum(remaining) AS held, count(*) AS n
      FROM loyalty.lot GROUP BY 1, 2) s
WHERE a.program_id = s.program_id AND a.member = s.member;
VACUUM ANALYZE loyalty.lot, loyalty.ledger, loyalty.account;
SELECT format('   %s: %s', p.code, string_agg(format('%s holds %s lots', l.member, l.n), ', ' ORDER BY l.member))
FROM (SELECT program_id, member, count(*) AS n FROM loyalty.lot GROUP BY 1, 2) l
JOIN loyalty.program p ON p.id = l.program_id GROUP BY p.code ORDER BY p.code;
SELECT format('   verify(): %s problems', count(*)) FROM loyalty.verify();
