-- bench/receipts_setup.sql — the receipts suite's program and members
-- (bench/suite_receipts.sh): category rates, a tier multiplier, a ladder and
-- a category multiplier, so that every line and the receipt have work to do.
SET client_min_messages = warning;
SELECT loyalty.create_program('rcpt', timezone => 'Asia/Shanghai') > 0 AS program;
SELECT loyalty.add_tier('rcpt', 'silver', 0);
SELECT loyalty.add_tier('rcpt', 'gold', 3000, 1.5);
SELECT loyalty.add_rule('rcpt', 'elec', 'category_rate', '{"category": "electronics", "points_per_unit": 1, "unit": 5}');
SELECT loyalty.add_rule('rcpt', 'daily', 'category_rate', '{"category": "daily", "points_per_unit": 1, "unit": 20}');
SELECT loyalty.add_rule('rcpt', 'snacks_x2', 'multiplier', '{"factor": 2, "categories": ["snacks"]}');
SELECT loyalty.add_rule('rcpt', 'ladder_5k', 'bonus', '{"points": 500, "min_amount": 5000, "group": "ladder"}');
SELECT count(*) AS members FROM (
  SELECT loyalty.enroll('rcpt', 'm' || i, '2025-01-01') FROM generate_series(1, :members) i) x;
ANALYZE;
