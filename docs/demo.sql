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
\echo 'Simulating a year of the Telunsu dairy club: 500 members, 6000 purchases, refunds, events, redemptions...'
-- 500 members, a tenth referred by an earlier member
SELECT loyalty.enroll('telunsu', 'm' || i, timestamptz '2026-01-01' + (i % 60) * interval '1 day',
                      birthday => date '1980-01-01' + (i * 37 % 9000),
                      referred_by => CASE WHEN i > 50 AND i % 10 = 0 THEN 'm' || (i / 10) END)
FROM generate_series(1, 500) AS i \g /dev/null
-- a year of purchases and events through the public functions, in time order
SELECT count(*) FROM (
  SELECT loyalty.earn('telunsu', g.member, g.amount, 'o' || g.n, g.at, g.category)
  FROM (SELECT n, 'm' || (1 + (random() * 499)::int) AS member,
               round((15 + random() ^ 4 * 3000)::numeric, 2) AS amount,
               timestamptz '2026-01-05' + random() * interval '320 days' AS at,
               CASE WHEN random() < 0.2 THEN 'gift_box' END AS category
        FROM generate_series(1, 6000) AS n ORDER BY at) g) s \g /dev/null
SELECT count(*) FROM (
  SELECT loyalty.record_event('telunsu', g.member, g.event, 'e' || g.n, g.at)
  FROM (SELECT n, 'm' || (1 + (random() * 499)::int) AS member,
               (ARRAY['survey', 'share', 'checkin'])[1 + (random() * 2)::int] AS event,
               timestamptz '2026-01-05' + random() * interval '320 days' AS at
        FROM generate_series(1, 3000) AS n ORDER BY at) g) s \g /dev/null
-- refunds: one order in twenty comes back, half of them partly
SELECT count(*) FROM (
  SELECT loyalty.refund('telunsu', l.member, l.ref,
                        CASE WHEN l.id % 2 = 0 THEN l.amount ELSE round(l.amount / 3, 2) END,
                        'rf-' || l.ref, l.at + interval '3 days')
  FROM loyalty.ledger l WHERE l.kind = 'earn' AND l.id % 20 = 0) s \g /dev/null
-- redemptions where the balance allows (300 points = one latte)
SELECT count(*) FROM (
  SELECT loyalty.redeem('telunsu', member, 300 * (1 + (random() * 3)::int), 'r-' || member, '2026-11-21')
  FROM loyalty.account WHERE loyalty.balance('telunsu', member, '2026-11-21') >= 1200) s \g /dev/null

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
       sum(redeemed) AS redeemed, sum(clawed_back) AS clawed_back, sum(new_members) AS new_members
FROM loyalty.activity_daily WHERE program = 'telunsu' GROUP BY 1 ORDER BY 1;
\echo '== Leaderboard, last three months (top 10 get the invitation)'
SELECT to_char(month, 'YYYY-MM') AS month, rank, member, points FROM loyalty.leaderboard
WHERE program = 'telunsu' AND month >= date '2026-09-01' ORDER BY month, rank;
\echo '== What each campaign cost'
SELECT rule, purchases AS uses, points FROM loyalty.rule_stats WHERE program = 'telunsu' ORDER BY points DESC;
\echo '== Member m42: summary'
SELECT tier, available, pending, lifetime_earned, lifetime_redeemed, qualifying, next_tier, to_next_tier,
       next_expiry_at::date AS next_expiry, next_expiry_points
FROM loyalty.member_summary WHERE program = 'telunsu' AND member = 'm42';
\echo '== Member m42: points detail (statement)'
SELECT to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') AS at, kind, points, balance_after, ref,
       coalesce(detail ->> 'amount', detail ->> 'event', detail ->> 'counterparty', '') AS about
FROM loyalty.statement WHERE program = 'telunsu' AND member = 'm42' ORDER BY at, id;
\echo '== Member m42: expiring points'
SELECT expires_at::date AS expires, points FROM loyalty.expiring_points
WHERE program = 'telunsu' AND member = 'm42' ORDER BY expires_at;
\echo '== How 12,345.67 yuan of gift boxes on a member day is calculated for m42'
SELECT * FROM loyalty.quote('telunsu', 'm42', 12345.67, '2026-11-20 10:00+08', 'gift_box');
\echo '== Integrity check: loyalty.verify() lists members whose ledger and lots disagree'
SELECT count(*) AS members_that_disagree FROM loyalty.verify();
