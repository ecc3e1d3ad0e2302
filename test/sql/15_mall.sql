-- Points mall (SPEC §9, issue #13): add_reward, add_stock, redeem_reward,
-- cancel_redemption, the views reward_stats and redemptions.  The price is
-- tier_points of the member's tier at `at`, else points, times quantity,
-- spent first-to-expire-first like redeem; the cash part is recorded.  Not
-- enough points LY001, out of stock LY010, tier / limit / window LY011,
-- unknown reward LY009.  Every error path writes nothing (the counts before
-- and after are compared).
\i test/sql/preamble.psql

-- what a failed call could have written in this file's programs
CREATE FUNCTION pg_temp.written() RETURNS text LANGUAGE sql AS $f$
  WITH p AS (SELECT id FROM loyalty.program WHERE code IN ('mall', 'mall2'))
  SELECT format('rewards=%s stock=%s redemptions=%s cancelled=%s ledger=%s lots=%s held=%s accounts=%s',
                (SELECT count(*) FROM loyalty.reward WHERE program_id IN (SELECT id FROM p)),
                (SELECT coalesce(sum(stock), 0) FROM loyalty.reward_stock WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.redemption WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(cancel_ref) FROM loyalty.redemption WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.ledger WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.lot WHERE program_id IN (SELECT id FROM p)),
                (SELECT coalesce(sum(remaining), 0) FROM loyalty.lot WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.account WHERE program_id IN (SELECT id FROM p)))
$f$;
CREATE FUNCTION pg_temp.fails(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  before text := pg_temp.written();
  r text := pg_temp.err(q);
BEGIN
  RETURN r || CASE WHEN pg_temp.written() = before THEN ' | nothing written'
                   ELSE ' | WROTE: ' || before || ' -> ' || pg_temp.written() END;
END $f$;

-- mall: 1 point per 1 spent, points expire 50 years after they are earned,
-- gold from 1000 qualifying points
SELECT loyalty.create_program('mall', expiry => 'fixed', expiry_after => '50 years') > 0 AS ok;
SELECT loyalty.add_tier('mall', 'silver', 0);
SELECT loyalty.add_tier('mall', 'gold', 1000);

-- the catalogue: a mug (3 in stock, 80 points for gold), tea (points + cash,
-- unlimited, 2 per member), a lounge pass for gold only, mooncakes in
-- September only, a spa day nobody can afford
SELECT loyalty.add_reward('mall', 'mug', 100, stock => 3, tier_points => '{"gold": 80}', name => 'Mug');
SELECT loyalty.add_reward('mall', 'tea', 50, cash => 9.90, per_member => 2);
SELECT loyalty.add_reward('mall', 'lounge', 300, tiers => ARRAY['gold']);
SELECT loyalty.add_reward('mall', 'mooncake', 20, valid_from => '2026-09-01', valid_until => '2026-10-01');
SELECT loyalty.add_reward('mall', 'spa', 10000);
SELECT p.code AS program, r.code, r.name, r.points, r.cash, r.per_member, r.tiers, r.tier_points,
       r.valid_from, r.valid_until, k.stock
FROM loyalty.reward r JOIN loyalty.program p ON p.id = r.program_id
LEFT JOIN loyalty.reward_stock k ON k.program_id = r.program_id AND k.reward = r.code
WHERE p.code = 'mall' ORDER BY r.code;
-- an upsert: every setting replaced (the tea costs 60 now, then 50 again)
SELECT loyalty.add_reward('mall', 'tea', 60, cash => 9.90, per_member => 2);
SELECT r.points FROM loyalty.reward r JOIN loyalty.program p ON p.id = r.program_id
WHERE p.code = 'mall' AND r.code = 'tea';
SELECT loyalty.add_reward('mall', 'tea', 50, cash => 9.90, per_member => 2);
SELECT pg_temp.written();

-- add_reward: every bad argument is an error that writes nothing
SELECT pg_temp.fails($$SELECT loyalty.add_reward(NULL, 'x', 10)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('nope', 'x', 10)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', NULL, 10)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', '', 10)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', repeat('x', 201), 10)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', NULL)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 0)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', -5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, cash => NULL)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, cash => -0.01)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, cash => 'NaN')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, cash => 'Infinity')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, stock => -1)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, per_member => 0)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, tiers => ARRAY['platinum'])$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, tiers => ARRAY[]::text[])$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, tiers => ARRAY['gold', NULL])$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, tier_points => '[800]')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, tier_points => '{"platinum": 8}')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, tier_points => '{"gold": 0}')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, tier_points => '{"gold": 7.5}')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, tier_points => '{"gold": "8"}')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, valid_from => '2026-02-01', valid_until => '2026-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, valid_from => '-infinity')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'x', 10, merchant => 'shop1')$$);
-- add_stock: the stock after; unknown or unlimited rewards, bad quantities
SELECT pg_temp.fails($$SELECT loyalty.add_stock('mall', 'nope', 1)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_stock('mall', 'tea', 1)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_stock('mall', 'mug', 0)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_stock('mall', 'mug', NULL)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_stock('nope', 'mug', 1)$$);
-- at most 10^12 units: a quantity above it (22023), a stock taken past it (22003)
SELECT pg_temp.fails($$SELECT loyalty.add_stock('mall', 'mug', 1000000000001)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_stock('mall', 'mug', 1000000000000)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_stock('mall', 'mug', 9223372036854775807)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('mall', 'big', 5, stock => 1000000000001)$$);

-- members: ann has 1000 points in two lots (earned in January and March),
-- bob 600, cat 150
SELECT loyalty.earn('mall', 'ann', 400, 'a1', '2026-01-05');
SELECT loyalty.earn('mall', 'ann', 600, 'a2', '2026-03-01');
SELECT loyalty.earn('mall', 'bob', 600, 'b1', '2026-01-05');
SELECT loyalty.earn('mall', 'cat', 150, 'c1', '2026-01-05');
SELECT member, expires_at, points FROM loyalty.expiring_points WHERE program = 'mall' AND member = 'ann'
ORDER BY expires_at;

-- ann is gold from March 1 (1000 qualifying points): two mugs at 80 = 160
SELECT loyalty.tier_of('mall', 'ann', '2026-03-10') AS ann_tier;
SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 2, 'r1', '2026-03-10') AS ann_two_mugs;
SELECT loyalty.balance('mall', 'ann', '2026-03-10') AS ann_balance;
-- spent first to expire first: the January lot (400) gave the 160
SELECT member, expires_at, points FROM loyalty.expiring_points WHERE program = 'mall' AND member = 'ann'
ORDER BY expires_at;
-- the same ref and arguments again (even at another time): the first answer, nothing written
SELECT pg_temp.written();
SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 2, 'r1', '2026-04-01') AS ann_two_mugs_again;
SELECT pg_temp.written();
-- the same ref, other arguments; a ref used by another operation: LY005
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 1, 'r1', '2026-03-10')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'tea', 2, 'r1', '2026-03-10')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 1, 'a1', '2026-03-10')$$);

-- one mug left: two are out of stock (LY010, nothing written); cat takes the
-- last one at 100 (silver); then none is left
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 2, 'r2', '2026-03-11')$$);
SELECT loyalty.redeem_reward('mall', 'cat', 'mug', 1, 'k1', '2026-03-11') AS cat_mug;
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 1, 'r2', '2026-03-12')$$);
SELECT loyalty.add_stock('mall', 'mug', 5) AS stock_after;
SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 1, 'r2', '2026-03-12') AS ann_third_mug;
SELECT stock_left FROM loyalty.reward_stats WHERE program = 'mall' AND reward = 'mug';

-- not enough points: cat has 50 left, the tea costs 50 each: two is LY001
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'cat', 'tea', 2, 'k2', '2026-03-12')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'spa', 1, 'r3', '2026-03-12')$$);

-- bob is silver in January: the mug costs 100; gold from February 1 (500
-- more), 80 from then; a back-dated redemption in January pays the silver price
SELECT loyalty.redeem_reward('mall', 'bob', 'mug', 1, 'm1', '2026-01-10') AS bob_silver_mug;
SELECT loyalty.earn('mall', 'bob', 500, 'b2', '2026-02-01');
SELECT loyalty.tier_of('mall', 'bob', '2026-01-20') AS bob_in_january, loyalty.tier_of('mall', 'bob', '2026-02-10') AS bob_in_february;
SELECT loyalty.redeem_reward('mall', 'bob', 'mug', 1, 'm2', '2026-02-10') AS bob_gold_mug;
SELECT loyalty.redeem_reward('mall', 'bob', 'mug', 1, 'm3', '2026-01-20') AS bob_backdated_mug;
-- the lounge is for gold: bob in January (silver) LY011, in February it is fine
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'bob', 'lounge', 1, 'm4', '2026-01-25')$$);
SELECT loyalty.redeem_reward('mall', 'bob', 'lounge', 1, 'm4', '2026-02-11') AS bob_lounge;

-- points + cash: tea at 50 points and 9.90 each, 2 per member; a NULL ref
-- gets the ref 'redemption:<its ledger row id>'
SELECT loyalty.redeem_reward('mall', 'ann', 'tea', 2, NULL, '2026-03-13') AS ann_two_teas;
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'tea', 1, 't3', '2026-03-14')$$);
-- cancelling one of them frees the limit: a third tea is fine then
SELECT ref FROM loyalty.redemptions WHERE program = 'mall' AND member = 'ann' AND reward = 'tea';
SELECT loyalty.cancel_redemption('mall', 'ann', 'redemption:5', 'x1', '2026-03-15') AS teas_cancelled;
SELECT loyalty.redeem_reward('mall', 'ann', 'tea', 1, 't3', '2026-03-16') AS ann_third_tea;
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'tea', 2, 't4', '2026-03-16')$$);
SELECT loyalty.redeem_reward('mall', 'ann', 'tea', 1, 't4', '2026-03-16') AS ann_fourth_tea;

-- the validity window [valid_from, valid_until): its edges
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mooncake', 1, 'y0', '2026-08-31 23:59:59.999999+00')$$);
SELECT loyalty.redeem_reward('mall', 'ann', 'mooncake', 1, 'y1', '2026-09-01 00:00+00') AS first_instant;
SELECT loyalty.redeem_reward('mall', 'ann', 'mooncake', 1, 'y2', '2026-09-30 23:59:59.999999+00') AS last_instant;
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mooncake', 1, 'y3', '2026-10-01 00:00+00')$$);

-- redeem_reward: bad arguments, unknown things
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'nope', 1, 'z1', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'nobody', 'mug', 1, 'z1', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('nope', 'ann', 'mug', 1, 'z1', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', NULL, 'mug', 1, 'z1', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', NULL, 1, 'z1', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', NULL, 'z1', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 0, 'z1', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', -1, 'z1', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 1, '', '2026-03-20')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 1, 'z1', NULL)$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 1, 'z1', 'infinity')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 1, 'z1', '2026-03-20', 'shop1')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall', 'ann', 'mug', 2147483647, 'z1', '2026-03-20')$$);

-- the statement: one 'redeem' row per redemption, its detail naming the reward
SELECT member, at, kind, points, balance_after, ref, detail FROM loyalty.statement
WHERE program = 'mall' AND member = 'ann' ORDER BY at, id;

-- cancel_redemption: the points back with the expiry dates they had, the
-- units back to stock, once
SELECT member, expires_at, points FROM loyalty.expiring_points WHERE program = 'mall' AND member = 'ann'
ORDER BY expires_at;
SELECT loyalty.cancel_redemption('mall', 'ann', 'r1', 'x2', '2026-03-20') AS mugs_back;
SELECT member, expires_at, points FROM loyalty.expiring_points WHERE program = 'mall' AND member = 'ann'
ORDER BY expires_at;
SELECT stock_left FROM loyalty.reward_stats WHERE program = 'mall' AND reward = 'mug';
-- a replay: the first answer, nothing written; another ref: 0, nothing written
SELECT pg_temp.written();
SELECT loyalty.cancel_redemption('mall', 'ann', 'r1', 'x2', '2026-03-25') AS replay;
SELECT loyalty.cancel_redemption('mall', 'ann', 'r1', 'x3', '2026-03-25') AS again_other_ref;
SELECT pg_temp.written();
SELECT stock_left FROM loyalty.reward_stats WHERE program = 'mall' AND reward = 'mug';
-- errors: an unknown redemption LY004; a ref used otherwise LY005; bad arguments
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', 'nope', 'x4', '2026-03-25')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', 'a1', 'x4', '2026-03-25')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', 'r2', 'x2', '2026-03-25')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', 'r2', 'r2', '2026-03-25')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', 'r2', 'a1', '2026-03-25')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', 'r2', NULL, '2026-03-25')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', NULL, 'x4', '2026-03-25')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', 'r2', 'x4', '2026-03-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'nobody', 'r2', 'x4', '2026-03-25')$$);
SELECT pg_temp.fails($$SELECT loyalty.cancel_redemption('mall', 'ann', 'r2', 'x4', 'infinity')$$);

-- the views, as of now()
SELECT * FROM loyalty.redemptions WHERE program = 'mall' ORDER BY member, at, ref;
SELECT * FROM loyalty.reward_stats WHERE program = 'mall' ORDER BY reward;
SELECT program, redeemed FROM loyalty.liability WHERE program = 'mall';
SELECT member, lifetime_redeemed FROM loyalty.member_summary WHERE program = 'mall' ORDER BY member;
-- per day: a cancellation counts on its own day (March 15 and 20: net negative)
SELECT day, redeemed FROM loyalty.activity_daily WHERE program = 'mall' AND redeemed <> 0 ORDER BY day;
SELECT * FROM loyalty.verify() WHERE program = 'mall';

-- mall2: points expire 30 days after they are earned.  A cancellation after
-- the points' expiry gives them back already expired: not spendable, and the
-- next expire_points writes their expiry.
SELECT loyalty.create_program('mall2', expiry => 'fixed', expiry_after => '30 days') > 0 AS ok;
SELECT loyalty.add_reward('mall2', 'cap', 70, stock => 1);
SELECT loyalty.earn('mall2', 'dan', 100, 'd1', '2026-01-01');
SELECT loyalty.earn('mall2', 'dan', 50, 'd2', '2026-01-20');
SELECT loyalty.redeem_reward('mall2', 'dan', 'cap', 1, 'd-cap', '2026-01-10') AS dan_cap;
SELECT loyalty.balance('mall2', 'dan', '2026-01-25') AS dan_after_cap;
SELECT loyalty.cancel_redemption('mall2', 'dan', 'd-cap', 'd-cancel', '2026-02-05') AS cap_back;
-- the 70 were to expire on 2026-01-31, already past: they come back in a lot
-- that expires at the cancellation; the balance then is the 50 of January 20
SELECT loyalty.balance('mall2', 'dan', '2026-02-05') AS dan_after_cancel;
SELECT l.earned_at, l.available_at, l.expires_at, l.points, l.remaining, l.source, l.ref
FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'mall2' ORDER BY l.id;
CALL loyalty.expire_points('2026-02-28');
SELECT at, kind, points, balance_after, ref, detail FROM loyalty.statement
WHERE program = 'mall2' ORDER BY at, id;
SELECT * FROM loyalty.reward_stats WHERE program = 'mall2';
-- the price of a quantity out of range: 22003, nothing written
SELECT loyalty.add_reward('mall2', 'yacht', 9000000000000000);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('mall2', 'dan', 'yacht', 2000, 'd-y', '2026-02-06')$$);
SELECT * FROM loyalty.verify() WHERE program = 'mall2';

-- an unlimited reward takes no stock row; a limited one made unlimited loses its row
SELECT loyalty.add_reward('mall2', 'cap', 70);
SELECT count(*) AS cap_stock_rows FROM loyalty.reward_stock k JOIN loyalty.program p ON p.id = k.program_id
WHERE p.code = 'mall2';
SELECT pg_temp.written();
