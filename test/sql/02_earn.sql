-- The earning engine: rates, rounding, conditions, stacking, cap, bonuses, quote.
\i test/sql/preamble.psql
-- quote_total(...) = sum of the quote lines
CREATE FUNCTION pg_temp.qt(p text, m text, a numeric, t timestamptz, c text DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $f$
  SELECT sum(points)::bigint FROM loyalty.quote(p, m, a, t, c)
$f$;

-- 1. Base rate and the three rounding modes: 1 point per 10 yuan
SELECT loyalty.create_program('rf', unit => 10, rounding => 'floor') > 0 AS ok;
SELECT loyalty.create_program('rr', unit => 10, rounding => 'round') > 0 AS ok;
SELECT loyalty.create_program('rc', unit => 10, rounding => 'ceil') > 0 AS ok;
SELECT a AS amount,
       loyalty.earn('rf', 'm', a, 'f' || a, '2026-01-05') AS floor,
       loyalty.earn('rr', 'm', a, 'r' || a, '2026-01-05') AS round,
       loyalty.earn('rc', 'm', a, 'c' || a, '2026-01-05') AS ceil
FROM unnest(ARRAY[90, 90.01, 94.99, 95, 99.99, 0.01]::numeric[]) AS a;
-- a rate that is not a finite decimal: 1 point per 3 yuan is still exact
SELECT loyalty.create_program('third', unit => 3, rounding => 'ceil') > 0 AS ok;
SELECT loyalty.earn('third', 'm', 30, 'o30', '2026-01-05') AS thirty_yuan_is_10,
       loyalty.earn('third', 'm', 31, 'o31', '2026-01-05') AS thirtyone_yuan_ceil_11;
-- fractional points per unit: 1.5 points per yuan (Langjiu diamond)
SELECT loyalty.create_program('frac', points_per_unit => 1.5) > 0 AS ok;
SELECT loyalty.earn('frac', 'm', 33.33, 'o1', '2026-01-05') AS floor_49_995;

-- 2. Weekday in the program's timezone: Friday 2026-11-20 01:30 in Shanghai
--    is still Thursday 17:30 in UTC.
SELECT loyalty.create_program('sh', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.add_rule('sh', 'friday', 'multiplier', '{"factor": 1.5, "weekdays": [5]}');
SELECT extract(isodow FROM timestamptz '2026-11-19 17:30+00') AS utc_isodow;
SELECT loyalty.earn('sh', 'a', 100, 'o1', '2026-11-19 17:30+00') AS friday_in_shanghai;
SELECT loyalty.earn('sh', 'a', 100, 'o2', '2026-11-19 15:59:59+00') AS thursday_in_shanghai;
SELECT loyalty.earn('sh', 'a', 100, 'o3', '2026-11-20 15:59:59+00') AS last_second_of_friday;
SELECT loyalty.earn('sh', 'a', 100, 'o4', '2026-11-20 16:00:00+00') AS saturday_midnight;

-- 3. Validity [valid_from, valid_until): double-11 3x, Shanghai local day
SELECT loyalty.add_rule('sh', 'd11', 'multiplier', '{"factor": 3}',
                        '2026-11-11 00:00+08', '2026-11-12 00:00+08');
SELECT loyalty.earn('sh', 'b', 100, 'x1', '2026-11-10 23:59:59.999999+08') AS before_from,
       loyalty.earn('sh', 'b', 100, 'x2', '2026-11-11 00:00+08') AS at_from,
       loyalty.earn('sh', 'b', 100, 'x3', '2026-11-11 23:59:59.999999+08') AS before_until,
       loyalty.earn('sh', 'b', 100, 'x4', '2026-11-12 00:00+08') AS at_until;
-- a deactivated rule stops applying at once; reactivated, it applies again
SELECT loyalty.set_rule_active('sh', 'd11', false);
SELECT loyalty.earn('sh', 'b', 100, 'x5', '2026-11-11 12:00+08') AS d11_inactive;
SELECT loyalty.set_rule_active('sh', 'd11', true);
SELECT loyalty.earn('sh', 'b', 100, 'x6', '2026-11-11 12:00+08') AS d11_active_again;

-- 4. Stacking: factors 2 and 1.5 (no tiers)
SELECT loyalty.create_program('smul', stacking => 'multiply') > 0 AS ok;
SELECT loyalty.create_program('sadd', stacking => 'add') > 0 AS ok;
SELECT loyalty.create_program('smax', stacking => 'max') > 0 AS ok;
SELECT loyalty.create_program('scap', stacking => 'multiply', max_multiplier => 2.5) > 0 AS ok;
SELECT loyalty.add_rule(p, 'double', 'multiplier', '{"factor": 2}'),
       loyalty.add_rule(p, 'half', 'multiplier', '{"factor": 1.5}')
FROM unnest(ARRAY['smul', 'sadd', 'smax', 'scap']) AS p;
SELECT p AS program, loyalty.earn(p, 'm', 100, 'o1', '2026-01-05') AS points,
       pg_temp.qt(p, 'm', 100, '2026-01-05') AS next_quote
FROM unnest(ARRAY['smul', 'sadd', 'smax', 'scap']) AS p;
SELECT * FROM loyalty.quote('scap', 'm', 100, '2026-01-05');
SELECT * FROM loyalty.quote('sadd', 'm', 100, '2026-01-05');

-- 5. Bonuses: a threshold ladder (only the largest in a group) plus a free bonus
SELECT loyalty.create_program('lad') > 0 AS ok;
SELECT loyalty.add_rule('lad', 'ge5k', 'bonus', '{"points": 500, "min_amount": 5000, "group": "ladder"}');
SELECT loyalty.add_rule('lad', 'ge10k', 'bonus', '{"points": 1200, "min_amount": 10000, "group": "ladder"}');
SELECT loyalty.add_rule('lad', 'liquor', 'bonus', '{"points": 200, "min_amount": 1000, "categories": ["liquor"]}');
SELECT a AS amount, c AS category, loyalty.earn('lad', 'm', a, 'o' || a || coalesce(c, ''), '2026-01-05', c) AS points
FROM (VALUES (4999.99, NULL), (5000, NULL), (9999.99, NULL), (10000, NULL), (10000, 'liquor'), (999, 'liquor')) AS v(a, c);
SELECT * FROM loyalty.quote('lad', 'm', 12000, '2026-01-05', 'liquor');

-- 6. Category rates: electronics 1 point per 5 yuan, daily goods 1 per 20
SELECT loyalty.create_program('cat') > 0 AS ok;
SELECT loyalty.add_rule('cat', 'elec', 'category_rate', '{"category": "electronics", "points_per_unit": 1, "unit": 5}');
SELECT loyalty.add_rule('cat', 'daily', 'category_rate', '{"category": "daily", "points_per_unit": 1, "unit": 20}');
SELECT loyalty.add_rule('cat', 'gift', 'multiplier', '{"factor": 1.2, "categories": ["gift_box"]}');
SELECT loyalty.earn('cat', 'm', 100, 'c1', '2026-01-05', 'electronics') AS electronics,
       loyalty.earn('cat', 'm', 100, 'c2', '2026-01-05', 'daily') AS daily,
       loyalty.earn('cat', 'm', 100, 'c3', '2026-01-05', 'gift_box') AS gift_box,
       loyalty.earn('cat', 'm', 100, 'c4', '2026-01-05', 'unknown') AS unknown_category,
       loyalty.earn('cat', 'm', 100, 'c5', '2026-01-05') AS no_category;

-- 7. Birthday month (local), first purchase, activity (min_orders in a window)
SELECT loyalty.create_program('mem', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.add_rule('mem', 'bday', 'multiplier', '{"factor": 2, "birthday_month": true}');
SELECT loyalty.add_rule('mem', 'welcome', 'bonus', '{"points": 20, "first_purchase": true, "min_amount": 100}');
SELECT loyalty.add_rule('mem', 'regular', 'multiplier', '{"factor": 1.2, "min_orders": 3, "orders_window": "90 days"}');
SELECT loyalty.enroll('mem', 'bob', '2026-01-01', birthday => '1990-11-05');
-- first purchase of 99 is below the welcome bonus' minimum; it is still the first
SELECT loyalty.earn('mem', 'bob', 99, 'p1', '2026-06-01 12:00+08') AS first_below_min;
SELECT loyalty.earn('mem', 'bob', 100, 'p2', '2026-06-02 12:00+08') AS second_no_welcome;
SELECT loyalty.earn('mem', 'amy', 100, 'p1', '2026-06-02 12:00+08') AS amy_first_with_welcome;
-- bob: 2 purchases so far in June; the third earns plain, the fourth is "regular"
SELECT loyalty.earn('mem', 'bob', 100, 'p3', '2026-06-03 12:00+08') AS third,
       loyalty.earn('mem', 'bob', 100, 'p4', '2026-06-04 12:00+08') AS fourth_regular;
-- 120 days later the window holds no purchase
SELECT loyalty.earn('mem', 'bob', 100, 'p5', '2026-10-02 12:00+08') AS after_window;
-- birthday month in Shanghai: Nov 1 01:00 local is still Oct 31 in UTC
SELECT loyalty.earn('mem', 'bob', 100, 'p6', '2026-10-31 17:00+00') AS first_hour_of_november,
       loyalty.earn('mem', 'bob', 100, 'p7', '2026-10-31 15:59:59+00') AS last_second_of_october;
-- a later enroll fills in a missing birthday, never changes one
SELECT loyalty.enroll('mem', 'amy', '2026-06-03', birthday => '1985-06-10');
SELECT loyalty.enroll('mem', 'amy', '2026-06-04', birthday => '1985-07-10');
SELECT member, birthday FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
WHERE p.code = 'mem' ORDER BY member;

-- 8. Tiers: multiplier, tier condition, upgrade inside the crossing purchase
SELECT loyalty.create_program('tl', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.add_tier('tl', 'silver', 0);
SELECT loyalty.add_tier('tl', 'gold', 3000, 1.5);
SELECT loyalty.add_tier('tl', 'platinum', 9000, 2);
SELECT loyalty.add_rule('tl', 'goldgift', 'bonus', '{"points": 100, "tiers": ["gold"], "categories": ["gift_box"]}');
SELECT loyalty.tier_of('tl', 'zoe') AS unknown_member_tier;
SELECT loyalty.earn('tl', 'zoe', 2999, 'o1', '2026-03-01') AS silver_2999;
SELECT loyalty.tier_of('tl', 'zoe');
-- crosses 3000: earns at silver's 1x, then is gold
SELECT loyalty.earn('tl', 'zoe', 10, 'o2', '2026-03-02') AS crossing_at_old_rate;
SELECT loyalty.tier_of('tl', 'zoe');
SELECT loyalty.earn('tl', 'zoe', 10, 'o3', '2026-03-03') AS next_at_gold;
SELECT loyalty.earn('tl', 'zoe', 10, 'o4', '2026-03-04', 'gift_box') AS gold_gift_bonus;
SELECT * FROM loyalty.quote('tl', 'zoe', 10, '2026-03-04', 'gift_box');
-- a big purchase jumps straight to platinum
SELECT loyalty.earn('tl', 'zoe', 4000, 'o5', '2026-03-05') AS gold_rate_4000;
SELECT loyalty.tier_of('tl', 'zoe');
SELECT p.code, c.member, c.at, c.from_tier, c.to_tier, c.reason, c.valid_until
FROM loyalty.tier_change c JOIN loyalty.program p ON p.id = c.program_id
WHERE p.code = 'tl' ORDER BY c.id;

-- 9. quote = earn, for a rich case, and quote writes nothing
SELECT loyalty.create_program('rich', timezone => 'Asia/Shanghai', rounding => 'round', max_multiplier => 4) > 0 AS ok;
SELECT loyalty.add_tier('rich', 'base', 0);
SELECT loyalty.add_tier('rich', 'vip', 100, 1.5);
SELECT loyalty.add_rule('rich', 'fri', 'multiplier', '{"factor": 1.5, "weekdays": [5]}');
SELECT loyalty.add_rule('rich', 'box', 'multiplier', '{"factor": 1.2, "categories": ["gift_box"]}');
SELECT loyalty.add_rule('rich', 'b1', 'bonus', '{"points": 500, "min_amount": 5000, "group": "g"}');
SELECT loyalty.add_rule('rich', 'b2', 'bonus', '{"points": 1200, "min_amount": 10000, "group": "g"}');
SELECT loyalty.add_rule('rich', 'wd', 'bonus', '{"points": 7}');
SELECT loyalty.earn('rich', 'q', 1000, 'warm', '2026-11-16');
SELECT count(*) AS ledger_rows_before FROM loyalty.ledger \gset
SELECT * FROM loyalty.quote('rich', 'q', 12345.67, '2026-11-20 10:00+08', 'gift_box');
SELECT count(*) = :ledger_rows_before AS quote_wrote_nothing FROM loyalty.ledger;
SELECT pg_temp.qt('rich', 'q', 12345.67, '2026-11-20 10:00+08', 'gift_box') AS quoted,
       loyalty.earn('rich', 'q', 12345.67, 'big', '2026-11-20 10:00+08', 'gift_box') AS earned;
-- the cap: 1.5 * 1.5 * 1.2 = 2.7 stays under 4; the ledger explains the lines
SELECT detail FROM loyalty.ledger WHERE ref = 'big';
-- quote for an unknown member: lowest tier, first purchase; enrols nobody
SELECT * FROM loyalty.quote('rich', 'nobody', 100, '2026-11-20 10:00+08');
SELECT count(*) AS nobody_accounts FROM loyalty.account WHERE member = 'nobody';

-- 10. Configuration changes apply to the next operation, never to history
SELECT loyalty.add_rule('rich', 'wd', 'bonus', '{"points": 9}');
SELECT loyalty.earn('rich', 'q', 10, 'after_change', '2026-11-16') AS with_new_bonus;
SELECT points FROM loyalty.ledger WHERE ref IN ('warm', 'after_change') ORDER BY id;
