-- Configuration: programs, tiers, rules; every bad value is LY007 naming it.
\i test/sql/preamble.psql

-- Program ids start at a random point in each installation (so two
-- databases' rows never share a program id): no output below shows one

SELECT loyalty.create_program('cfg', 'Config test', timezone => 'Asia/Shanghai') AS id \gset
SELECT code, name, currency, points_per_unit, unit, rounding, stacking, max_multiplier,
       points_per_value, expiry, expiry_after, expiry_period, pending_for, tier_basis,
       tier_window, downgrade, timezone
FROM loyalty.program WHERE code = 'cfg';
-- calling again with the same code updates the settings and keeps the id
SELECT loyalty.create_program('cfg', 'Config test', timezone => 'Asia/Shanghai', unit => 10) = :id AS same_id;
SELECT unit FROM loyalty.program WHERE code = 'cfg';

-- every invalid program setting
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', rounding => 'bankers')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', stacking => 'sum')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', expiry => 'sometimes')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', expiry => 'fixed')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', expiry => 'fixed', expiry_after => '-1 day')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', expiry_after => '1 year')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', expiry => 'end_of_period', expiry_after => '-1 month')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', expiry_period => 'week')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', tier_basis => 'visits')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', tier_window => 'month')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', downgrade => 'two_steps')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', timezone => 'Mars/Olympus')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', points_per_unit => -1)$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', unit => 0)$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', points_per_value => 0)$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', max_multiplier => 0)$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', pending_for => '-1 day')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', currency => '')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('bad', points_per_unit => 'NaN')$$);
SELECT pg_temp.err($$SELECT loyalty.create_program(NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.create_program('')$$);
SELECT count(*) AS bad_programs FROM loyalty.program WHERE code = 'bad';

-- tiers: the lowest must have threshold 0
SELECT pg_temp.err($$SELECT loyalty.add_tier('cfg', 'gold', 3000, 1.5)$$);
SELECT loyalty.add_tier('cfg', 'silver', 0);
SELECT loyalty.add_tier('cfg', 'gold', 3000, 1.5, 130);
SELECT loyalty.add_tier('cfg', 'platinum', 9000, 2, 100, 'Platinum');
SELECT pg_temp.err($$SELECT loyalty.add_tier('cfg', 'black', 9000, 3)$$);
SELECT pg_temp.err($$SELECT loyalty.add_tier('cfg', 'silver', 100)$$);
SELECT pg_temp.err($$SELECT loyalty.add_tier('cfg', 'x', -1)$$);
SELECT pg_temp.err($$SELECT loyalty.add_tier('cfg', 'x', 100, 0)$$);
SELECT pg_temp.err($$SELECT loyalty.add_tier('cfg', 'x', 100, -1)$$);
SELECT pg_temp.err($$SELECT loyalty.add_tier('cfg', 'x', 100, 1, 0)$$);
SELECT pg_temp.err($$SELECT loyalty.add_tier('cfg', 'x', NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.add_tier('nope', 'x', 0)$$);
-- replacing a tier by code updates it
SELECT loyalty.add_tier('cfg', 'gold', 3000, 1.6, 130);
SELECT code, threshold, earn_multiplier, points_per_value, name
FROM loyalty.tier WHERE program_id = :id ORDER BY threshold;

-- rules: kinds, params, validity
SELECT loyalty.add_rule('cfg', 'fri', 'multiplier', '{"factor": 1.5, "weekdays": [5]}');
SELECT loyalty.add_rule('cfg', 'gift', 'multiplier', '{"factor": 1.2, "categories": ["gift_box"], "tiers": ["gold", "platinum"]}');
SELECT loyalty.add_rule('cfg', 'bday', 'multiplier', '{"factor": 2, "birthday_month": true}');
SELECT loyalty.add_rule('cfg', 'active', 'multiplier', '{"factor": 1.2, "min_orders": 3, "orders_window": "90 days"}');
SELECT loyalty.add_rule('cfg', 'l5k', 'bonus', '{"points": 500, "min_amount": 5000, "group": "ladder"}');
SELECT loyalty.add_rule('cfg', 'first', 'bonus', '{"points": 20, "first_purchase": true, "min_amount": 100}');
SELECT loyalty.add_rule('cfg', 'elec', 'category_rate', '{"category": "electronics", "points_per_unit": 1, "unit": 5}');
SELECT loyalty.add_rule('cfg', 'survey', 'event', '{"event": "survey", "points": 50, "max_per_day": 1, "max_total": 10}');
SELECT loyalty.add_rule('cfg', 'checkin30', 'streak', '{"event": "checkin", "days": 30, "points": 100}');
SELECT loyalty.add_rule('cfg', 'refer', 'referral', '{"referrer_points": 300, "referrer_share": 0.1, "referee_points": 50}');
SELECT loyalty.add_rule('cfg', 'd11', 'multiplier', '{"factor": 3}', '2026-11-11 00:00+08', '2026-11-12 00:00+08');
SELECT code, kind, params, valid_from, valid_until, active FROM loyalty.rule WHERE program_id = :id ORDER BY id;

SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'cashback', '{}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 0}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": "2"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "facter": 3}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "weekdays": [0]}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "weekdays": [8]}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "tiers": ["diamond"]}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "min_orders": 3}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "orders_window": "90 days"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "min_orders": 3, "orders_window": "soon"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "min_amount": -5}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2, "birthday_month": "yes"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'bonus', '{"group": "g"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'bonus', '{"points": 1.5}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'bonus', '{"points": -10}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'category_rate', '{"points_per_unit": 1}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'category_rate', '{"category": "food"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'category_rate', '{"category": "food", "points_per_unit": 1, "unit": 0}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'event', '{"points": 5}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'event', '{"event": "share"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'event', '{"event": "share", "points": 5, "max_per_day": 0}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'event', '{"event": "share", "points": 5, "weekdays": [1]}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'streak', '{"event": "checkin", "points": 5}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'referral', '{}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'referral', '{"referrer_share": -0.1}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '[1, 2]')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2}', '2026-02-01', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', '{"factor": 2}', '2026-01-01', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', NULL, '{}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cfg', 'x', 'multiplier', NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('nope', 'x', 'multiplier', '{"factor": 2}')$$);
SELECT count(*) AS bad_rules FROM loyalty.rule WHERE code = 'x';

SELECT loyalty.set_rule_active('cfg', 'fri', false);
SELECT active FROM loyalty.rule WHERE program_id = :id AND code = 'fri';
SELECT pg_temp.err($$SELECT loyalty.set_rule_active('cfg', 'nope', false)$$);
SELECT pg_temp.err($$SELECT loyalty.set_rule_active('cfg', 'fri', NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.set_rule_active('nope', 'fri', true)$$);

-- several configuration calls in one statement each see the previous ones
SELECT loyalty.create_program('one', timezone => 'Europe/Berlin') > 0 AS created,
       loyalty.add_tier('one', 'base', 0)::text = '' AS base_added,
       loyalty.add_tier('one', 'top', 100, 2)::text = '' AS top_added,
       loyalty.add_rule('one', 'r', 'multiplier', '{"factor": 2, "tiers": ["top"]}')::text = '' AS rule_added;
SELECT loyalty.earn('one', 'm', 100, 'o1', '2026-01-01') AS base_100,
       loyalty.earn('one', 'm', 100, 'o2', '2026-01-02') AS top_times_2_times_2;
