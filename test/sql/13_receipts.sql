-- Receipts (0.5.0, issue #12, SPEC §8): earn_order / quote_order /
-- refund_lines.  Each line earns at its category's rate and multipliers, the
-- receipt's bonuses look at its total (or a category subtotal), one ledger
-- row and one lot per receipt, refunds spread over the lines.
\i test/sql/preamble.psql

SELECT loyalty.create_program('rcpt', timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.add_tier('rcpt', 'silver', 0);
SELECT loyalty.add_tier('rcpt', 'gold', 2000, 1.5);
SELECT loyalty.add_rule('rcpt', 'elec', 'category_rate', '{"category": "electronics", "points_per_unit": 1, "unit": 5}');
SELECT loyalty.add_rule('rcpt', 'daily', 'category_rate', '{"category": "daily", "points_per_unit": 1, "unit": 20}');
SELECT loyalty.add_rule('rcpt', 'ladder_5k', 'bonus', '{"points": 500, "min_amount": 5000, "group": "ladder"}');
SELECT loyalty.add_rule('rcpt', 'ladder_10k', 'bonus', '{"points": 1200, "min_amount": 10000, "group": "ladder"}');
SELECT loyalty.add_rule('rcpt', 'liquor_1k', 'bonus', '{"points": 200, "categories": ["liquor"], "min_amount": 1000}');
SELECT loyalty.add_rule('rcpt', 'combo', 'bonus', '{"points": 50, "categories_all": ["snacks", "drinks"]}');
SELECT loyalty.add_rule('rcpt', 'snacks_x2', 'multiplier', '{"factor": 2, "categories": ["snacks"]}');

-- 1. a mixed receipt at two category rates for a gold member (x1.5):
-- electronics 3000 / 5 x 1.5 = 900, daily 2500 / 20 x 1.5 = 187.5, floor(1087.5)
-- = 1087, and the 5000 ladder on the receipt's total: 1587
SELECT loyalty.earn('rcpt', 'r_ann', 2000, 'a0', '2026-03-02 10:00+08') AS to_gold;
SELECT loyalty.tier_of('rcpt', 'r_ann', '2026-03-03') AS tier;
SELECT * FROM loyalty.quote_order('rcpt', 'r_ann',
  '[{"line": "1", "category": "electronics", "amount": 3000}, {"line": "2", "category": "daily", "amount": 2500}]',
  '2026-03-03 10:00+08');
SELECT loyalty.earn_order('rcpt', 'r_ann',
  '[{"line": "1", "category": "electronics", "amount": 3000}, {"line": "2", "category": "daily", "amount": 2500}]',
  'a1', '2026-03-03 10:00+08') AS mixed;
-- 2. the same lines as two earns: 900 + 187, no ladder (neither reaches 5000)
SELECT loyalty.earn('rcpt', 'r_bob', 2000, 'b0', '2026-03-02 10:00+08') AS to_gold,
       loyalty.earn('rcpt', 'r_bob', 3000, 'b1', '2026-03-03 10:00+08', 'electronics') AS elec,
       loyalty.earn('rcpt', 'r_bob', 2500, 'b2', '2026-03-03 10:01+08', 'daily') AS daily;
-- one ledger row and one lot for the receipt; its detail keeps the lines
SELECT kind, points, amount, category, detail -> 'rates' AS rates, detail -> 'rules' AS rules,
       jsonb_array_length(detail -> 'lines') AS lines
FROM loyalty.ledger WHERE member = 'r_ann' AND ref = 'a1';
SELECT count(*) AS lots FROM loyalty.lot WHERE member = 'r_ann';
SELECT detail -> 'receipt' AS receipt FROM loyalty.statement WHERE member = 'r_ann' AND ref = 'a1';

-- 3. a category subtotal: liquor 600 + 500 = 1100 >= 1000 gives +200; liquor 600
-- with 2000 of snacks (total 2600) does not.  Snacks x2 is about the snacks line only.
SELECT * FROM loyalty.quote_order('rcpt', 'r_cy',
  '[{"category": "liquor", "amount": 600}, {"category": "liquor", "amount": 500}, {"category": "daily", "amount": 40}]',
  '2026-03-04');
SELECT * FROM loyalty.quote_order('rcpt', 'r_cy',
  '[{"category": "liquor", "amount": 600}, {"category": "snacks", "amount": 2000}]', '2026-03-04');
-- 4. categories_all: snacks and drinks together +50; snacks alone not
SELECT * FROM loyalty.quote_order('rcpt', 'r_cy',
  '[{"category": "snacks", "amount": 10}, {"category": "drinks", "amount": 5.5}]', '2026-03-04');
SELECT * FROM loyalty.quote_order('rcpt', 'r_cy',
  '[{"category": "snacks", "amount": 10}, {"category": "snacks", "amount": 5.5}]', '2026-03-04');

-- 5. refunds of a receipt: the lines named, then a plain refund of the rest;
-- after all, round(P x sum w_i r_i / a_i) is clawed: the whole receipt
SELECT loyalty.earn_order('rcpt', 'r_dan',
  '[{"line": "tv", "category": "electronics", "amount": 1000}, {"line": "soap", "category": "daily", "amount": 100}, {"line": "chips", "category": "snacks", "amount": 50}]',
  'd1', '2026-03-05') AS points;   -- 200 + 5 + 100 = 305
-- half the chips: w = 100/305, r/a = 1/2: round(305 x 50/305) = 50
SELECT loyalty.refund_lines('rcpt', 'r_dan', 'd1', '[{"line": "chips", "amount": 25}]', 'd1-r1', '2026-03-06') AS clawed;
-- the TV: + 200 (cumulative round(305 x 250/305) = 250)
SELECT loyalty.refund_lines('rcpt', 'r_dan', 'd1', '[{"line": "tv", "amount": 1000}]', 'd1-r2', '2026-03-06') AS clawed;
-- the rest with refund(): soap 100 and chips 25 are what is left (125)
SELECT loyalty.refund('rcpt', 'r_dan', 'd1', 125, 'd1-r3', '2026-03-07') AS clawed;
SELECT sum(-points) AS clawed_in_all, (SELECT points FROM loyalty.ledger WHERE member = 'r_dan' AND ref = 'd1') AS earned
FROM loyalty.ledger WHERE member = 'r_dan' AND kind = 'refund';
SELECT ref, detail -> 'lines' AS took FROM loyalty.ledger WHERE member = 'r_dan' AND kind = 'refund' ORDER BY id;
SELECT * FROM loyalty.balance('rcpt', 'r_dan', '2026-03-08');
-- a plain refund spread over the lines in proportion to what is left: 3 + 1 + 1 (of 5 x 3)
SELECT loyalty.earn_order('rcpt', 'r_eve',
  '[{"category": "daily", "amount": 300}, {"amount": 100}, {"amount": 100}]', 'e1', '2026-03-05') AS points;
SELECT loyalty.refund('rcpt', 'r_eve', 'e1', 50, 'e1-r1', '2026-03-06') AS clawed;
SELECT detail -> 'lines' AS took FROM loyalty.ledger WHERE member = 'r_eve' AND ref = 'e1-r1';
-- an odd amount: the parts are at the amounts' decimals and add up exactly
SELECT loyalty.refund('rcpt', 'r_eve', 'e1', 33.33, 'e1-r2', '2026-03-06') AS clawed;
SELECT detail -> 'lines' AS took,
       (SELECT sum((x ->> 'amount')::numeric) FROM jsonb_array_elements(detail -> 'lines') x) AS sum
FROM loyalty.ledger WHERE member = 'r_eve' AND ref = 'e1-r2';
-- refund_lines on a purchase of earn(): its one line is "1"
SELECT loyalty.refund_lines('rcpt', 'r_bob', 'b1', '[{"line": "1", "amount": 1500}]', 'b1-r1', '2026-03-06') AS clawed;

-- 6. replays and reused refs
SELECT loyalty.earn_order('rcpt', 'r_ann',
  '[{"line": "1", "category": "electronics", "amount": 3000.00}, {"line": "2", "category": "daily", "amount": 2500}]',
  'a1', '2026-03-03 10:00+08') AS replay;
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_ann',
  '[{"line": "1", "category": "electronics", "amount": 3000}, {"line": "2", "category": "snacks", "amount": 2500}]', 'a1')$$) AS other_lines;
SELECT pg_temp.err($$SELECT loyalty.earn('rcpt', 'r_ann', 5500, 'a1')$$) AS earn_same_ref;
SELECT loyalty.refund_lines('rcpt', 'r_dan', 'd1', '[{"line": "chips", "amount": 25.0}]', 'd1-r1', '2026-03-06') AS replay;
SELECT pg_temp.err($$SELECT loyalty.refund_lines('rcpt', 'r_dan', 'd1', '[{"line": "soap", "amount": 25}]', 'd1-r1')$$) AS other_line;
SELECT count(*) AS ledger_rows FROM loyalty.ledger WHERE program_id = (SELECT id FROM loyalty.program WHERE code = 'rcpt');

-- 7. bad receipts: 22023, merchants (none yet): LY009, refunds: 22023 / LY006; nothing written
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', NULL, 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '{"amount": 5}', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '5', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[5]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[[{"amount": 5}]]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"amount": {"yuan": 5}}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"category": "x"}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"amount": "5"}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"amount": 0}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"amount": 5}, {"amount": -1}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"line": "a", "amount": 5}, {"line": "a", "amount": 1}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"line": true, "amount": 5}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"line": "", "amount": 5}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"amount": 5, "category": 7}]', 'z')$$);
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"amount": 1e400}]', 'z')$$);
SELECT pg_temp.err(format('SELECT loyalty.earn_order(%L, %L, %L, %L)', 'rcpt', 'r_zed',
  (SELECT jsonb_agg(jsonb_build_object('amount', 1)) FROM generate_series(1, 1001)), 'z'));
SELECT pg_temp.err($$SELECT loyalty.earn_order('rcpt', 'r_zed', '[{"amount": 5}]', 'z', merchant => 'cinema')$$);
SELECT pg_temp.err($$SELECT * FROM loyalty.quote_order('rcpt', 'r_zed', '[]')$$);
SELECT pg_temp.err($$SELECT loyalty.refund_lines('rcpt', 'r_dan', 'd1', '[{"line": "sofa", "amount": 1}]', 'dx')$$);
SELECT pg_temp.err($$SELECT loyalty.refund_lines('rcpt', 'r_eve', 'e1', '[{"line": "1", "amount": 300}]', 'ex')$$);
SELECT pg_temp.err($$SELECT loyalty.refund_lines('rcpt', 'r_eve', 'e1', NULL, 'ex')$$);
SELECT pg_temp.err($$SELECT loyalty.refund_lines('rcpt', 'r_eve', 'nope', '[{"amount": 1}]', 'ex')$$);
SELECT pg_temp.err($$SELECT loyalty.refund('rcpt', 'r_eve', 'e1', 500, 'ex')$$);
SELECT count(*) AS ledger_rows, (SELECT count(*) FROM loyalty.account WHERE member = 'r_zed') AS zed
FROM loyalty.ledger WHERE program_id = (SELECT id FROM loyalty.program WHERE code = 'rcpt');

-- 8. quote_order = earn_order on 300 random receipts (the member's state moves
-- with them: tiers, first purchase); and a one-line receipt = earn()
SELECT setseed(0.12);
CREATE TEMP TABLE rnd AS
SELECT i, (SELECT jsonb_agg(jsonb_build_object(
             'category', (ARRAY['electronics', 'daily', 'snacks', 'drinks', 'liquor', NULL])[1 + floor(random() * 6)::int],
             'amount', round((1 + random() * 3000)::numeric, (random() * 2)::int)))
           FROM generate_series(1, 1 + (i % 5) + (random() * 0)::int)) AS lines
FROM generate_series(1, 300) i;
CREATE FUNCTION pg_temp.check_quotes() RETURNS TABLE(receipts bigint, differ bigint, points bigint)
LANGUAGE plpgsql AS $f$
DECLARE r record; q bigint; e bigint; n bigint := 0; bad bigint := 0; tot bigint := 0;
BEGIN
  FOR r IN SELECT * FROM rnd ORDER BY i LOOP
    q := (SELECT sum(x.points) FROM loyalty.quote_order('rcpt', 'r_rnd' || (r.i % 7), r.lines, '2026-04-01'::timestamptz + r.i * interval '1 hour') x);
    e := loyalty.earn_order('rcpt', 'r_rnd' || (r.i % 7), r.lines, 'q' || r.i, '2026-04-01'::timestamptz + r.i * interval '1 hour');
    n := n + 1; tot := tot + e;
    IF q IS DISTINCT FROM e THEN bad := bad + 1; END IF;
  END LOOP;
  RETURN QUERY SELECT n, bad, tot;
END $f$;
SELECT * FROM pg_temp.check_quotes();
CREATE FUNCTION pg_temp.check_one_line() RETURNS TABLE(purchases bigint, differ bigint)
LANGUAGE plpgsql AS $f$
DECLARE r record; a bigint; b bigint; n bigint := 0; bad bigint := 0;
BEGIN
  FOR r IN SELECT i, l.v FROM rnd, jsonb_array_elements(lines) WITH ORDINALITY l(v, o) WHERE o = 1 ORDER BY i LOOP
    a := loyalty.earn('rcpt', 'r_one_e', (r.v ->> 'amount')::numeric, 'o' || r.i, '2026-05-01'::timestamptz + r.i * interval '1 hour', r.v ->> 'category');
    b := loyalty.earn_order('rcpt', 'r_one_o', jsonb_build_array(r.v), 'o' || r.i, '2026-05-01'::timestamptz + r.i * interval '1 hour');
    n := n + 1;
    IF a IS DISTINCT FROM b THEN bad := bad + 1; END IF;
  END LOOP;
  RETURN QUERY SELECT n, bad;
END $f$;
SELECT * FROM pg_temp.check_one_line();

-- 9. the views: a receipt's category rates in rule_stats, a receipt is one order
SELECT * FROM loyalty.rule_stats WHERE program = 'rcpt' AND rule IN ('elec', 'daily', 'liquor_1k', 'combo', 'ladder_5k') ORDER BY rule;
SELECT loyalty.create_program('visits', tier_basis => 'orders') > 0 AS ok;
SELECT loyalty.add_tier('visits', 'new', 0);
SELECT loyalty.add_tier('visits', 'regular', 2);
SELECT loyalty.earn_order('visits', 'v', '[{"amount": 1}, {"amount": 2}, {"amount": 3}]', 'v1', now() - interval '1 hour');
SELECT tier, qualifying FROM loyalty.member_summary WHERE program = 'visits' AND member = 'v';
SELECT count(*) AS problems FROM loyalty.verify();
