-- test/citus/scenario.sql — the loyalty scenario test/citus.sh runs twice, on a
-- plain single-node PostgreSQL and on a Citus cluster (loyalty distributed),
-- and whose two outputs must be identical.
--
-- Rules that keep the output deterministic and comparable:
--   * every business time `at` is a fixed instant in 2021-2023 (views show the
--     state as of now(): with everything far in the past, or expiring in 2032,
--     they do not depend on when the test runs);
--   * no program id, ledger id or lot id is printed (program ids are random per
--     installation, and Citus may number rows differently): ids only order;
--   * every query has an ORDER BY;
--   * the business clock only moves forward: each call is later than the one
--     before, so every member's ledger ordered by id must be its ledger
--     ordered by at (checked at the end, expiry rows aside);
--   * each step starts with a line "#### step <name>": citus.sh compares the
--     outputs step by step and reports the steps that differ.
-- Self-checks print 'ok' or a line starting with 'CHECK FAILED'.
-- Run as a superuser; the steps switch to app_admin / app_writer / app_reader.
\set ON_ERROR_STOP off
SET client_min_messages = warning;
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
SET extra_float_digits = 0;
-- (Citus warns that it creates temporary functions on the coordinator only)
SET client_min_messages = error;
-- err(query): 'ok' or 'SQLSTATE: message' (the expected errors)
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $f$;
-- every member's balance and tier at an instant, on one line per ten members
CREATE FUNCTION pg_temp.balances(prog text, n int, at timestamptz)
RETURNS TABLE(members text, balances text) LANGUAGE sql AS $f$
  SELECT 'm' || (10 * b + 1) || '..m' || least(10 * b + 10, n),
         string_agg(loyalty.balance(prog, 'm' || g, at) || '/' || coalesce(loyalty.tier_of(prog, 'm' || g, at), '-'),
                    ' ' ORDER BY g)
  FROM generate_series(1, n) g CROSS JOIN LATERAL (SELECT (g - 1) / 10 AS b) x
  GROUP BY b ORDER BY b
$f$;
GRANT EXECUTE ON FUNCTION pg_temp.err(text), pg_temp.balances(text, int, timestamptz) TO PUBLIC;
SET client_min_messages = warning;
-- psql -v part=config runs the configuration step alone, part=ops the rest
-- (citus.sh with CITUS_CONFIG_FIRST=1: configured before distribution);
-- default: all of it
\if :{?part}
\else
\set part all
\endif
SELECT :'part' IN ('all', 'config') AS do_config, :'part' IN ('all', 'ops') AS do_ops \gset

\if :do_config

\echo '#### step config'
SET ROLE app_admin;
-- shop: fixed 1-year expiry, Shanghai time, three tiers, every rule kind
SELECT loyalty.create_program('shop', 'Shop club', timezone => 'Asia/Shanghai',
                              expiry => 'fixed', expiry_after => '1 year') > 0 AS shop;
SELECT loyalty.add_tier('shop', 'silver', 0);
SELECT loyalty.add_tier('shop', 'gold', 2000, 1.5, 130);
SELECT loyalty.add_tier('shop', 'platinum', 8000, 2, 100);
SELECT loyalty.add_rule('shop', 'member_day', 'multiplier', '{"factor": 1.5, "weekdays": [5]}');
SELECT loyalty.add_rule('shop', 'bday', 'multiplier', '{"factor": 2, "birthday_month": true}');
SELECT loyalty.add_rule('shop', 'gift', 'multiplier', '{"factor": 1.2, "categories": ["gift_box"], "tiers": ["gold", "platinum"]}');
SELECT loyalty.add_rule('shop', 'elec', 'category_rate', '{"category": "electronics", "points_per_unit": 1, "unit": 5}');
SELECT loyalty.add_rule('shop', 'ladder_1k', 'bonus', '{"points": 50, "min_amount": 1000, "group": "ladder"}');
SELECT loyalty.add_rule('shop', 'ladder_5k', 'bonus', '{"points": 500, "min_amount": 5000, "group": "ladder"}');
SELECT loyalty.add_rule('shop', 'first', 'bonus', '{"points": 20, "first_purchase": true, "min_amount": 100}');
SELECT loyalty.add_rule('shop', 'regular', 'multiplier', '{"factor": 1.1, "min_orders": 3, "orders_window": "30 days"}');
SELECT loyalty.add_rule('shop', 'signup', 'event', '{"event": "signup", "points": 20}');
SELECT loyalty.add_rule('shop', 'survey', 'event', '{"event": "survey", "points": 30, "max_per_day": 1, "max_total": 2}');
SELECT loyalty.add_rule('shop', 'checkin', 'event', '{"event": "checkin", "points": 1}');
SELECT loyalty.add_rule('shop', 'checkin3', 'streak', '{"event": "checkin", "days": 3, "points": 25}');
SELECT loyalty.add_rule('shop', 'refer', 'referral', '{"referrer_points": 300, "referrer_share": 0.1, "referee_points": 50}');
SELECT loyalty.add_rule('shop', 'dec_x3', 'multiplier', '{"factor": 3}', '2021-12-12 00:00+08', '2021-12-13 00:00+08');
SELECT loyalty.add_rule('shop', 'old', 'bonus', '{"points": 5}');
SELECT loyalty.set_rule_active('shop', 'old', false);
-- gym: rolling 180-day expiry, spend-based tiers over a rolling year, one-step downgrades
SELECT loyalty.create_program('gym', 'Gym', timezone => 'Europe/Berlin', expiry => 'rolling',
                              expiry_after => '180 days', tier_basis => 'spend',
                              tier_window => 'rolling_year', downgrade => 'one_step') > 0 AS gym;
SELECT loyalty.add_tier('gym', 'basic', 0);
SELECT loyalty.add_tier('gym', 'pro', 1000, 1.2);
SELECT loyalty.add_tier('gym', 'elite', 3000, 1.5);
SELECT loyalty.add_rule('gym', 'weekend', 'multiplier', '{"factor": 2, "weekdays": [6, 7]}');
-- cafe: end-of-period expiry (2032), pending points, rounding and additive stacking
SELECT loyalty.create_program('cafe', 'Cafe', currency => 'EUR', points_per_unit => 10, unit => 1,
                              rounding => 'round', stacking => 'add', max_multiplier => 3,
                              expiry => 'end_of_period', expiry_after => '10 years',
                              expiry_period => 'year', pending_for => '3 days',
                              tier_basis => 'orders', tier_window => 'lifetime') > 0 AS cafe;
SELECT loyalty.add_tier('cafe', 'regular', 0);
SELECT loyalty.add_tier('cafe', 'fan', 3, 1.5);
SELECT loyalty.add_rule('cafe', 'morning', 'multiplier', '{"factor": 2, "weekdays": [1, 2, 3]}');
-- camp: campaign limits and offers (SPEC §8)
SELECT loyalty.create_program('camp', unit => 10) > 0 AS camp;
SELECT loyalty.add_rule('camp', 'welcome', 'bonus', '{"points": 15, "max_per_member": 2}');
SELECT loyalty.add_rule('camp', 'pool', 'bonus', '{"points": 100, "budget": 250, "min_amount": 500}');
SELECT loyalty.add_rule('camp', 'dbl', 'multiplier', '{"factor": 2, "budget": 120, "categories": ["wine"]}');
SELECT loyalty.add_rule('camp', 'coupon', 'multiplier', '{"factor": 3, "offer": true}');
SELECT loyalty.add_rule('camp', 'card', 'bonus', '{"points": 88, "offer": true, "group": "cards"}');
RESET ROLE;
SELECT code, name, currency, points_per_unit, unit, rounding, stacking, max_multiplier, expiry,
       expiry_after, expiry_period, pending_for, tier_basis, tier_window, downgrade, timezone
FROM loyalty.program ORDER BY code;
SELECT p.code, t.code, t.threshold, t.earn_multiplier, t.points_per_value
FROM loyalty.tier t JOIN loyalty.program p ON p.id = t.program_id ORDER BY 1, 3;
SELECT p.code, r.code, r.kind, r.params, r.valid_from, r.valid_until, r.active
FROM loyalty.rule r JOIN loyalty.program p ON p.id = r.program_id ORDER BY 1, r.id;

\endif
\if :do_ops
\echo '#### step enroll'
SET ROLE app_writer;
-- m1..m50 (m5 born in February; m11, m21, m31, m41 referred by m10, m20, m30, m40)
SELECT count(*) AS enrolled FROM (
  SELECT loyalty.enroll('shop', 'm' || g, timestamptz '2021-01-04 09:00+08' + g * interval '1 minute',
                        birthday => CASE WHEN g = 5 THEN date '1990-02-14' END,
                        referred_by => CASE WHEN g % 10 = 1 AND g > 1 THEN 'm' || (g - 1) END)
  FROM generate_series(1, 50) g ORDER BY g) x;
-- enrolling again only fills in a missing birthday; LY003 for an unknown referrer
SELECT loyalty.enroll('shop', 'm6', '2021-01-04 10:00+08', birthday => '1985-07-01');
SELECT pg_temp.err($$SELECT loyalty.enroll('shop', 'x1', '2021-01-04 10:01+08', referred_by => 'nobody')$$) AS unknown_referrer;
SELECT pg_temp.err($$SELECT loyalty.enroll('shop', 'x2', '2021-01-04 10:02+08', referred_by => 'x2')$$) AS self_referral;
SELECT * FROM pg_temp.balances('shop', 50, '2021-01-05');

\echo '#### step earn_first_purchases'
-- the referees' first purchases pay their referrers (on other shards, most likely)
SELECT g, loyalty.earn('shop', 'm' || g, 1000 + g * 10, 'first-m' || g,
                       timestamptz '2021-01-05 10:00+08' + g * interval '1 minute') AS points
FROM generate_series(11, 41, 10) g ORDER BY g;
SELECT g, loyalty.balance('shop', 'm' || g, '2021-01-06') AS referrer_balance
FROM generate_series(10, 40, 10) g ORDER BY g;

\echo '#### step earn'
SELECT loyalty.earn('shop', 'm1', 9000, 'o-m1-1', '2021-01-06 11:00+08') AS m1_big;          -- to platinum
SELECT loyalty.tier_of('shop', 'm1', '2021-01-06 12:00+08') AS m1_tier;
SELECT loyalty.earn('shop', 'm1', 100, 'o-m1-2', '2021-01-08 11:00+08', 'gift_box') AS m1_friday_gift;
SELECT loyalty.earn('shop', 'm2', 250, 'o-m2-1', '2021-01-08 11:01+08', 'electronics') AS m2_elec_friday;
SELECT loyalty.earn('shop', 'm3', 6000, 'o-m3-1', '2021-01-08 11:02+08') AS m3_ladder;
SELECT loyalty.earn('shop', 'm4', 80, 'o-m4-1', '2021-01-08 11:03+08', 'food') AS m4_unknown_category;
-- idempotent replay (same answer, nothing written), other arguments LY005
SELECT loyalty.earn('shop', 'm3', 6000, 'o-m3-1', '2021-01-08 11:04+08') AS m3_replay;
SELECT pg_temp.err($$SELECT loyalty.earn('shop', 'm3', 6001, 'o-m3-1', '2021-01-08 11:05+08')$$) AS ref_reused;
SELECT pg_temp.err($$SELECT loyalty.earn('nope', 'm3', 10, 'z', '2021-01-08 11:06+08')$$) AS unknown_program;
SELECT pg_temp.err($$SELECT loyalty.earn('shop', 'm3', -1, 'z', '2021-01-08 11:07+08')$$) AS negative_amount;
RESET ROLE;
SELECT count(*) AS m3_ledger_rows FROM loyalty.ledger WHERE member = 'm3';
SET ROLE app_writer;

\echo '#### step earn_bulk'
-- 200 purchases, four per member, every three hours from 10 January
SELECT g, 'm' || (g % 50 + 1) AS member,
       loyalty.earn('shop', 'm' || (g % 50 + 1), (g * 37) % 900 + 10, 'b' || g,
                    timestamptz '2021-01-10 08:00+08' + g * interval '3 hours',
                    CASE g % 7 WHEN 0 THEN 'electronics' WHEN 3 THEN 'gift_box' END) AS points
FROM generate_series(1, 200) g ORDER BY g;
-- m5's birthday month
SELECT loyalty.earn('shop', 'm5', 500, 'o-m5-bday', '2021-02-10 10:00+08') AS m5_birthday;

\echo '#### step quote'
SELECT * FROM loyalty.quote('shop', 'm1', 1234.56, '2021-02-12 10:00+08', 'gift_box') ORDER BY source;
SELECT * FROM loyalty.quote('shop', 'm5', 5000, '2021-02-12 10:01+08') ORDER BY source;
SELECT * FROM loyalty.quote('shop', 'ghost', 200, '2021-02-12 10:02+08') ORDER BY source;
RESET ROLE;
SELECT count(*) AS ghost_not_enrolled FROM loyalty.account WHERE member = 'ghost';
SET ROLE app_writer;

\echo '#### step record_event'
SELECT loyalty.record_event('shop', 'm7', 'survey', 's1', '2021-02-15 09:00+08') AS s1,
       loyalty.record_event('shop', 'm7', 'survey', 's2', '2021-02-15 09:30+08') AS s2_day_cap,
       loyalty.record_event('shop', 'm7', 'survey', 's3', '2021-02-16 09:00+08') AS s3,
       loyalty.record_event('shop', 'm7', 'survey', 's4', '2021-02-17 09:00+08') AS s4_total_cap;
SELECT loyalty.record_event('shop', 'm7', 'survey', 's1', '2021-02-17 10:00+08') AS s1_replay;
SELECT d, loyalty.record_event('shop', 'm8', 'checkin', 'c' || d,
                               timestamptz '2021-02-15 08:00+08' + (d - 1) * interval '1 day') AS points
FROM generate_series(1, 4) d ORDER BY d;
SELECT loyalty.record_event('shop', 'newcomer', 'checkin', 'c1', '2021-02-19 08:00+08') AS enrolls_newcomer;
SELECT pg_temp.err($$SELECT loyalty.record_event('shop', 'm8', 'dance', 'c9', '2021-02-19 09:00+08')$$) AS unknown_event;

\echo '#### step redeem'
SELECT loyalty.redeem('shop', 'm1', 100, 'r-m1-1', '2021-03-01 10:00+08') AS m1_after;
SELECT loyalty.redeem('shop', 'm1', 100, 'r-m1-1', '2021-03-01 10:01+08') AS m1_replay;
SELECT pg_temp.err($$SELECT loyalty.redeem('shop', 'm1', 101, 'r-m1-1', '2021-03-01 10:02+08')$$) AS ref_reused;
SELECT pg_temp.err($$SELECT loyalty.redeem('shop', 'm9', 999999, 'r-m9-1', '2021-03-01 10:03+08')$$) AS insufficient;
SELECT pg_temp.err($$SELECT loyalty.redeem('shop', 'nobody', 10, 'r-x-1', '2021-03-01 10:04+08')$$) AS unknown_member;
SELECT loyalty.redeem('shop', 'm' || g, 10, 'r-all', timestamptz '2021-03-02 10:00+08' + g * interval '1 minute') AS after
FROM generate_series(1, 50) g ORDER BY g;

\echo '#### step redeem_value'
SELECT loyalty.redeem_value('shop', 'm2', 5.55, 'rv-m2-1', '2021-03-03 10:00+08') AS m2_points_spent;
SELECT loyalty.redeem_value('shop', 'm1', 10, 'rv-m1-1', '2021-03-03 10:01+08') AS m1_platinum_rate;
SELECT loyalty.redeem_value('shop', 'm1', 10, 'rv-m1-1', '2021-03-03 10:02+08') AS m1_replay;
SELECT pg_temp.err($$SELECT loyalty.redeem_value('shop', 'm4', 1000, 'rv-m4-1', '2021-03-03 10:03+08')$$) AS insufficient;
SELECT pg_temp.err($$SELECT loyalty.redeem_value('shop', 'nobody', 1, 'rv-x', '2021-03-03 10:04+08')$$) AS unknown_member;

\echo '#### step adjust'
SELECT loyalty.adjust('shop', 'm12', 75, 'goodwill', 'a-m12-1', '2021-03-05 10:00+08') AS after_credit;
SELECT loyalty.adjust('shop', 'm12', -30, 'correction', 'a-m12-2', '2021-03-05 10:01+08') AS after_debit;
SELECT loyalty.adjust('shop', 'm12', 75, 'goodwill', 'a-m12-1', '2021-03-05 10:02+08') AS replay;
SELECT pg_temp.err($$SELECT loyalty.adjust('shop', 'm12', -999999, 'fraud', 'a-m12-3', '2021-03-05 10:03+08')$$) AS insufficient;
SELECT pg_temp.err($$SELECT loyalty.adjust('shop', 'nobody', 5, 'why', 'a-x', '2021-03-05 10:04+08')$$) AS unknown_member;
SELECT pg_temp.err($$SELECT loyalty.adjust('shop', 'm12', 10, 'other', 'a-m12-1', '2021-03-05 10:05+08')$$) AS ref_reused;

\echo '#### step refund'
-- partial then full refund of m21's first purchase: m20's payout is clawed back in proportion
SELECT loyalty.refund('shop', 'm21', 'first-m21', 300, 'rf-m21-1', '2021-03-10 10:00+08') AS m21_partial;
SELECT loyalty.balance('shop', 'm20', '2021-03-10 10:01+08') AS m20_after_partial;
SELECT loyalty.refund('shop', 'm21', 'first-m21', 910, 'rf-m21-2', '2021-03-10 10:02+08') AS m21_rest;
SELECT loyalty.balance('shop', 'm20', '2021-03-10 10:03+08') AS m20_after_full,
       loyalty.balance('shop', 'm21', '2021-03-10 10:03+08') AS m21_after_full;
SELECT loyalty.refund('shop', 'm21', 'first-m21', 300, 'rf-m21-1', '2021-03-10 10:04+08') AS replay;
-- m31 spends its points first, so the refund leaves debt
SELECT loyalty.redeem('shop', 'm31', loyalty.balance('shop', 'm31', '2021-03-10 10:05+08'), 'r-m31-all', '2021-03-10 10:05+08') AS m31_spent_all;
SELECT loyalty.refund('shop', 'm31', 'first-m31', 1310, 'rf-m31', '2021-03-10 10:06+08') AS m31_full;
SELECT loyalty.balance('shop', 'm30', '2021-03-10 10:07+08') AS m30_after,
       loyalty.balance('shop', 'm31', '2021-03-10 10:07+08') AS m31_in_debt;
-- an ordinary partial refund
SELECT loyalty.refund('shop', 'm3', 'o-m3-1', 1000, 'rf-m3', '2021-03-10 10:08+08') AS m3_partial;
SELECT pg_temp.err($$SELECT loyalty.refund('shop', 'm3', 'o-m3-1', 5001, 'rf-m3-2', '2021-03-10 10:09+08')$$) AS too_much;
SELECT pg_temp.err($$SELECT loyalty.refund('shop', 'm3', 'no-such-order', 1, 'rf-m3-3', '2021-03-10 10:10+08')$$) AS unknown_order;
SELECT pg_temp.err($$SELECT loyalty.refund('shop', 'nobody', 'o1', 1, 'rf-x', '2021-03-10 10:11+08')$$) AS unknown_member;
-- debt is repaid by the next credit
SELECT loyalty.earn('shop', 'm31', 400, 'o-m31-2', '2021-03-11 10:00+08') AS m31_repays;
SELECT loyalty.balance('shop', 'm31', '2021-03-11 10:01+08') AS m31_after_repay;

\echo '#### step receipts'
-- receipts of several lines (0.5.0): category rates per line, the ladder on the total,
-- a referred member's first purchase as a receipt, refunds by lines and spread
SELECT g, loyalty.earn_order('shop', 'm' || (g % 30 + 1), jsonb_build_array(
         jsonb_build_object('category', 'electronics', 'amount', 100 + (g * 37) % 900),
         jsonb_build_object('category', 'gift_box', 'amount', 50 + (g * 53) % 4000),
         jsonb_build_object('amount', 10 + g)), 'rc-' || g,
       timestamptz '2021-03-12 10:00+08' + g * interval '7 minutes') AS points
FROM generate_series(1, 30) g ORDER BY g;
SELECT * FROM loyalty.quote_order('shop', 'm5', '[{"category": "electronics", "amount": 4000}, {"amount": 1500}]',
                                  '2021-03-13 10:00+08');
SELECT loyalty.enroll('shop', 'rc-new', '2021-03-12', referred_by => 'm7');
SELECT loyalty.earn_order('shop', 'rc-new', '[{"line": "a", "category": "gift_box", "amount": 800}, {"line": "b", "amount": 200}]',
                          'rc-first', '2021-03-12 12:00+08') AS first_receipt;
SELECT loyalty.refund_lines('shop', 'rc-new', 'rc-first', '[{"line": "a", "amount": 400}]', 'rc-first-r1', '2021-03-13 10:00+08') AS by_line;
SELECT loyalty.refund('shop', 'rc-new', 'rc-first', 600, 'rc-first-r2', '2021-03-13 10:01+08') AS the_rest;
SELECT loyalty.balance('shop', 'm7', '2021-03-14') AS referrer, loyalty.balance('shop', 'rc-new', '2021-03-14') AS referee;
SELECT loyalty.refund('shop', 'm6', 'rc-5', 55.5, 'rc-5-r', '2021-03-13 11:00+08') AS spread;
SELECT pg_temp.err($$SELECT loyalty.refund_lines('shop', 'm6', 'rc-5', '[{"line": "9", "amount": 1}]', 'rc-5-x')$$) AS unknown_line;
SELECT pg_temp.err($$SELECT loyalty.earn_order('shop', 'm6', '[]', 'rc-x')$$) AS empty_receipt;

\echo '#### step transfer'
-- m1..m20 -> m26..m45 (different shards for most pairs), and to a new member
SELECT g, loyalty.transfer('shop', 'm' || g, 'm' || (g + 25), 10 + g, 't-' || g,
                           timestamptz '2021-03-15 10:00+08' + g * interval '1 minute') AS void
FROM generate_series(1, 20) g ORDER BY g;
SELECT loyalty.transfer('shop', 'm1', 'newbie', 100, 't-newbie', '2021-03-15 11:00+08');
SELECT loyalty.transfer('shop', 'm1', 'newbie', 100, 't-newbie', '2021-03-15 11:01+08') AS replay;
SELECT pg_temp.err($$SELECT loyalty.transfer('shop', 'm2', 'm3', 999999, 't-big', '2021-03-15 11:02+08')$$) AS insufficient;
SELECT pg_temp.err($$SELECT loyalty.transfer('shop', 'nobody', 'm3', 1, 't-x', '2021-03-15 11:03+08')$$) AS unknown_sender;
SELECT pg_temp.err($$SELECT loyalty.transfer('shop', 'm2', 'm2', 1, 't-self', '2021-03-15 11:04+08')$$) AS to_itself;
SELECT pg_temp.err($$SELECT loyalty.transfer('shop', 'm2', 'm3', 5, 't-2', '2021-03-15 11:05+08')$$) AS ref_reused;
SELECT loyalty.balance('shop', 'newbie', '2021-03-16') AS newbie;

\echo '#### step gym'
SELECT g, loyalty.earn('gym', 'm' || (g % 20 + 1), 100 + (g * 53) % 400, 'g' || g,
                       timestamptz '2021-04-01 07:00+02' + g * interval '17 hours') AS points
FROM generate_series(1, 80) g ORDER BY g;
SELECT * FROM pg_temp.balances('gym', 20, '2021-06-01');
SELECT loyalty.redeem('gym', 'm1', 50, 'gr1', '2021-06-02 10:00+02') AS m1_after;
SELECT loyalty.refund('gym', 'm2', 'g1', 100, 'grf1', '2021-06-02 10:01+02') AS m2_refund;
SELECT loyalty.transfer('gym', 'm3', 'm17', 40, 'gt1', '2021-06-02 10:02+02');
-- m4 keeps earning: the rolling date moves for all its lots
SELECT loyalty.earn('gym', 'm4', 150, 'g-m4-late', '2021-10-01 10:00+02') AS m4_late;
SELECT loyalty.balance('gym', 'm4', '2022-03-01') AS m4_before_roll,
       loyalty.balance('gym', 'm5', '2022-03-01') AS m5_expired;

\echo '#### step cafe'
SELECT g, loyalty.earn('cafe', 'm' || (g % 10 + 1), 3.45 + g % 5, 'c' || g,
                       timestamptz '2021-05-03 08:00Z' + g * interval '13 hours') AS points
FROM generate_series(1, 40) g ORDER BY g;
SELECT loyalty.balance('cafe', 'm1', '2021-05-05') AS m1_pending,
       loyalty.balance('cafe', 'm1', '2021-08-01') AS m1_available;
SELECT loyalty.tier_of('cafe', 'm1', '2021-08-01') AS m1_tier;
SELECT loyalty.redeem('cafe', 'm2', 20, 'cr1', '2021-08-02 10:00Z') AS m2_after;
-- shop's one-day rule (12 December, Shanghai time)
SELECT loyalty.earn('shop', 'm9', 100, 'o-m9-dec', '2021-12-12 12:00+08') AS m9_triple;

\echo '#### step campaigns'
-- offers granted, limits and budgets spent (the members enrolled first: a grant
-- would enrol them at now(), which member_summary shows)
SELECT count(*) AS enrolled FROM (
  SELECT loyalty.enroll('camp', 'c' || g, timestamptz '2022-01-15 10:00Z' + g * interval '1 minute')
  FROM generate_series(1, 6) g) e;
SELECT loyalty.grant_offer('camp', 'c1', 'coupon', 2, '2022-02-01', '2022-03-01');
SELECT loyalty.grant_offer('camp', 'c2', 'card', 1, ref => 'crm-c2');
SELECT loyalty.grant_offer('camp', 'c2', 'card', 1, ref => 'crm-c2') AS grant_retried;
SELECT pg_temp.err($$SELECT loyalty.grant_offer('camp', 'c3', 'card', 2, ref => 'crm-c2')$$) AS other_member_own_refs;
SELECT pg_temp.err($$SELECT loyalty.grant_offer('camp', 'c2', 'card', 2, ref => 'crm-c2')$$) AS ref_reused;
SELECT pg_temp.err($$SELECT loyalty.grant_offer('camp', 'c4', 'welcome')$$) AS not_an_offer;
SELECT pg_temp.err($$SELECT loyalty.grant_offer('camp', 'c4', 'card', 0)$$) AS zero_uses;
SELECT sum(points) AS c1_quote FROM loyalty.quote('camp', 'c1', 600, '2022-02-10 10:00Z');
SELECT g, loyalty.earn('camp', 'c' || (g % 6 + 1), 100 * (g % 7 + 1), 'k' || g,
                       timestamptz '2022-02-01 09:00Z' + g * interval '19 hours',
                       CASE WHEN g % 3 = 0 THEN 'wine' END) AS points
FROM generate_series(1, 24) g ORDER BY g;
SELECT sum(points) AS c1_quote_used_up FROM loyalty.quote('camp', 'c1', 600, '2022-02-28 10:00Z');
SELECT rule, purchases, points, budget, spent, remaining FROM loyalty.rule_stats
WHERE program = 'camp' ORDER BY rule;
SELECT member, rule, uses_left, valid_from, valid_until, uses, ref FROM loyalty.member_offers
WHERE program = 'camp' ORDER BY member, rule;

\echo '#### step codes'
-- single-use codes: loyalty.code is distributed by code (its own colocation
-- group); add_codes and redeem_code run on the coordinator
RESET ROLE;
SET ROLE app_admin;
SELECT loyalty.add_codes('camp', 'caps', ARRAY(SELECT 'CAP-' || g FROM generate_series(1, 40) g), 25,
                         '2022-06-01 00:00Z') AS caps_added;
SELECT loyalty.add_codes('camp', 'vip', ARRAY['V1', 'V2', 'V3'], 300) AS vip_added;
SELECT pg_temp.err($$SELECT loyalty.add_codes('camp', 'again', ARRAY['V9', 'CAP-7'], 1)$$) AS code_exists;
SELECT pg_temp.err($$SELECT loyalty.add_codes('camp', 'twice', ARRAY['T1', 'T1'], 1)$$) AS code_twice;
RESET ROLE;
SET ROLE app_writer;
SELECT g, loyalty.redeem_code('camp', 'c' || (g % 6 + 1), 'CAP-' || g,
                              timestamptz '2022-04-01 08:00Z' + g * interval '7 hours') AS points
FROM generate_series(1, 30) g ORDER BY g;
SELECT loyalty.redeem_code('camp', 'c2', 'CAP-1', '2022-05-01 10:00Z') AS replay_first_answer;
SELECT pg_temp.err($$SELECT loyalty.redeem_code('camp', 'c3', 'CAP-1', '2022-05-01 10:01Z')$$) AS other_member;
SELECT pg_temp.err($$SELECT loyalty.redeem_code('camp', 'c3', 'CAP-99', '2022-05-01 10:02Z')$$) AS unknown;
SELECT pg_temp.err($$SELECT loyalty.redeem_code('camp', 'c3', 'CAP-35', '2022-06-02 10:03Z')$$) AS expired;
SELECT pg_temp.err($$SELECT loyalty.redeem_code('camp', 'c3', 'cap-2', '2022-05-01 10:04Z')$$) AS case_matters;
SELECT loyalty.redeem_code('camp', 'newbie', 'V1', '2022-05-02 10:00Z') AS enrols_unknown_member;
SELECT loyalty.redeem_code('camp', 'c1', 'V2', '2022-05-03 10:00Z') AS vip;
SELECT member, sum(points) AS code_points, count(*) AS credits FROM loyalty.statement
WHERE program = 'camp' AND ref LIKE 'code:%' GROUP BY member ORDER BY member;
SELECT * FROM loyalty.code_batches WHERE program = 'camp' ORDER BY batch;

\echo '#### step mall'
-- the points mall: reward is a reference table, redemption member-scoped,
-- reward_stock distributed by reward (its own colocation group);
-- redeem_reward and cancel_redemption run on the coordinator
RESET ROLE;
SET ROLE app_admin;
SELECT loyalty.add_reward('camp', 'mug', 40, stock => 5);
SELECT loyalty.add_reward('camp', 'tea', 15, cash => 3.50, per_member => 2);
SELECT loyalty.add_stock('camp', 'mug', 2) AS mug_stock;
RESET ROLE;
SET ROLE app_writer;
SELECT g, loyalty.redeem_reward('camp', 'c' || (g % 6 + 1), 'mug', 1, 'mug' || g,
                                timestamptz '2022-05-10 08:00Z' + g * interval '5 hours') AS points
FROM generate_series(1, 7) g ORDER BY g;
SELECT pg_temp.err($$SELECT loyalty.redeem_reward('camp', 'c1', 'mug', 1, 'mug8', '2022-05-12 10:00Z')$$) AS out_of_stock;
SELECT loyalty.redeem_reward('camp', 'c2', 'mug', 1, 'mug1', '2022-05-12 10:00Z') AS replay;
SELECT loyalty.redeem_reward('camp', 'c3', 'tea', 2, 'tea1', '2022-05-12 11:00Z') AS teas;
SELECT pg_temp.err($$SELECT loyalty.redeem_reward('camp', 'c3', 'tea', 1, 'tea2', '2022-05-12 12:00Z')$$) AS over_limit;
SELECT loyalty.cancel_redemption('camp', 'c2', 'mug1', 'mug1-back', '2022-05-13 10:00Z') AS mug_back;
SELECT loyalty.cancel_redemption('camp', 'c2', 'mug1', 'mug1-back', '2022-05-13 11:00Z') AS cancel_replay;
SELECT loyalty.redeem_reward('camp', 'c1', 'mug', 1, 'mug8', '2022-05-14 10:00Z') AS after_cancel;
SELECT * FROM loyalty.reward_stats WHERE program = 'camp' ORDER BY reward;
SELECT member, ref, reward, quantity, points, cash, at, cancelled_at FROM loyalty.redemptions
WHERE program = 'camp' ORDER BY member, ref;
SELECT member, at, kind, points, balance_after, ref, detail FROM loyalty.statement
WHERE program = 'camp' AND member = 'c2' AND kind = 'redeem' ORDER BY at, id;

\echo '#### step alliance'
-- alliances: merchant and merchant_grant are reference tables; the merchant
-- argument of operations delegated to the workers (redeem, record_event) and
-- of those on the coordinator; merchant_settlement read per shard group and
-- filtered for a merchant role on the coordinator
RESET ROLE;
SET ROLE app_admin;
SELECT loyalty.create_program('ally', 'Alliance', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.add_merchant('ally', 'store', 'Corner Store');
SELECT loyalty.add_merchant('ally', 'cinema', 'Cinema', 0.008);
SELECT loyalty.add_rule('ally', 'cinema_double', 'multiplier', '{"factor": 2, "merchants": ["cinema"]}');
SELECT loyalty.add_rule('ally', 'visit', 'event', '{"event": "visit", "points": 5}');
SELECT loyalty.add_reward('ally', 'popcorn', 30, merchant => 'cinema');
RESET ROLE;
SET ROLE app_writer;
SELECT g, loyalty.earn('ally', 'a' || g, 100 + g, 'e' || g, timestamptz '2022-06-01 10:00Z' + g * interval '1 hour',
                       merchant => CASE WHEN g % 3 = 0 THEN 'cinema' WHEN g % 3 = 1 THEN 'store' END) AS points
FROM generate_series(1, 12) g ORDER BY g;
SELECT g, loyalty.record_event('ally', 'a' || g, 'visit', 'v' || g, timestamptz '2022-06-02 10:00Z' + g * interval '1 hour',
                               'cinema') AS points
FROM generate_series(1, 12, 4) g ORDER BY g;
SELECT g, loyalty.redeem('ally', 'a' || g, 20, 'r' || g, timestamptz '2022-06-03 10:00Z' + g * interval '1 hour',
                         CASE WHEN g % 2 = 0 THEN 'cinema' ELSE 'store' END) AS balance
FROM generate_series(1, 12) g ORDER BY g;
SELECT loyalty.refund('ally', 'a3', 'e3', 51.5, 'rf3', '2022-06-04 10:00Z') AS cinema_clawback;
SELECT loyalty.redeem_reward('ally', 'a6', 'popcorn', 1, 'p6', '2022-06-05 10:00Z', 'cinema') AS popcorn;
SELECT loyalty.cancel_redemption('ally', 'a6', 'p6', 'p6-back', '2022-06-06 10:00Z') AS popcorn_back;
SELECT loyalty.redeem_value('ally', 'a9', 0.1, 'rv9', '2022-07-01 10:00Z', 'cinema') AS spent;
SELECT pg_temp.err($$SELECT loyalty.redeem('ally', 'a1', 1, 'x1', '2022-07-02 10:00Z', 'nowhere')$$) AS unknown_merchant;
SELECT pg_temp.err($$SELECT loyalty.redeem('ally', 'a1', 20, 'r1', '2022-07-02 10:00Z', 'cinema')$$) AS replay_other_merchant;
SELECT * FROM loyalty.merchant_settlement WHERE program = 'ally' ORDER BY month, merchant NULLS LAST;
RESET ROLE;
DROP ROLE IF EXISTS app_cinema;
CREATE ROLE app_cinema LOGIN IN ROLE loyalty_writer;
SET ROLE app_admin;
SELECT loyalty.grant_merchant('app_cinema', 'ally', 'cinema');
RESET ROLE;
SET ROLE app_cinema;
SELECT loyalty.redeem('ally', 'a12', 10, 'k12', '2022-07-03 10:00Z') AS at_the_cinema;
SELECT loyalty.record_event('ally', 'a11', 'visit', 'k11', '2022-07-03 11:00Z') AS cinema_visit;
SELECT pg_temp.err($$SELECT loyalty.redeem('ally', 'a10', 10, 'k10', '2022-07-03 12:00Z', 'store')$$) AS other_merchant;
SELECT pg_temp.err($$SELECT loyalty.redeem('shop', 'm1', 1, 'k1', '2022-07-03 12:00Z')$$) AS other_program;
SELECT * FROM loyalty.merchant_settlement ORDER BY program, month, merchant;
SELECT program, member, ref, reward, merchant FROM loyalty.redemptions ORDER BY program, member, ref;
SELECT program, reward, redemptions, merchant FROM loyalty.reward_stats ORDER BY program, reward;
RESET ROLE;
SET ROLE app_admin;
SELECT member, kind, points, ref, detail ->> 'merchant' AS merchant FROM loyalty.statement
WHERE program = 'ally' ORDER BY member, at, id;
RESET ROLE;

\echo '#### step balance_tier'
SELECT * FROM pg_temp.balances('shop', 50, '2021-04-01');
SELECT * FROM pg_temp.balances('shop', 50, '2022-01-20');  -- the first lots expired
SELECT * FROM pg_temp.balances('cafe', 10, '2021-12-31');
SELECT loyalty.balance('shop', 'unknown-member') AS unknown_is_0, loyalty.tier_of('shop', 'unknown-member') IS NULL AS unknown_tier_null;

\echo '#### step expire_points'
RESET ROLE;
SET ROLE app_admin;
CALL loyalty.expire_points('2022-03-01 00:00+08');
CALL loyalty.expire_points('2022-03-01 00:00+08');  -- a rerun changes nothing
SET ROLE app_writer;
SELECT * FROM pg_temp.balances('shop', 50, '2022-03-02');
SELECT * FROM pg_temp.balances('gym', 20, '2022-03-02');

\echo '#### step evaluate_tiers'
RESET ROLE;
SET ROLE app_admin;
CALL loyalty.evaluate_tiers('2022-01-01 00:00+08');
CALL loyalty.evaluate_tiers('2022-06-01 00:00+08');
SET ROLE app_writer;
SELECT * FROM pg_temp.balances('shop', 50, '2022-06-02');

\echo '#### step run_maintenance'
RESET ROLE;
SET ROLE app_admin;
CALL loyalty.run_maintenance('2023-01-02 00:00+08');
CALL loyalty.run_maintenance('2023-01-02 00:00+08');
SET ROLE app_writer;
SELECT * FROM pg_temp.balances('shop', 50, '2023-01-03');
SELECT * FROM pg_temp.balances('gym', 20, '2023-01-03');
-- operations go on after the jobs
SELECT loyalty.earn('shop', 'm1', 300, 'o-m1-2023', '2023-01-05 10:00+08') AS m1_2023;
SELECT loyalty.earn('shop', 'm26', 300, 'o-m26-2023', '2023-01-05 10:01+08') AS m26_2023;

\echo '#### step edges'
-- statements the other steps do not reach: corrections after an early sweep,
-- debt reserved against pending lots by a refund, a back-dated earning that
-- revives swept lots that roll
SET ROLE app_admin;
SELECT loyalty.create_program('edge', expiry => 'fixed', expiry_after => '30 days', pending_for => '7 days') > 0 AS edge;
SELECT loyalty.create_program('edger', expiry => 'rolling', expiry_after => '30 days') > 0 AS edger;
SET ROLE app_writer;
SELECT loyalty.earn('edge', 'x1', 100, 'o1', '2021-01-01');
SELECT loyalty.earn('edge', 'x1', 100, 'o2', '2021-01-20');
SET ROLE app_admin;
CALL loyalty.expire_points('2021-03-01');
SET ROLE app_writer;
SELECT pg_temp.err($$SELECT loyalty.redeem('edge', 'x1', 150, 'rd1', '2021-01-25')$$) AS ly001;
SELECT loyalty.redeem('edge', 'x1', 100, 'rd1', '2021-01-25');
SELECT loyalty.earn('edge', 'x2', 100, 'p1', '2021-04-01');
SELECT loyalty.earn('edge', 'x2', 50, 'p2', '2021-04-02');
SELECT loyalty.adjust('edge', 'x2', 20, 'gift', 'g1', '2021-04-03');
SELECT loyalty.redeem('edge', 'x2', 20, 'rd2', '2021-04-03');
SELECT loyalty.refund('edge', 'x2', 'p1', 100, 'rf1', '2021-04-04');
SELECT loyalty.balance('edge', 'x2', '2021-04-05') AS at_0405, loyalty.balance('edge', 'x2', '2021-04-20') AS at_0420;
SELECT loyalty.earn('edger', 'y1', 100, 'q1', '2021-01-01');
SELECT loyalty.earn('edger', 'y1', 100, 'q2', '2021-01-15');
SET ROLE app_admin;
CALL loyalty.expire_points('2021-03-01');
SET ROLE app_writer;
SELECT loyalty.earn('edger', 'y1', 100, 'q3', '2021-02-10');
SELECT loyalty.balance('edger', 'y1', '2021-02-11') AS at_0211, loyalty.balance('edger', 'y1', '2021-04-01') AS at_0401;
SELECT loyalty.earn('edger', 'y1', 10, 'q4', '2021-02-20');
SELECT loyalty.redeem('edger', 'y1', 50, 'q5', '2021-02-21');
SET ROLE app_admin;
CALL loyalty.expire_points('2021-06-01');
RESET ROLE;
SELECT p.code, l.member, l.id, l.at, l.kind, l.points, l.lot_id, l.reason
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code IN ('edge', 'edger') ORDER BY 1, 2, 3;
SELECT p.code, l.member, l.id, l.points, l.remaining, l.expired, l.repaid, l.rolls, l.expires_at
FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code IN ('edge', 'edger') ORDER BY 1, 2, 3;
\echo '#### step verify'
RESET ROLE;
SET ROLE app_admin;
SELECT * FROM loyalty.verify() ORDER BY 1, 2, 3;
SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE 'CHECK FAILED: verify() reports ' || count(*) || ' problems' END AS verify
FROM loyalty.verify();

\echo '#### step privileges'
RESET ROLE;
SET ROLE app_reader;
SELECT pg_temp.err($$SELECT loyalty.balance('shop', 'm1')$$) AS reader_cannot_call;
SELECT pg_temp.err($$SELECT count(*) FROM loyalty.ledger$$) AS reader_cannot_read_tables;
RESET ROLE;
SET ROLE app_writer;
SELECT pg_temp.err($$SELECT loyalty.create_program('x')$$) AS writer_cannot_configure;
SELECT pg_temp.err($$INSERT INTO loyalty.account (program_id, member, joined_at) VALUES (1, 'x', now())$$) AS writer_cannot_write;
RESET ROLE;
-- the ledger and tier history stay append-only on the shards (the guard
-- triggers go with them), for the superuser too
SELECT pg_temp.err($$UPDATE loyalty.ledger SET points = 0 WHERE member = 'm1'$$) AS ledger_update;
SELECT pg_temp.err($$DELETE FROM loyalty.ledger WHERE member = 'm2'$$) AS ledger_delete;
SELECT pg_temp.err($$DELETE FROM loyalty.tier_change$$) AS tier_change_delete;

-- The views, as app_reader (a dashboard)
\echo '#### step view_member_summary'
SET ROLE app_reader;
SELECT program, member, tier, available, pending, debt, lifetime_earned, lifetime_redeemed,
       lifetime_expired, qualifying, next_tier, to_next_tier, next_expiry_at, next_expiry_points,
       joined_at, last_activity_at
FROM loyalty.member_summary ORDER BY program, member;

\echo '#### step view_statement'
SELECT program, member, at, kind, points, balance_after, ref, detail
FROM loyalty.statement ORDER BY program, member, at, id;

\echo '#### step view_expiring_points'
SELECT * FROM loyalty.expiring_points ORDER BY program, member, expires_at;

\echo '#### step view_liability'
SELECT * FROM loyalty.liability ORDER BY program;

\echo '#### step view_activity_daily'
SELECT * FROM loyalty.activity_daily ORDER BY program, day;

\echo '#### step view_tier_distribution'
SELECT * FROM loyalty.tier_distribution ORDER BY program, tier;

\echo '#### step view_tier_history'
SELECT * FROM loyalty.tier_history ORDER BY program, member, at, to_tier;

\echo '#### step view_leaderboard'
SELECT * FROM loyalty.leaderboard ORDER BY program, month, rank;

\echo '#### step view_rule_stats'
SELECT * FROM loyalty.rule_stats ORDER BY program, rule;

\echo '#### step view_member_offers'
SELECT program, member, rule, uses_left, valid_from, valid_until, uses, ref FROM loyalty.member_offers
ORDER BY program, member, rule, valid_until;

\echo '#### step view_code_batches'
SELECT * FROM loyalty.code_batches ORDER BY program, batch;

\echo '#### step view_merchant_settlement'
SELECT * FROM loyalty.merchant_settlement ORDER BY program, month, merchant;

\echo '#### step view_filters'
-- what a member's app and a dashboard ask: one member, one month, a range of
-- days (on Citus the filters are applied to the rows of every shard group)
SELECT * FROM loyalty.member_summary WHERE program = 'shop' AND member = 'm3';
SELECT member, at, kind, points, balance_after, ref FROM loyalty.statement
WHERE program = 'shop' AND member = 'm1' AND at >= '2026-03-01' ORDER BY at, id;
SELECT * FROM loyalty.leaderboard WHERE month = (SELECT min(month) FROM loyalty.leaderboard) ORDER BY program, rank;
SELECT * FROM loyalty.activity_daily
WHERE day BETWEEN (SELECT min(day) + 3 FROM loyalty.activity_daily) AND (SELECT min(day) + 40 FROM loyalty.activity_daily)
ORDER BY program, day;
SELECT e.program, e.member, sum(e.points) AS expiring, s.available
FROM loyalty.expiring_points e JOIN loyalty.member_summary s USING (program, member)
GROUP BY e.program, e.member, s.available ORDER BY 1, 2 LIMIT 15;

\echo '#### step view_tracked_orders'
RESET ROLE;
SET ROLE app_admin;
SELECT program, member_column, amount_column, ref_column FROM loyalty.tracked_orders ORDER BY 1;
RESET ROLE;

\echo '#### step views_as_superuser'
-- the same views read by a superuser (the owner of the tables): tells a
-- privilege problem from a query Citus cannot run
SELECT 'member_summary' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.member_summary v;
SELECT 'statement' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.statement v;
SELECT 'expiring_points' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.expiring_points v;
SELECT 'liability' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.liability v;
SELECT 'activity_daily' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.activity_daily v;
SELECT 'tier_distribution' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.tier_distribution v;
SELECT 'tier_history' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.tier_history v;
SELECT 'leaderboard' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.leaderboard v;
SELECT 'rule_stats' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.rule_stats v;
SELECT 'merchant_settlement' AS view, count(*) AS rows, md5(coalesce(string_agg(v::text, '|' ORDER BY v::text), '')) AS digest FROM loyalty.merchant_settlement v;
SELECT 'member_offers' AS view, count(*) AS rows, md5(coalesce(string_agg((v.program, v.member, v.rule, v.uses_left, v.valid_from, v.valid_until, v.uses, v.ref)::text, '|' ORDER BY (v.program, v.member, v.rule, v.uses_left, v.valid_from, v.valid_until, v.uses, v.ref)::text), '')) AS digest FROM loyalty.member_offers v;

\echo '#### step ledger_ids'
-- every member's ledger in id order is its ledger in business-time order
-- (expiry rows aside: they are dated at the lots' expiry, written later), in
-- the scenario's own programs (with CITUS_FROM, the upgrade fixture's programs
-- were made with back-dated operations)
SELECT CASE WHEN count(*) = 0 THEN 'ok'
            ELSE 'CHECK FAILED: ' || count(*) || ' members whose ledger ids are not in business-time order: '
                 || string_agg(code || '/' || member, ' ' ORDER BY code, member) END AS ledger_id_order
FROM (SELECT p.code, l.member,
             array_agg(l.id ORDER BY l.id) AS by_id, array_agg(l.id ORDER BY l.at, l.id) AS by_at
      FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
      WHERE l.kind <> 'expire' AND p.code IN ('shop', 'gym', 'cafe', 'camp', 'edge', 'edger', 'ally')
      GROUP BY p.code, l.member) x
WHERE by_id <> by_at;
SELECT CASE WHEN count(*) = 0 THEN 'ok'
            ELSE 'CHECK FAILED: ' || count(*) || ' (program_id, member, id) repeated' END AS ledger_key_unique
FROM (SELECT program_id, member, id FROM loyalty.ledger GROUP BY 1, 2, 3 HAVING count(*) > 1) x;
SELECT CASE WHEN count(*) = 0 THEN 'ok'
            ELSE 'CHECK FAILED: ' || count(*) || ' (program_id, member, id) of lots repeated' END AS lot_key_unique
FROM (SELECT program_id, member, id FROM loyalty.lot GROUP BY 1, 2, 3 HAVING count(*) > 1) x;
SELECT CASE WHEN count(*) = 0 THEN 'ok'
            ELSE 'CHECK FAILED: ' || count(*) || ' (program_id, member, ref) repeated' END AS ledger_ref_unique
FROM (SELECT program_id, member, ref FROM loyalty.ledger WHERE ref IS NOT NULL GROUP BY 1, 2, 3 HAVING count(*) > 1) x;
\echo '#### step ledger_refs'
-- every ref the scenario used, in the order it was written, per member
SELECT p.code, l.member, string_agg(coalesce(l.ref, '-') || ':' || l.kind, ' ' ORDER BY l.id) AS refs_by_id
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE l.kind <> 'expire'
GROUP BY p.code, l.member ORDER BY 1, 2;
\echo '#### step table_totals'
SELECT p.code, count(*) AS ledger_rows, sum(points) AS points, count(DISTINCT member) AS members
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id GROUP BY p.code ORDER BY 1;
SELECT p.code, count(*) AS lots, sum(l.points) AS points, sum(l.remaining) AS remaining, sum(l.expired) AS expired
FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id GROUP BY p.code ORDER BY 1;
SELECT p.code, c.member, c.at, c.from_tier, c.to_tier, c.reason, c.by_evaluation
FROM loyalty.tier_change c JOIN loyalty.program p ON p.id = c.program_id ORDER BY 1, 2, c.at, c.id;
SELECT p.code, s.member, s.rule, s.last_day, s.days
FROM loyalty.streak s JOIN loyalty.program p ON p.id = s.program_id ORDER BY 1, 2, 3;
SELECT p.code, c.batch, count(*) AS codes, count(c.used_by) AS used, string_agg(c.used_by, ',' ORDER BY c.code) AS used_by
FROM loyalty.code c JOIN loyalty.program p ON p.id = c.program_id GROUP BY 1, 2 ORDER BY 1, 2;
\echo '#### end'
\endif
