-- Business time (SPEC §3): history for past instants, results that do not
-- depend on the scheduled procedures, expired points never charged twice,
-- dated tier changes; and the money rules around debt and pending points.
-- Each block names the issue item it pins (issue #8 "hardening", #9 "money
-- rules"); the figures in the comments are the expected ones.
\i test/sql/preamble.psql
CREATE FUNCTION pg_temp.stmt(prog text, m text)
RETURNS TABLE(at timestamptz, kind text, points bigint, balance_after bigint, ref text)
LANGUAGE sql AS $f$
  SELECT s.at, s.kind, s.points, s.balance_after, s.ref FROM loyalty.statement s
  WHERE s.program = prog AND s.member = m ORDER BY s.at, s.id
$f$;

------------------------------------------------------------------------------
-- #8.8 balance(at) of a past instant is the balance then (ledger history)
------------------------------------------------------------------------------
SELECT loyalty.create_program('hist') > 0 AS ok;
SELECT loyalty.earn('hist', 'm', 100, 'jan', '2026-01-10'),
       loyalty.redeem('hist', 'm', 60, 'jun', '2026-06-10'),
       loyalty.earn('hist', 'm', 50, 'jul', '2026-07-10'),
       loyalty.refund('hist', 'm', 'jul', 50, 'aug', '2026-08-10');
-- 100 / 40 / 90 / 40
SELECT loyalty.balance('hist', 'm', '2026-03-01') AS mar,
       loyalty.balance('hist', 'm', '2026-06-15') AS mid_jun,
       loyalty.balance('hist', 'm', '2026-07-15') AS mid_jul,
       loyalty.balance('hist', 'm', '2026-09-01') AS sep;
-- a till that syncs late: a January purchase written after a February one;
-- the statement runs in business time, balance_after matching the dates
SELECT loyalty.earn('hist', 'late', 30, 'feb', '2026-02-01'),
       loyalty.earn('hist', 'late', 20, 'jan-synced-late', '2026-01-05');
SELECT * FROM pg_temp.stmt('hist', 'late');
SELECT loyalty.balance('hist', 'late', '2026-01-20') AS jan20_is_20;
-- a back-dated redeem returns the balance of its own instant
SELECT loyalty.redeem('hist', 'late', 15, 'r-jan', '2026-01-10') AS left_jan10,
       loyalty.balance('hist', 'late', '2026-01-10') AS balance_jan10,
       loyalty.balance('hist', 'late', '2026-02-02') AS balance_feb2;
-- points spent since cannot be spent again at an earlier date
SELECT loyalty.redeem('hist', 'late', 35, 'r-all', '2026-03-01') AS all_spent;
SELECT pg_temp.err($$SELECT loyalty.redeem('hist', 'late', 1, 'r-again', '2026-02-15')$$);
SELECT loyalty.balance('hist', 'late', '2026-02-15') AS history_feb15;
-- a replay returns the first answer
SELECT loyalty.redeem('hist', 'late', 15, 'r-jan', '2026-01-10') AS replay;

------------------------------------------------------------------------------
-- #8.5 back-dated operations give the same result whether or not the sweep
-- ran; the sweep is then corrected by new rows, never rewritten
------------------------------------------------------------------------------
SELECT loyalty.create_program('job', expiry => 'fixed', expiry_after => '30 days') > 0 AS ok;
SELECT loyalty.earn('job', 'a', 100, 'o1', '2026-01-01'), loyalty.earn('job', 'a', 50, 'o2', '2026-01-20');
-- redeem 120 dated 30 Jan: 30 left, swept or not
BEGIN;
SELECT loyalty.redeem('job', 'a', 120, 'r1', '2026-01-30') AS unswept;
SELECT loyalty.balance('job', 'a', '2026-02-25') AS unswept_feb25;
ROLLBACK;
BEGIN;
CALL loyalty.expire_points('2026-02-10');
SELECT loyalty.redeem('job', 'a', 120, 'r1', '2026-01-30') AS swept;
SELECT loyalty.balance('job', 'a', '2026-02-25') AS swept_feb25;
SELECT kind, points, at, reason FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'job' AND kind = 'expire' ORDER BY l.id;
SELECT * FROM loyalty.verify();
ROLLBACK;
-- a full refund of o1 dated 20 Jan: balance 0 and no debt, swept or not
BEGIN;
SELECT loyalty.refund('job', 'a', 'o1', 100, 'rf1', '2026-01-20') AS clawed_unswept;
SELECT loyalty.balance('job', 'a', '2026-01-25') AS jan25, a.debt
FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id WHERE p.code = 'job';
ROLLBACK;
BEGIN;
CALL loyalty.expire_points('2026-03-01');
SELECT loyalty.refund('job', 'a', 'o1', 100, 'rf1', '2026-01-20') AS clawed_swept;
SELECT loyalty.balance('job', 'a', '2026-01-25') AS jan25, a.debt
FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id WHERE p.code = 'job';
SELECT loyalty.balance('job', 'a', '2026-02-25') AS feb25_o2_expired_too;
SELECT * FROM loyalty.verify();
ROLLBACK;
-- every past balance is the same after a sweep at any as_of
SELECT array_agg(loyalty.balance('job', 'a', d) ORDER BY d) AS before_sweeps
FROM generate_series(timestamptz '2025-12-31', '2026-03-01', interval '5 days') d \gset
CALL loyalty.expire_points('2026-01-31 00:00');
CALL loyalty.expire_points('2030-01-01');
SELECT array_agg(loyalty.balance('job', 'a', d) ORDER BY d) = :'before_sweeps' AS same_after_sweeps
FROM generate_series(timestamptz '2025-12-31', '2026-03-01', interval '5 days') d;

------------------------------------------------------------------------------
-- #8.4 a sweep with a future as_of changes nothing anyone sees before then
------------------------------------------------------------------------------
SELECT loyalty.create_program('fut', expiry => 'fixed', expiry_after => '30 days') > 0 AS ok;
SELECT loyalty.add_tier('fut', 'silver', 0), loyalty.add_tier('fut', 'gold', 1000, 2);
SELECT loyalty.earn('fut', 'm', 1500, 'o1', now() - interval '1 day') AS earned;
SELECT loyalty.tier_of('fut', 'm') AS tier_today;
CALL loyalty.run_maintenance(now() + interval '2 years');
-- today: still 1500 spendable, still gold, today's purchase earns at gold (2x)
SELECT loyalty.balance('fut', 'm') AS balance_today,
       loyalty.tier_of('fut', 'm') AS tier_today,
       loyalty.tier_of('fut', 'm', now() + interval '2 years') AS tier_in_two_years;
SELECT loyalty.earn('fut', 'm', 10, 'o2') AS earned_today_at_gold;
SELECT loyalty.redeem('fut', 'm', 1500, 'r1') AS redeem_today;
-- the views show the state as of now: no future expiry or tier rows
SELECT count(*) AS future_rows_in_statement FROM loyalty.statement WHERE program = 'fut' AND at > now();
SELECT count(*) AS future_rows_in_tier_history FROM loyalty.tier_history WHERE program = 'fut' AND at > now();
SELECT tier, available FROM loyalty.member_summary WHERE program = 'fut';
SELECT * FROM loyalty.verify();

------------------------------------------------------------------------------
-- #8.9 a refund of an order whose points already expired takes them from
-- the expiry, not from the member
------------------------------------------------------------------------------
SELECT loyalty.create_program('expref', expiry => 'fixed', expiry_after => '30 days') > 0 AS ok;
SELECT loyalty.earn('expref', 'a', 100, 'o1', '2026-01-01'),
       loyalty.earn('expref', 'b', 100, 'o1', '2026-01-01'),
       loyalty.redeem('expref', 'b', 60, 'r1', '2026-01-10');
CALL loyalty.expire_points('2026-02-05');   -- b's lot is swept, a's stays unswept
-- a: all 100 expired; the refund claws 100, all of it from the expiry: no debt
-- b: 40 expired, 60 spent; the refund takes 40 from the expiry, 60 is debt
SELECT loyalty.refund('expref', 'a', 'o1', 100, 'rf', '2026-02-10') AS a_clawed,
       loyalty.refund('expref', 'b', 'o1', 100, 'rf', '2026-02-10') AS b_clawed;
SELECT member, available, debt, lifetime_expired FROM loyalty.member_summary
WHERE program = 'expref' ORDER BY member;
SELECT member, kind, points, at, reason FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'expref' ORDER BY member, l.at, l.id;
SELECT loyalty.balance('expref', 'a', '2026-02-05') AS a_expired_then,
       loyalty.balance('expref', 'a', '2026-02-11') AS a_after_refund;
SELECT * FROM loyalty.verify();

------------------------------------------------------------------------------
-- #8.10 a back-dated purchase earns with the tier held at its own time
------------------------------------------------------------------------------
SELECT loyalty.create_program('tat') > 0 AS ok;
SELECT loyalty.add_tier('tat', 'silver', 0), loyalty.add_tier('tat', 'gold', 1000, 2);
SELECT loyalty.earn('tat', 'm', 1000, 'o1', '2026-03-01') AS crosses_gold;
SELECT loyalty.earn('tat', 'm', 100, 'back', '2026-02-01') AS silver_then,
       loyalty.earn('tat', 'm', 100, 'after', '2026-03-02') AS gold_now;
SELECT loyalty.tier_of('tat', 'm', '2026-02-28') AS feb, loyalty.tier_of('tat', 'm', '2026-03-01') AS mar;

------------------------------------------------------------------------------
-- tier periods that ended are evaluated when the purchase is made, as
-- evaluate_tiers would: points do not depend on when the job runs
------------------------------------------------------------------------------
SELECT loyalty.create_program('lazy') > 0 AS ok;
SELECT loyalty.add_tier('lazy', 'silver', 0), loyalty.add_tier('lazy', 'gold', 1000, 2);
SELECT loyalty.earn('lazy', 'a', 1000, 'o1', '2026-03-01'), loyalty.earn('lazy', 'b', 1000, 'o1', '2026-03-01');
-- gold until 2028-01-01; nothing in 2027: downgraded at 2028-01-01
BEGIN;
CALL loyalty.evaluate_tiers('2028-01-02');
SELECT loyalty.earn('lazy', 'a', 100, 'o2', '2028-03-01') AS after_job;
ROLLBACK;
SELECT loyalty.earn('lazy', 'b', 100, 'o2', '2028-03-01') AS without_job;
SELECT loyalty.tier_of('lazy', 'b', '2028-03-01') AS b_tier, loyalty.tier_of('lazy', 'a', '2028-03-01') AS a_tier;
SELECT member, at, from_tier, to_tier, reason FROM loyalty.tier_history WHERE program = 'lazy' ORDER BY member, at;

------------------------------------------------------------------------------
-- #8.11 quote = earn for a new member whose signup points cross a tier
------------------------------------------------------------------------------
SELECT loyalty.create_program('qn') > 0 AS ok;
SELECT loyalty.add_tier('qn', 'silver', 0), loyalty.add_tier('qn', 'gold', 100, 2);
SELECT loyalty.add_rule('qn', 'welcome', 'event', '{"event": "signup", "points": 150}');
SELECT * FROM loyalty.quote('qn', 'newbie', 10, '2026-05-01');
SELECT loyalty.earn('qn', 'newbie', 10, 'o1', '2026-05-01') AS earned;

------------------------------------------------------------------------------
-- #8.12 event caps count the capped rule's own payouts
------------------------------------------------------------------------------
SELECT loyalty.create_program('cap') > 0 AS ok;
SELECT loyalty.add_rule('cap', 'survey5', 'event', '{"event": "survey", "points": 10, "max_total": 5}'),
       loyalty.add_rule('cap', 'survey_any', 'event', '{"event": "survey", "points": 1}'),
       loyalty.add_rule('cap', 'daily2', 'event', '{"event": "checkin", "points": 5, "max_per_day": 2}');
SELECT string_agg(loyalty.record_event('cap', 'm', 'survey', 's' || g, '2026-05-01'::timestamptz + g * interval '1 hour')::text, ','
                  ORDER BY g) AS survey_payouts FROM generate_series(1, 7) g;
SELECT string_agg(loyalty.record_event('cap', 'm', 'checkin', 'c' || g, '2026-05-01'::timestamptz + g * interval '8 hours')::text, ','
                  ORDER BY g) AS checkin_payouts FROM generate_series(1, 6) g;
SELECT rule, purchases, points FROM loyalty.rule_stats WHERE program = 'cap' ORDER BY rule;

------------------------------------------------------------------------------
-- #8.13 time zones: names only, POSIX offsets refused
------------------------------------------------------------------------------
SELECT pg_temp.err($$SELECT loyalty.create_program('tz1', timezone => 'UTC+8')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('tz2', timezone => '+08:00')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('tz3', timezone => 'Mars/Olympus')$$);
SELECT loyalty.create_program('tz4', timezone => 'asia/shanghai') > 0 AS ok;
SELECT timezone FROM loyalty.program WHERE code = 'tz4';

------------------------------------------------------------------------------
-- #8.14 create_program again changes exactly the settings passed
------------------------------------------------------------------------------
SELECT loyalty.create_program('ren', name => 'Old', timezone => 'Asia/Shanghai', expiry => 'fixed',
                              expiry_after => '3 years', points_per_unit => 2, max_multiplier => 3) > 0 AS ok;
SELECT loyalty.create_program('ren', name => 'New name') > 0 AS ok;
SELECT name, timezone, expiry, expiry_after, points_per_unit, max_multiplier FROM loyalty.program WHERE code = 'ren';
SELECT loyalty.create_program('ren', max_multiplier => 'infinity', expiry => 'none') > 0 AS ok;
SELECT name, timezone, expiry, expiry_after, points_per_unit, max_multiplier FROM loyalty.program WHERE code = 'ren';
SELECT pg_temp.err($$SELECT loyalty.create_program('ren', expiry_after => '1 year')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('ren', expiry => 'fixed')$$);

------------------------------------------------------------------------------
-- #8.17 assorted: 0-point purchases push no rolling expiry, signup cannot be
-- recorded, keys of over 200 characters, long values cut in messages
------------------------------------------------------------------------------
SELECT loyalty.create_program('roll0', expiry => 'rolling', expiry_after => '180 days', unit => 10) > 0 AS ok;
SELECT loyalty.earn('roll0', 'g', 100, 'mar', '2026-03-01') AS ten_points,
       loyalty.earn('roll0', 'g', 5, 'may-zero', '2026-05-01') AS zero_points;
SELECT ref, points, expires_at FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'roll0' ORDER BY l.id;
SELECT loyalty.add_rule('roll0', 'welcome', 'event', '{"event": "signup", "points": 5}');
SELECT pg_temp.err($$SELECT loyalty.record_event('roll0', 'g', 'signup', 'again', '2026-05-02')$$);
SELECT pg_temp.err(format('SELECT loyalty.earn(%L, %L, 10, %L)', 'roll0', repeat('m', 201), 'r'));
SELECT pg_temp.err(format('SELECT loyalty.earn(%L, %L, 10, %L)', 'roll0', 'g', repeat('r', 3000)));
SELECT pg_temp.err(format('SELECT loyalty.redeem(%L, %L, 10, %L)', 'roll0', repeat('x', 3000), 'r'));
SELECT length(pg_temp.err(format('SELECT loyalty.record_event(%L, %L, %L, %L)', 'roll0', 'g', repeat('e', 100000), 'r'))) < 200
       AS message_is_short;
SELECT loyalty.earn('roll0', repeat('m', 200), 10, repeat('r', 200), '2026-06-01') AS two_hundred_is_fine;
-- a purchase dated in year 20260 is not shown by views that show now
SELECT loyalty.create_program('far20260') > 0 AS ok;
SELECT loyalty.earn('far20260', 'f', 10, 'now', '2026-01-01'), loyalty.earn('far20260', 'f', 10, 'far', '20260-01-01'),
       loyalty.earn('far20260', 'f', 10, 'year5', '0005-06-01');
-- (the days and months are found by a skip scan: year 5 costs one probe)
SELECT day, earned FROM loyalty.activity_daily WHERE program = 'far20260' ORDER BY day;
SELECT month, points FROM loyalty.leaderboard WHERE program = 'far20260' ORDER BY month;

------------------------------------------------------------------------------
-- #9.1 every credit repays debt first, a transfer in too
------------------------------------------------------------------------------
SELECT loyalty.create_program('debt', expiry => 'fixed', expiry_after => '30 days') > 0 AS ok;
SELECT loyalty.earn('debt', 'a', 100, 'o1', '2026-01-01'),
       loyalty.redeem('debt', 'a', 100, 'r1', '2026-01-02'),
       loyalty.refund('debt', 'a', 'o1', 100, 'rf1', '2026-01-03');
SELECT loyalty.earn('debt', 'b', 150, 'o1', '2026-01-04');
SELECT loyalty.transfer('debt', 'b', 'a', 150, 't1', '2026-01-05');
SELECT loyalty.redeem('debt', 'a', 50, 'r2', '2026-01-06') AS left_after_redeem;
-- after the transferred lot's expiry (b earned it on 4 Jan): 0, not -100
SELECT loyalty.balance('debt', 'a', '2026-02-10') AS after_expiry, a.debt
FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id WHERE p.code = 'debt' AND a.member = 'a';

------------------------------------------------------------------------------
-- #9.2 a pending credit repays debt only when it becomes available
------------------------------------------------------------------------------
SELECT loyalty.create_program('pdebt', pending_for => '7 days') > 0 AS ok;
SELECT loyalty.earn('pdebt', 'a', 100, 'o1', '2026-01-02'),
       loyalty.redeem('pdebt', 'a', 100, 'r1', '2026-01-10'),
       loyalty.refund('pdebt', 'a', 'o1', 100, 'rf1', '2026-01-11') AS clawed;
-- debt 100; a pending purchase of 60
SELECT loyalty.earn('pdebt', 'a', 60, 'o2', now()) AS pending_purchase;
SELECT available, pending, debt FROM loyalty.member_summary WHERE program = 'pdebt';
SELECT loyalty.balance('pdebt', 'a', now()) AS now_minus_100,
       loyalty.balance('pdebt', 'a', now() + interval '8 days') AS in_8_days_minus_40;
-- with the balance brought to 0 by a transfer, the pending points are not
-- spendable today (the 100 of o3 repay nothing before they are available)
SELECT loyalty.enroll('pdebt', 'c', now() - interval '1 day'),
       loyalty.adjust('pdebt', 'c', 100, 'seed', 'seed-c', now()) AS c_seeded;
SELECT loyalty.transfer('pdebt', 'c', 'a', 100, 't1', now());
SELECT loyalty.earn('pdebt', 'a', 100, 'o3', now()) AS pending_again;
SELECT loyalty.balance('pdebt', 'a', now()) AS zero_today;
SELECT pg_temp.err($$SELECT loyalty.redeem('pdebt', 'a', 100, 'r2', now())$$);
SELECT * FROM loyalty.verify();

------------------------------------------------------------------------------
-- #9.6 liability values members enrolled before any tier at the lowest tier's rate
------------------------------------------------------------------------------
SELECT loyalty.create_program('liab') > 0 AS ok;
SELECT loyalty.earn('liab', 'early', 1600, 'o1', '2026-01-01');
SELECT loyalty.add_tier('liab', 'base', 0, 1, 200);
SELECT outstanding_points, outstanding_value FROM loyalty.liability WHERE program = 'liab';

------------------------------------------------------------------------------
-- #9.7 points cannot expire before they are available
------------------------------------------------------------------------------
SELECT pg_temp.err($$SELECT loyalty.create_program('pe1', expiry => 'fixed', expiry_after => '7 days', pending_for => '30 days')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('pe2', expiry => 'rolling', expiry_after => '7 days', pending_for => '7 days')$$);
SELECT loyalty.create_program('pe3', expiry => 'end_of_period', expiry_after => '0', pending_for => '7 days') > 0 AS ok;
-- year-end clearing: a purchase of the year's last week expires at the end of the year it becomes available
SELECT loyalty.earn('pe3', 'a', 100, 'xmas', '2026-12-28');
SELECT available_at, expires_at FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id WHERE p.code = 'pe3';
SELECT loyalty.balance('pe3', 'a', '2027-01-05') AS spendable_in_january;

------------------------------------------------------------------------------
-- #9.8, #9.10, #9.14 configuration ranges, overflow, referrers of existing members
------------------------------------------------------------------------------
SELECT loyalty.create_program('ranges') > 0 AS ok;
SELECT pg_temp.err($$SELECT loyalty.add_rule('ranges', 'huge', 'multiplier', '{"factor": 1e400}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('ranges', 'big', 'multiplier', '{"factor": 101}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('ranges', 'st', 'streak', '{"event": "signup", "days": 3, "points": 5}')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('ranges', points_per_unit => 1e400)$$);
SELECT pg_temp.err($$SELECT loyalty.add_tier('ranges', 'base', 0, 1000)$$);
SELECT loyalty.add_rule('ranges', 'wine1', 'category_rate', '{"category": "wine", "points_per_unit": 1}'),
       loyalty.add_rule('ranges', 'wine2', 'category_rate', '{"category": "wine", "points_per_unit": 3}');
SELECT loyalty.earn('ranges', 'm', 10, 'o1', '2026-01-01', 'wine') AS the_last_added_rate_wins;
-- a referral payout past bigint: 22003, nothing written
SELECT loyalty.add_rule('ranges', 'ref', 'referral', '{"referrer_points": 1000000000000, "referrer_share": 100}');
SELECT loyalty.enroll('ranges', 'referrer', '2026-01-01'),
       loyalty.enroll('ranges', 'friend', '2026-01-02', referred_by => 'referrer');
SELECT pg_temp.err($$SELECT loyalty.earn('ranges', 'friend', 92233720368547758, 'big', '2026-01-03')$$);
SELECT referral_paid, purchases FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
WHERE p.code = 'ranges' AND member = 'friend';
-- an existing member's referrer is ignored, even an unknown one
SELECT pg_temp.err($$SELECT loyalty.enroll('ranges', 'friend', '2026-01-05', referred_by => 'nobody')$$);
SELECT * FROM loyalty.verify();

------------------------------------------------------------------------------
-- #9.9 durations: days are calendar steps, hours are elapsed time (DST)
------------------------------------------------------------------------------
SELECT loyalty.create_program('dst_h', timezone => 'America/New_York', pending_for => '24 hours',
                              expiry => 'fixed', expiry_after => '2 days 2 hours') > 0 AS ok;
SELECT loyalty.create_program('dst_d', timezone => 'America/New_York', pending_for => '1 day') > 0 AS ok;
-- 2026-03-08 02:00 local: clocks go forward one hour
SELECT loyalty.earn('dst_h', 'm', 10, 'o', '2026-03-07 12:00-05'), loyalty.earn('dst_d', 'm', 10, 'o', '2026-03-07 12:00-05');
SELECT p.code, l.available_at - l.earned_at AS pending_real_time,
       l.available_at AT TIME ZONE 'America/New_York' AS available_local,
       l.expires_at AT TIME ZONE 'America/New_York' AS expires_local
FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code IN ('dst_h', 'dst_d') ORDER BY p.code;

------------------------------------------------------------------------------
-- Found in review: a refund dated inside its purchase's pending period after
-- the points matured and were spent; debt owed again when a pending purchase
-- is refunded is repaid from what the member holds (not charged twice)
------------------------------------------------------------------------------
SELECT loyalty.create_program('rv1', pending_for => '30 days') > 0 AS ok;
SELECT loyalty.earn('rv1', 'm', 100, 'o', '2026-01-02'),
       loyalty.redeem('rv1', 'm', 60, 'r1', '2026-02-05');
-- dated 10 Jan: the lot was pending then, so the refund cancels pending points
SELECT loyalty.refund('rv1', 'm', 'o', 100, 'ro', '2026-01-10') AS clawed;
SELECT loyalty.balance('rv1', 'm', '2026-03-01') AS owes_the_60_spent, a.debt
FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id WHERE p.code = 'rv1';
SELECT loyalty.create_program('rv2', pending_for => '30 days', expiry => 'fixed', expiry_after => '60 days') > 0 AS ok;
SELECT loyalty.earn('rv2', 'm', 100, 'y', '2026-10-01'),
       loyalty.redeem('rv2', 'm', 100, 'r1', '2026-11-01'),
       loyalty.earn('rv2', 'm', 100, 'o', '2026-11-02'),
       loyalty.refund('rv2', 'm', 'y', 100, 'ry', '2026-11-03');   -- debt 100, repaid by o when available
SELECT loyalty.adjust('rv2', 'm', 100, 'goodwill', 'ad', '2026-11-04') AS after_goodwill;
SELECT loyalty.refund('rv2', 'm', 'o', 100, 'ro', '2026-11-05') AS clawed;  -- o cancelled: the goodwill repays
SELECT loyalty.balance('rv2', 'm', '2026-11-06') AS nov6, loyalty.balance('rv2', 'm', '2027-02-01') AS after_expiry;
SELECT * FROM loyalty.verify();

------------------------------------------------------------------------------
-- Found in review: an evaluation's renewal is redone by a late refund or a
-- late credit in the window it judged, whether or not the job ran first
------------------------------------------------------------------------------
SELECT loyalty.create_program('rv3') > 0 AS ok;
SELECT loyalty.add_tier('rv3', 'silver', 0), loyalty.add_tier('rv3', 'gold', 1000), loyalty.add_tier('rv3', 'plat', 2000);
SELECT loyalty.earn('rv3', m, 1000, 'o24', '2024-03-01'), loyalty.earn('rv3', m, 1000, 'o25', '2025-05-01')
FROM unnest(ARRAY['a', 'b']) m;
SELECT loyalty.earn('rv3', m, 1000, 'o24', '2024-03-01'), loyalty.earn('rv3', m, 1000, 'o25', '2025-06-01')
FROM unnest(ARRAY['c', 'd']) m;
CALL loyalty.evaluate_tiers('2026-01-05');   -- a and c renewed gold (b and d: no job)
SELECT loyalty.refund('rv3', m, 'o25', 1000, 'r25', '2026-02-01') FROM unnest(ARRAY['a', 'b']) m;
SELECT loyalty.earn('rv3', m, 1000, 'late', '2025-02-01') FROM unnest(ARRAY['c', 'd']) m;
SELECT m AS member, loyalty.tier_of('rv3', m, '2026-03-01') AS tier
FROM unnest(ARRAY['a', 'b', 'c', 'd']) m;

------------------------------------------------------------------------------
-- Found in review: the views agree with tier_of for a lifetime window
------------------------------------------------------------------------------
SELECT loyalty.create_program('rv4') > 0 AS ok;
SELECT loyalty.add_tier('rv4', 'silver', 0), loyalty.add_tier('rv4', 'gold', 1000);
SELECT loyalty.earn('rv4', 'g', 1500, 'o1', '2023-03-01');
SELECT loyalty.create_program('rv4', tier_window => 'lifetime') > 0 AS ok;
SELECT loyalty.tier_of('rv4', 'g') AS tier_of, s.tier AS summary
FROM loyalty.member_summary s WHERE s.program = 'rv4';
-- long values are cut in messages
SELECT length(pg_temp.err(format('SELECT loyalty.balance(%L, %L)', repeat('x', 100000), 'm'))) < 200 AS short_1,
       length(pg_temp.err(format('SELECT loyalty.add_rule(%L, %L, %L, %L)', 'rv4', 'r', repeat('k', 100000), '{}'))) < 200 AS short_2,
       length(pg_temp.err(format('SELECT loyalty.add_rule(%L, %L, %L, %L)', 'rv4', 'r', 'bonus',
                                 format('{"%s": 1}', repeat('p', 100000))))) < 300 AS short_3;
