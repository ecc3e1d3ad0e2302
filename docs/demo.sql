-- Demo: a Telunsu-style program, a few hundred members, a simulated year.
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
       loyalty.add_rule('telunsu', 'birthday', 'multiplier', '{"factor": 2, "birthday_month": true}'),
       loyalty.add_rule('telunsu', 'ladder_5k', 'bonus', '{"points": 500, "min_amount": 5000, "group": "ladder"}'),
       loyalty.add_rule('telunsu', 'ladder_10k', 'bonus', '{"points": 1200, "min_amount": 10000, "group": "ladder"}'),
       loyalty.add_rule('telunsu', 'signup', 'event', '{"event": "signup", "points": 50}'),
       loyalty.add_rule('telunsu', 'survey', 'event', '{"event": "survey", "points": 100, "max_per_day": 1}'),
       loyalty.add_rule('telunsu', 'share', 'event', '{"event": "share", "points": 100, "max_per_day": 1}'),
       loyalty.add_rule('telunsu', 'checkin', 'event', '{"event": "checkin", "points": 1}'),
       loyalty.add_rule('telunsu', 'checkin30', 'streak', '{"event": "checkin", "days": 30, "points": 100}'),
       loyalty.add_rule('telunsu', 'referral', 'referral', '{"referrer_points": 300, "referrer_share": 0.1, "referee_points": 50}') \g /dev/null

SELECT setseed(0.42) \g /dev/null
-- 500 members, a tenth referred by an earlier member
SELECT loyalty.enroll('telunsu', 'm' || i, timestamptz '2026-01-01' + (i % 60) * interval '1 day',
                      birthday => date '1980-01-01' + (i * 37 % 9000),
                      referred_by => CASE WHEN i > 50 AND i % 10 = 0 THEN 'm' || (i / 10) END)
FROM generate_series(1, 500) AS i \g /dev/null
-- a year of purchases through the public function
SELECT count(*) FROM (
  SELECT loyalty.earn('telunsu', 'm' || (1 + (random() * 499)::int),
                      round((20 + random() ^ 3 * 12000)::numeric, 2), 'o' || n,
                      timestamptz '2026-03-01' + random() * interval '270 days',
                      CASE WHEN random() < 0.2 THEN 'gift_box' END)
  FROM generate_series(1, 6000) AS n ORDER BY 1) s \g /dev/null
SELECT count(*) FROM (
  SELECT loyalty.record_event('telunsu', 'm' || (1 + (random() * 499)::int),
                              (ARRAY['survey', 'share', 'checkin'])[1 + (random() * 2)::int], 'e' || n,
                              timestamptz '2026-03-01' + random() * interval '270 days')
  FROM generate_series(1, 3000) AS n) s \g /dev/null
-- redemptions where the balance allows (300 points = one latte)
SELECT count(*) FROM (
  SELECT loyalty.redeem('telunsu', member, 300 * (1 + (random() * 3)::int), 'r-' || member, '2026-12-01')
  FROM loyalty.account WHERE loyalty.balance('telunsu', member, '2026-12-01') >= 1200) s \g /dev/null

\echo
\echo '== Telunsu dairy club: members by tier'
SELECT coalesce(tier, '-') AS tier, count(*) AS members
FROM loyalty.account GROUP BY tier ORDER BY min(tier_since) NULLS FIRST;
\echo '== Points outstanding, earned, redeemed'
SELECT sum(points) FILTER (WHERE points > 0) AS earned,
       -sum(points) FILTER (WHERE kind = 'redeem') AS redeemed,
       sum(points) AS outstanding
FROM loyalty.ledger;
\echo '== What each campaign cost (points from each rule)'
SELECT r.key AS rule, count(*) AS purchases, sum(r.value::bigint) AS points
FROM loyalty.ledger l, jsonb_each_text(l.detail -> 'rules') r
WHERE l.kind = 'earn' GROUP BY r.key ORDER BY points DESC;
\echo '== Top 5 members'
SELECT member, loyalty.tier_of('telunsu', member) AS tier,
       loyalty.balance('telunsu', member, '2026-12-31') AS balance
FROM loyalty.account ORDER BY balance DESC LIMIT 5;
\echo '== How 12,345.67 yuan of gift boxes on member day is calculated for m1'
SELECT * FROM loyalty.quote('telunsu', 'm1', 12345.67, '2026-11-20 10:00+08', 'gift_box');
\echo '== Integrity check (no rows = every ledger matches its lots)'
SELECT * FROM loyalty.verify();
