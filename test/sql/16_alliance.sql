-- Alliances (SPEC §9, issue #13): add_merchant, the merchant argument of
-- earn, earn_order, quote, record_event, redeem, redeem_value and
-- redeem_reward, the ledger's merchant, the `merchants` rule condition, the
-- view merchant_settlement, grant_merchant and what a merchant role may do
-- and see.  The convenience-store alliance of FIELD.md: members earn at the
-- store, spend at partners (a cinema, a tea shop) which settle with it.
-- Every error path writes nothing (the counts before and after are compared).
\i test/sql/preamble.psql

CREATE FUNCTION pg_temp.written() RETURNS text LANGUAGE sql AS $f$
  WITH p AS (SELECT id FROM loyalty.program WHERE code IN ('ally', 'ally2'))
  SELECT format('merchants=%s grants=%s ledger=%s lots=%s held=%s accounts=%s redemptions=%s',
                (SELECT count(*) FROM loyalty.merchant WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.merchant_grant WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.ledger WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.lot WHERE program_id IN (SELECT id FROM p)),
                (SELECT coalesce(sum(remaining), 0) FROM loyalty.lot WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.account WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.redemption WHERE program_id IN (SELECT id FROM p)))
$f$;
CREATE FUNCTION pg_temp.fails(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  before text := pg_temp.written();
  r text := pg_temp.err(q);
BEGIN
  RETURN r || CASE WHEN pg_temp.written() = before THEN ' | nothing written'
                   ELSE ' | WROTE: ' || before || ' -> ' || pg_temp.written() END;
END $f$;

-- ally: 1 point per 1 spent, 100 points are worth 1 (points_per_value 100)
SELECT loyalty.create_program('ally') > 0 AS ok;
SELECT loyalty.create_program('ally2') > 0 AS ok;

-- 1. add_merchant: an upsert, checked like configuration
SELECT loyalty.add_merchant('ally', 'store', 'Corner Store');            -- settles at 1 / 100
SELECT loyalty.add_merchant('ally', 'cinema', 'Cinema', 0.5);
SELECT loyalty.add_merchant('ally', 'cinema', 'Cinema City', 0.008);     -- replaces
SELECT loyalty.add_merchant('ally', 'tea', 'Tea House', 0.012);
SELECT loyalty.add_merchant('ally2', 'store', 'Other program''s store');
SELECT p.code AS program, m.code, m.name, m.settlement_value
FROM loyalty.merchant m JOIN loyalty.program p ON p.id = m.program_id
WHERE p.code IN ('ally', 'ally2') ORDER BY 1, 2;
SELECT pg_temp.fails($$SELECT loyalty.add_merchant('nope', 'x')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_merchant(NULL, 'x')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_merchant('ally', NULL)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_merchant('ally', '')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_merchant('ally', 'x', settlement_value => -1)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_merchant('ally', 'x', settlement_value => 'NaN')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_merchant('ally', 'x', settlement_value => 'infinity')$$);

-- 2. the rule condition merchants: double points at the tea shop; an
-- unknown merchant in the list is LY007
SELECT loyalty.add_rule('ally', 'tea_double', 'multiplier', '{"factor": 2, "merchants": ["tea"]}');
SELECT loyalty.add_rule('ally', 'checkin', 'event', '{"event": "checkin", "points": 10}');
SELECT pg_temp.fails($$SELECT loyalty.add_rule('ally', 'bad', 'bonus', '{"points": 5, "merchants": ["nowhere"]}')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_rule('ally', 'bad', 'bonus', '{"points": 5, "merchants": []}')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_rule('ally', 'bad', 'bonus', '{"points": 5, "merchants": [1]}')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_rule('ally', 'bad', 'event', '{"event": "x", "points": 5, "merchants": ["tea"]}')$$);
SELECT * FROM loyalty.quote('ally', 'nobody', 100, '2026-03-03', merchant => 'tea');
SELECT * FROM loyalty.quote('ally', 'nobody', 100, '2026-03-03', merchant => 'store');
SELECT * FROM loyalty.quote('ally', 'nobody', 100, '2026-03-03');
SELECT * FROM loyalty.quote_order('ally', 'nobody', '[{"line": "1", "amount": 100}]', '2026-03-03', 'tea');

-- 3. March at three merchants and the program itself
SELECT loyalty.earn('ally', 'ann', 200, 'a1', '2026-03-02 10:00', merchant => 'store') AS store_200;
SELECT loyalty.earn('ally', 'bob', 100, 'b1', '2026-03-03 10:00', NULL, 'tea') AS tea_doubled;
SELECT loyalty.earn('ally', 'ann', 50, 'a2', '2026-03-04 10:00') AS program_50;          -- old call
SELECT loyalty.earn_order('ally', 'ann', '[{"line": "1", "amount": 80}]', 'a3', '2026-03-05 10:00',
                          'cinema') AS cinema_80;
SELECT loyalty.record_event('ally', 'ann', 'checkin', 'e1', '2026-03-06 10:00', 'cinema') AS cinema_event;
SELECT loyalty.record_event('ally', 'bob', 'checkin', 'e2', '2026-03-06 10:00') AS program_event;  -- old call
-- refunds: the clawback is the original purchase's merchant's
SELECT loyalty.refund('ally', 'ann', 'a1', 50, 'r1', '2026-03-10 10:00') AS store_clawback;
SELECT loyalty.refund('ally', 'bob', 'b1', 30, 'r2', '2026-03-10 11:00') AS tea_clawback;
-- redemptions
SELECT loyalty.redeem('ally', 'ann', 100, 'x1', '2026-03-12 10:00', 'cinema') AS ann_after;
SELECT loyalty.redeem_value('ally', 'bob', 0.5, 'x2', '2026-03-12 11:00', 'store') AS bob_spent;
SELECT loyalty.redeem('ally', 'bob', 5, 'x5', '2026-03-12 12:00') AS bob_after;             -- old call
SELECT loyalty.add_reward('ally', 'popcorn', 40, merchant => 'cinema');
SELECT loyalty.add_reward('ally', 'mug', 30, merchant => 'tea');
SELECT loyalty.add_reward('ally', 'cap', 5);
SELECT loyalty.redeem_reward('ally', 'ann', 'popcorn', 1, 'x3', '2026-03-13 10:00', 'cinema') AS popcorn;
SELECT loyalty.cancel_redemption('ally', 'ann', 'x3', 'c1', '2026-03-14 10:00') AS popcorn_back;
SELECT loyalty.redeem_reward('ally', 'bob', 'mug', 1, 'x4', '2026-03-15 10:00', 'tea') AS mug;
-- the program's own: not settled
SELECT loyalty.adjust('ally', 'ann', 5, 'goodwill', 'j1', '2026-03-20 10:00') AS ann_adjusted;
SELECT loyalty.transfer('ally', 'ann', 'bob', 5, 't1', '2026-03-21 10:00');
-- April
SELECT loyalty.earn('ally', 'ann', 10, 'a4', '2026-04-01 10:00', merchant => 'store') AS april;

SELECT member, kind, points, ref, merchant FROM loyalty.ledger
WHERE program_id = (SELECT id FROM loyalty.program WHERE code = 'ally') ORDER BY member, id;
SELECT member, ref, kind, points, detail ->> 'merchant' AS merchant FROM loyalty.statement
WHERE program = 'ally' AND detail ? 'merchant' ORDER BY member, id;

-- the settlement, checked by hand:
--   store  Mar: issued 200 - 50 (ann's refund) = 150, redeemed 50 (redeem_value 0.5 x 100),
--               net 100, value 100 / 100 = 1
--   tea    Mar: issued 200 (doubled) - 60 (30 of 100 refunded: 60 of 200 clawed) = 140,
--               redeemed 30 (mug), net 110, value 110 x 0.012 = 1.320
--   cinema Mar: issued 80 + 10 (event) = 90, redeemed 100 + 40 - 40 (cancelled) = 100,
--               net -10, value -10 x 0.008 = -0.080 (the alliance owes the cinema)
--   program Mar: issued 50 + 10 (bob's event) = 60, redeemed 5, net 55, value 0.55
--   store  Apr: 10, 0, 10, 0.1
SELECT * FROM loyalty.merchant_settlement WHERE program = 'ally' ORDER BY month, merchant NULLS LAST;
-- over all merchants, issued and redeemed agree with the ledger
SELECT s.issued = l.issued AS issued_agrees, s.redeemed = l.redeemed AS redeemed_agrees, s.issued, s.redeemed
FROM (SELECT sum(issued) AS issued, sum(redeemed) AS redeemed FROM loyalty.merchant_settlement
      WHERE program = 'ally') s,
     (SELECT sum(points) FILTER (WHERE kind IN ('earn', 'event') OR (kind = 'refund' AND counterparty IS NULL)) AS issued,
             -sum(points) FILTER (WHERE kind = 'redeem') AS redeemed
      FROM loyalty.ledger WHERE program_id = (SELECT id FROM loyalty.program WHERE code = 'ally')) l;
SELECT loyalty.balance('ally', 'ann', '2026-05-01') AS ann, loyalty.balance('ally', 'bob', '2026-05-01') AS bob;
SELECT program, member, ref, reward, merchant, cancelled_at IS NOT NULL AS cancelled
FROM loyalty.redemptions WHERE program = 'ally' ORDER BY ref;
SELECT program, reward, redemptions, points, merchant FROM loyalty.reward_stats WHERE program = 'ally' ORDER BY reward;

-- 4. the merchant is part of a replay: the same ref at another merchant is LY005
SELECT loyalty.earn('ally', 'ann', 200, 'a1', '2026-03-02 10:00', merchant => 'store') AS replay_200;
SELECT pg_temp.fails($$SELECT loyalty.earn('ally', 'ann', 200, 'a1', '2026-03-02 10:00', merchant => 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.earn('ally', 'ann', 200, 'a1', '2026-03-02 10:00')$$);
SELECT pg_temp.fails($$SELECT loyalty.earn_order('ally', 'ann', '[{"line": "1", "amount": 80}]', 'a3', '2026-03-05 10:00')$$);
SELECT pg_temp.fails($$SELECT loyalty.record_event('ally', 'ann', 'checkin', 'e1', '2026-03-06 10:00', 'store')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem('ally', 'ann', 100, 'x1', '2026-03-12 10:00', 'store')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_value('ally', 'bob', 0.5, 'x2', '2026-03-12 11:00')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('ally', 'bob', 'mug', 1, 'x4', '2026-03-15 10:00', 'cinema')$$);
SELECT loyalty.redeem_reward('ally', 'bob', 'mug', 1, 'x4', '2026-03-15 10:00', 'tea') AS replay_mug;

-- 5. an unknown merchant is LY009, nothing written (another program's too)
SELECT pg_temp.fails($$SELECT loyalty.earn('ally', 'cat', 10, 'z1', merchant => 'nowhere')$$);
SELECT pg_temp.fails($$SELECT loyalty.earn_order('ally', 'cat', '[{"line": "1", "amount": 5}]', 'z1', merchant => 'nowhere')$$);
SELECT pg_temp.fails($$SELECT loyalty.record_event('ally', 'cat', 'checkin', 'z1', merchant => 'nowhere')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem('ally', 'ann', 1, 'z1', merchant => 'nowhere')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_value('ally', 'ann', 1, 'z1', merchant => 'nowhere')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_reward('ally', 'ann', 'cap', 1, 'z1', merchant => 'nowhere')$$);
SELECT pg_temp.fails($$SELECT loyalty.add_reward('ally', 'z', 5, merchant => 'nowhere')$$);
SELECT pg_temp.fails($$SELECT * FROM loyalty.quote('ally', 'cat', 10, merchant => 'nowhere')$$);
SELECT pg_temp.fails($$SELECT loyalty.earn('ally2', 'cat', 10, 'z1', merchant => 'tea')$$);

-- 6. merchant roles: the cinema's and the tea shop's
DROP ROLE IF EXISTS ly_cinema;
DROP ROLE IF EXISTS ly_tea;
DROP ROLE IF EXISTS ly_plain;
DROP ROLE IF EXISTS ly_cinema_till;
DROP ROLE IF EXISTS ly_both;
CREATE ROLE ly_cinema NOLOGIN IN ROLE loyalty_writer;
CREATE ROLE ly_tea NOLOGIN IN ROLE loyalty_writer;
CREATE ROLE ly_plain NOLOGIN;
SELECT loyalty.grant_merchant('ly_cinema', 'ally', 'store');      -- replaced just below
SELECT loyalty.grant_merchant('ly_cinema', 'ally', 'cinema');
SELECT loyalty.grant_merchant('ly_tea', 'ally', 'tea');
SELECT role, merchant FROM loyalty.merchant_grant WHERE role IN ('ly_cinema', 'ly_tea') ORDER BY role;
-- refused: not a role, not a writer, an admin, a superuser, unknown program or merchant, NULLs
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('ly_nobody', 'ally', 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('ly_plain', 'ally', 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('loyalty_admin', 'ally', 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant(current_user, 'ally', 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('loyalty_writer', 'ally', 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('ly_tea', 'nope', 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('ly_tea', 'ally', 'nowhere')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('ly_tea', 'ally2', 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant(NULL, 'ally', 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('ly_tea', NULL, 'tea')$$);
SELECT pg_temp.fails($$SELECT loyalty.grant_merchant('ly_tea', 'ally', NULL)$$);

SELECT loyalty.add_codes('ally', 'caps', ARRAY['CAP1'], 10);
SET ROLE ly_cinema;
SELECT current_user;
-- its own merchant, given or by default (NULL)
SELECT loyalty.earn('ally', 'cat', 40, 'k1', '2026-03-25 10:00', merchant => 'cinema') AS cinema_40;
SELECT loyalty.earn('ally', 'cat', 20, 'k2', '2026-03-25 11:00') AS cinema_by_default;
SELECT loyalty.redeem('ally', 'cat', 10, 'k3', '2026-03-25 12:00') AS cat_after;
SELECT loyalty.refund('ally', 'cat', 'k2', 20, 'k4', '2026-03-25 13:00') AS its_own_refund;
-- another merchant, another program, the program's own operations: 42501
-- (nothing written: compared as the administrator below)
RESET ROLE;
SELECT pg_temp.written() AS before_refusals \gset
SET ROLE ly_cinema;
SELECT pg_temp.err($$SELECT loyalty.earn('ally', 'cat', 40, 'k9', '2026-03-25 10:00', merchant => 'tea')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('ally', 'cat', 40, 'k9', '2026-03-25 10:00', merchant => 'nowhere')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('ally2', 'cat', 40, 'k9', '2026-03-25 10:00')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('ally2', 'cat', 40, 'k9', '2026-03-25 10:00', merchant => 'store')$$);
SELECT pg_temp.err($$SELECT loyalty.redeem('ally', 'ann', 1, 'k9', merchant => 'store')$$);
SELECT pg_temp.err($$SELECT loyalty.redeem_reward('ally', 'bob', 'mug', 1, 'k9', merchant => 'tea')$$);
SELECT pg_temp.err($$SELECT loyalty.refund('ally', 'ann', 'a1', 10, 'k9')$$);
SELECT pg_temp.err($$SELECT loyalty.refund('ally', 'bob', 'b1', 10, 'k9')$$);
SELECT pg_temp.err($$SELECT loyalty.cancel_redemption('ally', 'bob', 'x4', 'k9')$$);
SELECT pg_temp.err($$SELECT loyalty.adjust('ally', 'cat', 1000, 'free points', 'k9')$$);
SELECT pg_temp.err($$SELECT loyalty.transfer('ally', 'ann', 'cat', 10, 'k9')$$);
SELECT pg_temp.err($$SELECT loyalty.enroll('ally2', 'dan')$$);
SELECT pg_temp.err($$SELECT loyalty.balance('ally2', 'dan')$$);
SELECT pg_temp.err($$SELECT loyalty.tier_of('ally2', 'dan')$$);
SELECT pg_temp.err($$SELECT * FROM loyalty.quote('ally', 'cat', 10, merchant => 'tea')$$);
SELECT pg_temp.err($$SELECT loyalty.redeem_code('ally', 'cat', 'CAP1')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_merchant('ly_tea', 'ally', 'cinema')$$);
-- it cannot grant itself another merchant, nor add one, nor read the tables
SELECT pg_temp.err($$SELECT loyalty.grant_merchant('ly_cinema', 'ally', 'tea')$$);
SELECT pg_temp.err($$SELECT loyalty.add_merchant('ally', 'mine')$$);
SELECT pg_temp.err($$DELETE FROM loyalty.merchant_grant$$);
SELECT pg_temp.err($$SELECT * FROM loyalty._part_merchant_settlement$$);
RESET ROLE;
SELECT pg_temp.written() = :'before_refusals' AS nothing_written;
SET ROLE ly_cinema;
-- it sees its own rows only
SELECT * FROM loyalty.merchant_settlement ORDER BY program, month;
SELECT program, member, ref, reward, merchant FROM loyalty.redemptions ORDER BY ref;
SELECT program, reward, redemptions, merchant FROM loyalty.reward_stats ORDER BY reward;
RESET ROLE;

-- the same as a session user (SET SESSION AUTHORIZATION), not only SET ROLE
SET SESSION AUTHORIZATION ly_tea;
SELECT session_user, current_user;
SELECT loyalty.earn('ally', 'cat', 10, 't2', '2026-03-26 10:00') AS tea_doubled_by_default;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.written() AS before_refusals \gset
SET SESSION AUTHORIZATION ly_tea;
SELECT pg_temp.err($$SELECT loyalty.earn('ally', 'cat', 40, 't9', '2026-03-26 10:00', merchant => 'cinema')$$);
SELECT pg_temp.err($$SELECT loyalty.cancel_redemption('ally', 'ann', 'x3', 't9')$$);
SELECT pg_temp.err($$SELECT loyalty.refund('ally', 'cat', 'k1', 5, 't9')$$);
RESET SESSION AUTHORIZATION;
SELECT pg_temp.written() = :'before_refusals' AS nothing_written;
SET SESSION AUTHORIZATION ly_tea;
SELECT * FROM loyalty.merchant_settlement ORDER BY program, month;
SELECT program, member, ref, reward, merchant FROM loyalty.redemptions ORDER BY ref;
SELECT program, reward, redemptions, merchant FROM loyalty.reward_stats ORDER BY reward;
RESET SESSION AUTHORIZATION;

-- a member of a merchant's role (a till's login) is that merchant's; a member
-- of two merchants' roles may do nothing and sees nothing
CREATE ROLE ly_cinema_till NOLOGIN IN ROLE ly_cinema;
CREATE ROLE ly_both NOLOGIN IN ROLE ly_cinema, ly_tea;
SET ROLE ly_cinema_till;
SELECT loyalty.earn('ally', 'dot', 10, 'd1', '2026-03-28 10:00') AS at_the_cinema_by_default;
SELECT pg_temp.err($$SELECT loyalty.earn('ally', 'dot', 10, 'd2', '2026-03-28 11:00', merchant => 'tea')$$);
SELECT program, merchant, month FROM loyalty.merchant_settlement ORDER BY program, month, merchant;
RESET ROLE;
SET ROLE ly_both;
SELECT pg_temp.err($$SELECT loyalty.earn('ally', 'dot', 10, 'd3', '2026-03-28 12:00', merchant => 'tea')$$);
SELECT pg_temp.err($$SELECT loyalty.balance('ally', 'dot')$$);
SELECT count(*) AS sees_nothing FROM loyalty.merchant_settlement;
RESET ROLE;
-- membership changes apply at once (the cached grant is dropped)
REVOKE ly_tea FROM ly_both;
SET ROLE ly_both;
SELECT loyalty.earn('ally', 'dot', 10, 'd4', '2026-03-28 13:00') AS the_cinema_again;
RESET ROLE;

-- the administrator sees everything again; the merchant roles' work is in it
SELECT * FROM loyalty.merchant_settlement WHERE program = 'ally' AND month = '2026-03-01'
ORDER BY merchant NULLS LAST;

DELETE FROM loyalty.merchant_grant WHERE role IN ('ly_cinema', 'ly_tea');
DROP ROLE ly_cinema;
DROP ROLE ly_tea;
DROP ROLE ly_plain;
DROP ROLE ly_cinema_till;
DROP ROLE ly_both;
