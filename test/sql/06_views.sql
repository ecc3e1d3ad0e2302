-- The BI views on a small known history: two programs that never mix,
-- local-day boundaries, positive figures, running balances.
\i test/sql/preamble.psql

-- shop: Shanghai, 3-year expiry... from 2021, so by now those points have expired
-- (not swept); cafe: UTC, never expires.  History in 2021, far from now().
SELECT loyalty.create_program('shop', timezone => 'Asia/Shanghai', expiry => 'fixed',
                              expiry_after => '100 years', points_per_value => 100) > 0 AS ok;
SELECT loyalty.add_tier('shop', 'silver', 0), loyalty.add_tier('shop', 'gold', 1000, 2, 50);
SELECT loyalty.add_rule('shop', 'fri', 'multiplier', '{"factor": 2, "weekdays": [5]}');
SELECT loyalty.add_rule('shop', 'big', 'bonus', '{"points": 100, "min_amount": 500}');
SELECT loyalty.add_rule('shop', 'elec', 'category_rate', '{"category": "electronics", "points_per_unit": 1, "unit": 5}');
SELECT loyalty.add_rule('shop', 'survey', 'event', '{"event": "survey", "points": 30}');
SELECT loyalty.add_rule('shop', 'unused', 'bonus', '{"points": 5, "categories": ["nothing"]}');
SELECT loyalty.create_program('cafe') > 0 AS ok;

-- 2021-01-01 00:30 in Shanghai is still 2020-12-31 in UTC: a local-day boundary
SELECT loyalty.enroll('shop', 'ann', '2020-12-31 16:30+00');
SELECT loyalty.earn('shop', 'ann', 600, 'a1', '2021-01-01 00:30+08');        -- Friday local: 600*2 + 100
SELECT loyalty.earn('shop', 'ann', 100, 'a2', '2021-01-04 10:00+08', 'electronics');  -- gold now: 20*2
SELECT loyalty.record_event('shop', 'ann', 'survey', 's1', '2021-01-04 11:00+08');
SELECT loyalty.redeem('shop', 'ann', 300, 'r1', '2021-01-05 10:00+08');
SELECT loyalty.refund('shop', 'ann', 'a2', 50, 'rf1', '2021-01-05 11:00+08');
SELECT loyalty.earn('shop', 'bob', 200, 'b1', '2021-01-05 23:59:59+08');      -- Tuesday
SELECT loyalty.earn('shop', 'cy', 50, 'c1', '2021-02-01 10:00+08');
SELECT loyalty.transfer('shop', 'bob', 'cy', 50, 't1', '2021-02-02 10:00+08');
-- another program with the same member names never mixes in
SELECT loyalty.earn('cafe', 'ann', 999, 'a1', '2021-01-01 00:30+08');
SELECT loyalty.redeem('cafe', 'ann', 9, 'r1', '2021-01-02');

-- ann's gold period (upgraded in January 2021) ended on 2023-01-01 with nothing
-- earned in 2022: she holds silver now, as tier_of says, whether or not
-- evaluate_tiers ran (the view evaluates an ended period like the job)
SELECT * FROM loyalty.member_summary WHERE program = 'shop' ORDER BY member;
SELECT * FROM loyalty.member_summary WHERE program = 'cafe';
SELECT program, member, id > 0 AS has_id, at, kind, points, balance_after, ref, detail
FROM loyalty.statement WHERE program = 'shop' AND member = 'ann' ORDER BY id;
SELECT * FROM loyalty.expiring_points WHERE program = 'shop' ORDER BY member, expires_at;
SELECT * FROM loyalty.liability WHERE program IN ('shop', 'cafe') ORDER BY program;
SELECT * FROM loyalty.activity_daily WHERE program IN ('shop', 'cafe') ORDER BY program, day;
SELECT * FROM loyalty.tier_distribution WHERE program IN ('shop', 'cafe') ORDER BY program, tier;
SELECT * FROM loyalty.tier_history WHERE program IN ('shop', 'cafe') ORDER BY program, member, at;
SELECT * FROM loyalty.leaderboard WHERE program IN ('shop', 'cafe') ORDER BY program, month, rank;
SELECT * FROM loyalty.rule_stats WHERE program IN ('shop', 'cafe') ORDER BY program, rule;

-- points that expired but were not swept count as expired; after the sweep the same
SELECT loyalty.create_program('old', expiry => 'fixed', expiry_after => '1 year') > 0 AS ok;
SELECT loyalty.earn('old', 'o', 100, 'x', '2021-03-01'), loyalty.redeem('old', 'o', 30, 'y', '2021-04-01');
SELECT available, lifetime_earned, lifetime_redeemed, lifetime_expired, next_expiry_at
FROM loyalty.member_summary WHERE program = 'old';
SELECT * FROM loyalty.liability WHERE program = 'old';
SELECT day, earned, redeemed, expired FROM loyalty.activity_daily WHERE program = 'old' ORDER BY day;
CALL loyalty.expire_points();
SELECT available, lifetime_earned, lifetime_redeemed, lifetime_expired FROM loyalty.member_summary WHERE program = 'old';
SELECT * FROM loyalty.liability WHERE program = 'old';
SELECT day, earned, redeemed, expired FROM loyalty.activity_daily WHERE program = 'old' ORDER BY day;

-- loyalty_reader reads every view, but not the tables behind them
SET ROLE loyalty_reader;
SELECT count(*) > 0 AS reads_summary FROM loyalty.member_summary;
SELECT count(*) > 0 AS reads_statement FROM loyalty.statement;
SELECT (SELECT count(*) FROM loyalty.expiring_points) > 0 AS expiring_points,
       (SELECT count(*) FROM loyalty.liability) > 0 AS liability,
       (SELECT count(*) FROM loyalty.activity_daily) > 0 AS activity_daily,
       (SELECT count(*) FROM loyalty.tier_distribution) > 0 AS tier_distribution,
       (SELECT count(*) FROM loyalty.tier_history) > 0 AS tier_history,
       (SELECT count(*) FROM loyalty.leaderboard) > 0 AS leaderboard,
       (SELECT count(*) FROM loyalty.rule_stats) > 0 AS rule_stats;
SELECT count(*) FROM loyalty.ledger;  -- fails: permission denied
RESET ROLE;
