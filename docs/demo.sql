-- Demo: a Telunsu-style program: 500 members from 2023 to today, their receipts
-- (daily milk, yogurt, gift boxes), refunds, events and redemptions; points
-- expire three years after they are earned.  Marketing grants each member a
-- double-points birthday coupon for their birthday month, runs a Spring
-- Festival campaign with a budget, and prints a code in every milk case;
-- members spend their points in a small catalogue (a latte, a yogurt maker, a
-- gift box for points + cash, an estate tour for gold members, five places);
-- from June 2025 a coffee chain and a cinema join as an alliance: members earn
-- and spend there, and the merchants settle at each month's end.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET TIME ZONE 'Asia/Shanghai';
CREATE EXTENSION IF NOT EXISTS loyalty;

SELECT loyalty.create_program('telunsu', 'Telunsu dairy club', timezone => 'Asia/Shanghai',
                              expiry => 'fixed', expiry_after => '3 years',
                              points_per_value => 150) \g /dev/null
SELECT loyalty.add_tier('telunsu', 'silver', 0, 1, 150),
       loyalty.add_tier('telunsu', 'gold', 3000, 1.5, 130),
       loyalty.add_tier('telunsu', 'platinum', 9000, 2, 100) \g /dev/null
SELECT loyalty.add_rule('telunsu', 'gift_box', 'multiplier', '{"factor": 1.2, "categories": ["gift_box"]}'),
       loyalty.add_rule('telunsu', 'member_day', 'multiplier', '{"factor": 1.5, "weekdays": [5]}'),
       loyalty.add_rule('telunsu', 'double11', 'multiplier', '{"factor": 3}', '2026-11-11 00:00+08', '2026-11-12 00:00+08'),
       -- a coupon granted to each member for their birthday month (two purchases)
       loyalty.add_rule('telunsu', 'bday_coupon', 'multiplier', '{"factor": 2, "offer": true}'),
       -- Spring Festival 2026: 88 points on a receipt of 100 yuan or more, twice per
       -- member, until 5,000 points have been given
       loyalty.add_rule('telunsu', 'spring_88', 'bonus',
                        '{"points": 88, "min_amount": 100, "max_per_member": 2, "budget": 5000}',
                        '2026-02-10 00:00+08', '2026-03-04 00:00+08'),
       loyalty.add_rule('telunsu', 'ladder_5k', 'bonus', '{"points": 500, "min_amount": 5000, "group": "ladder"}'),
       loyalty.add_rule('telunsu', 'ladder_10k', 'bonus', '{"points": 1200, "min_amount": 10000, "group": "ladder"}'),
       loyalty.add_rule('telunsu', 'signup', 'event', '{"event": "signup", "points": 50}'),
       loyalty.add_rule('telunsu', 'survey', 'event', '{"event": "survey", "points": 100, "max_per_day": 1}'),
       loyalty.add_rule('telunsu', 'share', 'event', '{"event": "share", "points": 100, "max_per_day": 1}'),
       loyalty.add_rule('telunsu', 'checkin', 'event', '{"event": "checkin", "points": 1}'),
       loyalty.add_rule('telunsu', 'checkin30', 'streak', '{"event": "checkin", "days": 30, "points": 100}'),
       loyalty.add_rule('telunsu', 'referral', 'referral', '{"referrer_points": 300, "referrer_share": 0.1, "referee_points": 50}') \g /dev/null

SELECT setseed(0.42) \g /dev/null
\echo 'Simulating the Telunsu dairy club from 2023 to today: 500 members, their receipts, refunds, events and redemptions...'
-- 500 members joining from March 2023 to October 2026, a tenth referred by an
-- earlier member; each member's appetite (receipts a year) is skewed: most
-- buy a case of milk now and then, a few every week
CREATE TEMP TABLE demo_member AS
SELECT i, 'm' || i AS member,
       timestamptz '2023-03-01 09:00+08' + ((i - 1) * interval '2.6 days') + random() * interval '2 days' AS joined_at,
       date '1960-01-01' + (random() * 15000)::int AS birthday,
       least(exp(1.6 + 0.8 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())), 45) AS per_year
FROM generate_series(1, 500) AS i;
SELECT count(*) FROM (
  SELECT loyalty.enroll('telunsu', d.member, d.joined_at, birthday => d.birthday,
                        referred_by => CASE WHEN d.i > 50 AND d.i % 10 = 0 THEN 'm' || (d.i / 10) END)
  FROM demo_member d ORDER BY d.joined_at) s \g /dev/null
-- the birthday coupons: one grant per member and birthday month after joining
-- (granted today, they serve the purchases made inside their month)
SELECT count(*) FROM (
  SELECT loyalty.grant_offer('telunsu', d.member, 'bday_coupon', 2, m.starts, m.starts + interval '1 month',
                             ref => 'bday-' || extract(year FROM m.starts))
  FROM demo_member d
  CROSS JOIN LATERAL (SELECT make_timestamptz(y, extract(month FROM d.birthday)::int, 1, 0, 0, 0, 'Asia/Shanghai') AS starts
                      FROM generate_series(2023, 2026) y) m
  WHERE m.starts + interval '1 month' > d.joined_at AND m.starts < timestamptz '2026-12-01 00:00+08') s \g /dev/null
-- a code under the lid of every milk case of 2026: 6,000 printed, 10 points each,
-- valid until the end of January 2027
SELECT loyalty.add_codes('telunsu', 'milk-caps-2026',
                         ARRAY(SELECT 'TLS26-' || lpad(g::text, 6, '0') FROM generate_series(1, 6000) g),
                         10, '2027-02-01 00:00+08') \g /dev/null
-- receipts after joining: daily milk (a case, 40-150 yuan), yogurt now and then, a
-- gift box on one receipt in four, and rare company orders of twenty gift boxes
CREATE TEMP TABLE demo_receipt AS
SELECT row_number() OVER (ORDER BY r.at) AS n, r.member, r.at,
       jsonb_build_array(jsonb_build_object('line', '1', 'category', 'daily_milk',
                                            'amount', round((40 + random() ^ 2 * 110)::numeric, 2)))
       || CASE WHEN random() < 0.3 THEN jsonb_build_array(jsonb_build_object('line', '2', 'category', 'yogurt',
                                            'amount', round((20 + random() * 40)::numeric, 2))) ELSE '[]' END
       || CASE WHEN random() < 0.25 THEN jsonb_build_array(jsonb_build_object('line', '3', 'category', 'gift_box',
                                            'amount', (ARRAY[199, 259, 299, 399])[1 + floor(random() * 4)::int])) ELSE '[]' END
       || CASE WHEN random() < 0.008 THEN jsonb_build_array(jsonb_build_object('line', '4', 'category', 'gift_box',
                                            'amount', 20 * (ARRAY[199, 259, 299])[1 + floor(random() * 3)::int])) ELSE '[]' END
       AS lines
FROM (SELECT d.member, d.joined_at + random() * (timestamptz '2026-11-28 20:00+08' - d.joined_at) AS at
      FROM demo_member d,
           generate_series(1, greatest(1, round(d.per_year * extract(epoch FROM timestamptz '2026-11-28 20:00+08' - d.joined_at)
                                                / (365.25 * 86400))::int)) AS k) r;
-- the alliance (from June 2025): a coffee chain and a cinema issue and accept the
-- club's points; one point is worth 0.6 fen between merchants at the cafe, 0.8
-- at the cinema; the cinema gives double points on its own tickets
SELECT loyalty.add_merchant('telunsu', 'cafe', 'Morning Cafe', settlement_value => 0.006),
       loyalty.add_merchant('telunsu', 'cinema', 'Star Cinema', settlement_value => 0.008) \g /dev/null
SELECT loyalty.add_rule('telunsu', 'cinema_double', 'multiplier', '{"factor": 2, "merchants": ["cinema"]}',
                        '2025-06-01 00:00+08') \g /dev/null
-- the points mall: a latte (300, 250 for platinum), a yogurt maker (900), a gift
-- box for 2000 points + 20 yuan; the estate tour (gold and platinum only, 8000
-- points, five places) is redeemed below
SELECT loyalty.add_reward('telunsu', 'latte', 300, tier_points => '{"platinum": 250}', name => 'Latte',
                          merchant => 'cafe', valid_from => '2025-06-01 00:00+08'),
       loyalty.add_reward('telunsu', 'movie', 800, name => 'Cinema ticket', merchant => 'cinema',
                          valid_from => '2025-06-01 00:00+08'),
       loyalty.add_reward('telunsu', 'yogurt_maker', 900, stock => 400, name => 'Yogurt maker'),
       loyalty.add_reward('telunsu', 'gift_box', 2000, cash => 20, per_member => 3, name => 'Gift box, points + 20 yuan'),
       loyalty.add_reward('telunsu', 'estate_tour', 8000, stock => 5, per_member => 1,
                          tiers => ARRAY['gold', 'platinum'], name => 'Pasture estate tour') \g /dev/null
-- redemptions through the years: now and then a member with enough points takes a
-- latte, a yogurt maker or a gift box
CREATE TEMP TABLE demo_redeem AS
SELECT row_number() OVER () AS n, d.member,
       d.joined_at + random() * (timestamptz '2026-11-28 20:00+08' - d.joined_at) AS at,
       (ARRAY['latte', 'latte', 'latte', 'yogurt_maker', 'gift_box'])[1 + floor(random() * 5)::int] AS reward
FROM demo_member d, generate_series(1, 1 + (d.per_year / 4)::int) AS k
WHERE random() < 0.6;
-- before the alliance the catalogue had no latte: a yogurt maker instead; after
-- it, one latte in three is a cinema ticket
UPDATE demo_redeem SET reward = 'yogurt_maker' WHERE reward = 'latte' AND at < timestamptz '2025-06-01 00:00+08';
UPDATE demo_redeem SET reward = 'movie' WHERE reward = 'latte' AND n % 3 = 0;
ALTER TABLE demo_redeem ADD COLUMN points int, ADD COLUMN merchant text;
UPDATE demo_redeem SET points = CASE reward WHEN 'latte' THEN 300 WHEN 'movie' THEN 800 WHEN 'yogurt_maker' THEN 900 ELSE 2000 END,
                       merchant = CASE reward WHEN 'latte' THEN 'cafe' WHEN 'movie' THEN 'cinema' END;
-- purchases at the partners: coffee (25-60 yuan) and tickets (45-120 yuan), from
-- June 2025, by a third of the members
CREATE TEMP TABLE demo_partner AS
SELECT row_number() OVER (ORDER BY x.at) AS n, x.* FROM (
  SELECT d.member, p.merchant,
         greatest(d.joined_at, timestamptz '2025-06-01 00:00+08')
           + random() * (timestamptz '2026-11-28 20:00+08' - greatest(d.joined_at, timestamptz '2025-06-01 00:00+08')) AS at,
         round((CASE p.merchant WHEN 'cafe' THEN 25 + random() * 35 ELSE 45 + random() * 75 END)::numeric, 2) AS amount
  FROM demo_member d
  CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.7 THEN 'cafe' ELSE 'cinema' END AS merchant
                      FROM generate_series(1, 2 + (d.per_year / 3)::int)) p
  WHERE d.i % 3 = 0 AND d.joined_at < timestamptz '2026-11-01 00:00+08') x;
-- the caps scanned: a third of the 2026 receipts with milk bring one in (the rest
-- go out with the recycling), a few days after the purchase
CREATE TEMP TABLE demo_cap AS
SELECT * FROM (
  SELECT 'TLS26-' || lpad(row_number() OVER (ORDER BY r.at)::text, 6, '0') AS code, r.member,
         r.at + random() * interval '5 days' AS at
  FROM demo_receipt r WHERE r.at >= timestamptz '2026-01-01 00:00+08' AND random() < 0.33) c
WHERE c.code <= 'TLS26-006000';
-- everything in business-time order through the public functions
SELECT count(*) FROM (
  SELECT CASE WHEN x.kind = 'receipt' THEN loyalty.earn_order('telunsu', x.member, x.lines, 'o' || x.n, x.at)
              WHEN x.kind = 'cap' THEN loyalty.redeem_code('telunsu', x.member, x.code, x.at)
              WHEN x.kind = 'partner' THEN loyalty.earn('telunsu', x.member, x.points, 'p' || x.n, x.at, merchant => x.merchant)
              WHEN loyalty.balance('telunsu', x.member, x.at) >= x.points
                   AND (x.reward <> 'gift_box' OR (SELECT count(*) FROM demo_redeem g WHERE g.member = x.member
                                                     AND g.reward = 'gift_box' AND g.at < x.at) < 3)
              THEN loyalty.redeem_reward('telunsu', x.member, x.reward, ref => 'r' || x.n, at => x.at,
                                         merchant => x.merchant) END
  FROM (SELECT 'receipt' AS kind, n, member, at, lines, NULL::numeric AS points, NULL AS code, NULL AS reward,
               NULL AS merchant FROM demo_receipt
        UNION ALL
        SELECT 'redeem', n, member, at, NULL, points, NULL, reward, merchant FROM demo_redeem
        UNION ALL
        SELECT 'partner', n, member, at, NULL, amount, NULL, NULL, merchant FROM demo_partner
        UNION ALL
        SELECT 'cap', NULL, member, at, NULL, NULL, code, NULL, NULL FROM demo_cap WHERE at < timestamptz '2026-11-30 00:00+08'
        ORDER BY at) x) s \g /dev/null
SELECT count(*) FROM (
  SELECT loyalty.record_event('telunsu', g.member, g.event, 'e' || g.n, g.at)
  FROM (SELECT row_number() OVER () AS n, d.member,
               (ARRAY['survey', 'share', 'checkin'])[1 + floor(random() * 3)::int] AS event,
               d.joined_at + random() * (timestamptz '2026-11-28 20:00+08' - d.joined_at) AS at
        FROM demo_member d, generate_series(1, 1 + (random() * 6)::int) AS k
        ORDER BY at) g) s \g /dev/null
-- the estate tour in October 2026: the gold and platinum members who can pay ask
-- for it in turn; five get a place, the rest hear it is sold out (LY010); two
-- gift boxes come back unopened and are cancelled
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT s.member, row_number() OVER (ORDER BY s.member) AS k FROM loyalty.member_summary s
           WHERE s.program = 'telunsu' AND s.tier IN ('gold', 'platinum') AND s.available >= 8000 LOOP
    BEGIN
      PERFORM loyalty.redeem_reward('telunsu', r.member, 'estate_tour', ref => 'tour-' || r.member,
                                    at => timestamptz '2026-10-08 10:00+08' + r.k * interval '7 minutes');
    EXCEPTION WHEN SQLSTATE 'LY010' OR SQLSTATE 'LY011' OR SQLSTATE 'LY001' THEN
      NULL;   -- sold out, or not gold (or not enough points) on the day

    END;
  END LOOP;
END $$;
SELECT count(*) FROM (
  SELECT loyalty.cancel_redemption('telunsu', x.member, 'r' || x.n, 'cancel-r' || x.n, x.at + interval '2 days')
  FROM (SELECT r.n, r.member, r.at FROM demo_redeem r
        JOIN loyalty.redemptions m ON m.program = 'telunsu' AND m.member = r.member AND m.ref = 'r' || r.n
        WHERE r.reward = 'gift_box' AND r.at < timestamptz '2026-11-20' ORDER BY r.n LIMIT 2) x) s \g /dev/null
-- returns: one receipt in twenty-five, within a week; a gift box line alone when
-- there is one, else part of the whole receipt
SELECT count(*) FROM (
  SELECT CASE WHEN r.lines @> '[{"line": "3"}]'
              THEN loyalty.refund_lines('telunsu', r.member, 'o' || r.n,
                     jsonb_build_array(jsonb_build_object('line', '3', 'amount',
                       (SELECT (l ->> 'amount')::numeric FROM jsonb_array_elements(r.lines) l WHERE l ->> 'line' = '3'))),
                     'rf-o' || r.n, r.at + interval '2 days')
              ELSE loyalty.refund('telunsu', r.member, 'o' || r.n,
                     round((SELECT sum((l ->> 'amount')::numeric) FROM jsonb_array_elements(r.lines) l) / 2, 2),
                     'rf-o' || r.n, r.at + interval '3 days') END
  FROM demo_receipt r WHERE r.n % 25 = 0 AND r.at + interval '3 days' < timestamptz '2026-11-30') s \g /dev/null

CALL loyalty.run_maintenance();

\pset border 2
\echo
\echo '== Members by tier (silver / gold >= 3000 / platinum >= 9000 annual points)'
SELECT tier, members FROM loyalty.tier_distribution WHERE program = 'telunsu'
ORDER BY (SELECT threshold FROM loyalty.tier t JOIN loyalty.program p ON p.id = t.program_id
          WHERE p.code = 'telunsu' AND t.code = tier);
\echo '== Liability and breakage'
SELECT outstanding_points, outstanding_value AS "value (CNY)", earned, redeemed, expired, breakage_rate
FROM loyalty.liability WHERE program = 'telunsu';
\echo '== Monthly activity'
SELECT to_char(date_trunc('month', day), 'YYYY-MM') AS month, sum(earned) AS earned,
       sum(redeemed) AS redeemed, sum(expired) AS expired, sum(clawed_back) AS clawed_back,
       sum(new_members) AS new_members
FROM loyalty.activity_daily WHERE program = 'telunsu' AND day >= date '2025-12-01' GROUP BY 1 ORDER BY 1;
\echo '== Leaderboard, last three months (top 10 get the invitation)'
SELECT to_char(month, 'YYYY-MM') AS month, rank, member, points FROM loyalty.leaderboard
WHERE program = 'telunsu' AND month >= date '2026-09-01' ORDER BY month, rank;
\echo '== What each campaign cost (the Spring Festival bonus had a budget)'
SELECT rule, purchases AS uses, points, budget, spent, remaining FROM loyalty.rule_stats
WHERE program = 'telunsu' ORDER BY points DESC;
\echo '== Birthday coupons: granted, used, by year'
SELECT extract(year FROM valid_from)::int AS year, count(*) AS granted, sum(uses - uses_left) AS uses_taken,
       count(*) FILTER (WHERE uses_left = 0) AS used_up,
       count(*) FILTER (WHERE uses_left > 0 AND valid_until <= now()) AS expired_with_uses_left
FROM loyalty.member_offers WHERE program = 'telunsu' AND rule = 'bday_coupon' GROUP BY 1 ORDER BY 1;
\echo '== The points mall: what was redeemed (cancellations netted), what is left'
SELECT reward, redemptions, quantity, points, cash, stock_left FROM loyalty.reward_stats
WHERE program = 'telunsu' ORDER BY points DESC;
\echo '== Redemptions by quarter'
SELECT to_char(date_trunc('quarter', at AT TIME ZONE 'Asia/Shanghai'), 'YYYY-"Q"Q') AS quarter,
       count(*) FILTER (WHERE cancelled_at IS NULL) AS redemptions, sum(points) FILTER (WHERE cancelled_at IS NULL) AS points,
       count(*) FILTER (WHERE cancelled_at IS NOT NULL) AS cancelled
FROM loyalty.redemptions WHERE program = 'telunsu' AND at >= '2025-01-01' GROUP BY 1 ORDER BY 1;
\echo '== Month-end settlement of the alliance, last three months (positive: the merchant owes the alliance)'
SELECT to_char(month, 'YYYY-MM') AS month, coalesce(merchant, '(club)') AS merchant, issued, redeemed,
       net_points, round(net_value, 2) AS "net value (CNY)"
FROM loyalty.merchant_settlement WHERE program = 'telunsu' AND month >= date '2026-09-01'
ORDER BY month, merchant NULLS FIRST;
\echo '== Bottle-cap codes'
SELECT batch, codes, used, points_credited, round(100.0 * used / codes, 1) AS "scanned %"
FROM loyalty.code_batches WHERE program = 'telunsu';
\echo '== Member m42: summary'
SELECT tier, available, pending, lifetime_earned, lifetime_redeemed, qualifying, next_tier, to_next_tier,
       next_expiry_at::date AS next_expiry, next_expiry_points
FROM loyalty.member_summary WHERE program = 'telunsu' AND member = 'm42';
\echo '== Member m42: points detail (statement)'
SELECT to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') AS at, kind, points, balance_after, ref,
       coalesce((SELECT string_agg(coalesce(l ->> 'category', 'line ' || (l ->> 'line')) || ' ' || (l ->> 'amount'), ', ')
                 FROM jsonb_array_elements(detail -> 'receipt') l),
                detail ->> 'amount', detail ->> 'event', detail ->> 'counterparty', '') AS about
FROM loyalty.statement WHERE program = 'telunsu' AND member = 'm42' AND at >= '2026-01-01' ORDER BY at, id;
\echo '== Member m42: expiring points'
SELECT expires_at::date AS expires, points FROM loyalty.expiring_points
WHERE program = 'telunsu' AND member = 'm42' ORDER BY expires_at;
\echo '== How 12,345.67 yuan of gift boxes on a member day is calculated for m42'
SELECT * FROM loyalty.quote('telunsu', 'm42', 12345.67, '2026-11-20 10:00+08', 'gift_box');
\echo '== A receipt: two cases of milk and a gift box on a member day, for m42'
SELECT * FROM loyalty.quote_order('telunsu', 'm42',
  '[{"line": "1", "category": "daily_milk", "amount": 119.80}, {"line": "2", "category": "gift_box", "amount": 299}]',
  '2026-11-20 10:00+08');
\echo '== Who we have: receipts, tickets, members by how much they buy'
SELECT count(*) AS receipts, round(avg(amount), 2) AS avg_ticket,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) AS median_ticket, max(amount) AS largest,
       count(*) FILTER (WHERE detail -> 'lines' @> '[{"category": "gift_box"}]') AS with_gift_box
FROM loyalty.ledger WHERE kind = 'earn';
SELECT count(*) FILTER (WHERE l.at < a.joined_at) AS purchases_before_joining,
       count(DISTINCT l.at::date) FILTER (WHERE l.kind = 'redeem') AS days_with_redemptions
FROM loyalty.ledger l JOIN loyalty.account a USING (program_id, member);
\echo '== Integrity check: loyalty.verify() lists members whose ledger and lots disagree'
SELECT count(*) AS members_that_disagree FROM loyalty.verify();
