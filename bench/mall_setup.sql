-- bench/mall_setup.sql — the mall suite's program, members and rewards
-- (bench/suite_mall.sh): :members members holding a million points each (in
-- ten lots, so spending walks lots as it does in life), a reward with a
-- limited stock (one program-wide stock row every redemption locks) and
-- one with unlimited stock, both at 25 points.
SET client_min_messages = warning;
SELECT loyalty.create_program('mall', timezone => 'Asia/Shanghai') > 0 AS program;
SELECT loyalty.add_tier('mall', 'silver', 0);
SELECT loyalty.add_tier('mall', 'gold', 3000000, 1.5);
SELECT count(*) AS credits FROM (
  SELECT loyalty.earn('mall', 'm' || i, 100000, 'e' || i || '-' || k,
                      timestamptz '2025-01-01' + k * interval '1 day')
  FROM generate_series(1, :members) i, generate_series(1, 10) k) x;
SELECT loyalty.add_reward('mall', 'glass', 25, stock => 1000000000);
SELECT loyalty.add_reward('mall', 'coupon', 25);
-- each transaction of every side takes the next number: a fresh ref
CREATE SEQUENCE bench_next;
VACUUM ANALYZE;
CHECKPOINT;
