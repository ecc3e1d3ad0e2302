-- Events with caps, a 30-day streak, signup and referral.
\i test/sql/preamble.psql

SELECT loyalty.create_program('ev', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.add_rule('ev', 'signup', 'event', '{"event": "signup", "points": 50}');
SELECT loyalty.add_rule('ev', 'survey', 'event', '{"event": "survey", "points": 100, "max_per_day": 2, "max_total": 3}');
SELECT loyalty.add_rule('ev', 'share', 'event', '{"event": "share", "points": 100}');
SELECT loyalty.add_rule('ev', 'checkin', 'event', '{"event": "checkin", "points": 1}');
SELECT loyalty.add_rule('ev', 'checkin30', 'streak', '{"event": "checkin", "days": 30, "points": 100}');

-- signup fires on enrolment, explicit or automatic, once
SELECT loyalty.enroll('ev', 'ann', '2026-01-01 09:00+08');
SELECT loyalty.enroll('ev', 'ann', '2026-01-02 09:00+08');
SELECT loyalty.balance('ev', 'ann', '2026-01-03') AS ann_after_signup;

-- caps: 2 a local day, 3 in all; over a cap it credits 0, no error
SELECT loyalty.record_event('ev', 'ann', 'survey', 's1', '2026-01-05 23:00+08') AS s1,
       loyalty.record_event('ev', 'ann', 'survey', 's2', '2026-01-05 23:30+08') AS s2,
       loyalty.record_event('ev', 'ann', 'survey', 's3', '2026-01-05 23:59+08') AS s3_day_cap,
       loyalty.record_event('ev', 'ann', 'survey', 's4', '2026-01-06 00:00+08') AS s4_next_local_day,
       loyalty.record_event('ev', 'ann', 'survey', 's5', '2026-01-07 10:00+08') AS s5_total_cap;
-- a retry returns the first answer and writes nothing
SELECT loyalty.record_event('ev', 'ann', 'survey', 's1', '2026-02-01') AS s1_again;
SELECT count(*) AS survey_rows FROM loyalty.ledger WHERE kind = 'event' AND event = 'survey';
SELECT pg_temp.err($$SELECT loyalty.record_event('ev', 'ann', 'share', 's1', '2026-01-05')$$);
SELECT pg_temp.err($$SELECT loyalty.record_event('ev', 'ann', 'dance', 'd1', '2026-01-05')$$);
-- record_event enrols an unknown member (with its signup points)
SELECT loyalty.record_event('ev', 'ben', 'share', 'sh1', '2026-01-05') AS ben_share;
SELECT loyalty.balance('ev', 'ben', '2026-01-06') AS ben_signup_and_share;

-- a 30-day check-in streak in local days: day 30 earns the bonus, then it starts over
SELECT d AS day, loyalty.record_event('ev', 'cat', 'checkin', 'c' || d,
         timestamptz '2026-03-01 08:00+08' + (d - 1) * interval '1 day') AS points
FROM generate_series(1, 31) AS d
ORDER BY d;
-- a second check-in the same local day makes no progress; a missed day restarts
SELECT loyalty.record_event('ev', 'cat', 'checkin', 'again31', '2026-03-31 23:00+08') AS same_day;
SELECT loyalty.record_event('ev', 'cat', 'checkin', 'gap', '2026-04-03 08:00+08') AS after_gap;
SELECT last_day, days FROM loyalty.streak WHERE member = 'cat';

-- referral: referee gets 50 on joining; referrer gets 300 + 10% of the first purchase's points
SELECT loyalty.create_program('ref', rounding => 'round') > 0 AS ok;
SELECT loyalty.add_rule('ref', 'refer', 'referral', '{"referrer_points": 300, "referrer_share": 0.1, "referee_points": 50}');
SELECT loyalty.enroll('ref', 'rita', '2026-01-01');
SELECT loyalty.enroll('ref', 'fred', '2026-01-02', referred_by => 'rita');
SELECT loyalty.balance('ref', 'fred', '2026-01-03') AS fred_welcome,
       loyalty.balance('ref', 'rita', '2026-01-03') AS rita_before;
SELECT loyalty.earn('ref', 'fred', 1235, 'f1', '2026-01-04') AS fred_first;
SELECT loyalty.balance('ref', 'rita', '2026-01-05') AS rita_300_plus_124;
SELECT loyalty.earn('ref', 'fred', 1000, 'f2', '2026-01-06') AS fred_second;
SELECT loyalty.balance('ref', 'rita', '2026-01-07') AS rita_unchanged;
SELECT member, kind, points, counterparty, reason FROM loyalty.ledger l
JOIN loyalty.program p ON p.id = l.program_id WHERE p.code = 'ref' ORDER BY l.member, l.id;
SELECT pg_temp.err($$SELECT loyalty.enroll('ref', 'gus', '2026-01-02', referred_by => 'nobody')$$);
SELECT pg_temp.err($$SELECT loyalty.enroll('ref', 'gus', '2026-01-02', referred_by => 'gus')$$);
SELECT count(*) AS gus_accounts FROM loyalty.account WHERE member = 'gus';
SELECT * FROM loyalty.verify();

-- #9.3 refunds of the referee's first purchase claw the referrer's payout back
-- in the same proportion, cumulative (a bought-and-returned first order pays
-- no one); refunds of later purchases do not touch it.  Payout: 300 + 10% of
-- 1000 = 400.  Half refunded: 200 back; then a quarter more: round(400 x 0.75)
-- = 300 in all, 100 more; the last quarter: the other 100.
SELECT loyalty.create_program('rcb', rounding => 'round') > 0 AS ok;
SELECT loyalty.add_rule('rcb', 'refer', 'referral', '{"referrer_points": 300, "referrer_share": 0.1, "referee_points": 50}');
SELECT loyalty.enroll('rcb', 'rita', '2026-01-01'),
       loyalty.enroll('rcb', 'fred', '2026-01-02', referred_by => 'rita');
SELECT loyalty.earn('rcb', 'fred', 1000, 'first', '2026-01-04') AS fred_first,
       loyalty.earn('rcb', 'fred', 500, 'second', '2026-01-05') AS fred_second,
       loyalty.balance('rcb', 'rita', '2026-01-06') AS rita_paid_400;
SELECT loyalty.refund('rcb', 'fred', 'second', 500, 'r0', '2026-01-07') AS later_order_refund,
       loyalty.balance('rcb', 'rita', '2026-01-07') AS rita_still_400;
SELECT loyalty.refund('rcb', 'fred', 'first', 500, 'r1', '2026-01-08') AS half,
       loyalty.balance('rcb', 'rita', '2026-01-08') AS rita_200;
SELECT loyalty.refund('rcb', 'fred', 'first', 250, 'r2', '2026-01-09') AS quarter,
       loyalty.balance('rcb', 'rita', '2026-01-09') AS rita_100;
-- a replay of a refund claws nothing more from either member
SELECT loyalty.refund('rcb', 'fred', 'first', 250, 'r2', '2026-01-09') AS replay,
       loyalty.balance('rcb', 'rita', '2026-01-09') AS rita_still_100;
-- rita spent 50 before the last quarter: the rest of her clawback is a debt
SELECT loyalty.redeem('rcb', 'rita', 90, 'spent', '2026-01-10') AS rita_left;
SELECT loyalty.refund('rcb', 'fred', 'first', 250, 'r3', '2026-01-11') AS last_quarter;
SELECT loyalty.balance('rcb', 'rita', '2026-01-11') AS rita_owes_90;
SELECT l.member, l.kind, l.points, l.original_ref, l.counterparty, l.reason, l.qual_at, l.qual_points
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'rcb' AND l.member = 'rita' ORDER BY l.id;
SELECT a.member, a.debt FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
WHERE p.code = 'rcb' ORDER BY a.member;
-- the clawback comes off the referrer's qualifying value and leaderboard too
SELECT qualifying FROM loyalty.member_summary WHERE program = 'rcb' AND member = 'rita';
SELECT * FROM loyalty.verify();
-- the referrer's own purchase with the same ref is not confused with it
SELECT loyalty.create_program('rcb2') > 0 AS ok;
SELECT loyalty.add_rule('rcb2', 'refer', 'referral', '{"referrer_points": 100}');
-- (and an earn() earlier in the same statement is seen)
SELECT loyalty.earn('rcb2', 'rita', 70, 'o1', '2026-01-01'),
       loyalty.enroll('rcb2', 'fred', '2026-01-02', referred_by => 'rita'),
       loyalty.earn('rcb2', 'fred', 10, 'o1', '2026-01-03'),
       loyalty.refund('rcb2', 'fred', 'o1', 10, 'r1', '2026-01-04') AS fred_clawed;
SELECT loyalty.balance('rcb2', 'rita', '2026-01-05') AS rita_70;
-- the payout's lot was transferred away: the clawback is the referrer's debt
SELECT loyalty.create_program('rcb3') > 0 AS ok;
SELECT loyalty.add_rule('rcb3', 'refer', 'referral', '{"referrer_points": 100}');
SELECT loyalty.enroll('rcb3', 'rita', '2026-01-01');
SELECT loyalty.enroll('rcb3', 'fred', '2026-01-02', referred_by => 'rita');
SELECT loyalty.earn('rcb3', 'fred', 10, 'o1', '2026-01-03');
SELECT loyalty.transfer('rcb3', 'rita', 'tom', 100, 't1', '2026-01-04');
SELECT loyalty.refund('rcb3', 'fred', 'o1', 10, 'r1', '2026-01-05');
SELECT member, loyalty.balance('rcb3', member, '2026-01-06') FROM unnest(ARRAY['fred', 'rita', 'tom']) member;
SELECT * FROM loyalty.verify();
