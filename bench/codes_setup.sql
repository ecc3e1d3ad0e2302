-- bench/codes_setup.sql — the codes suite's program, members and codes
-- (bench/suite_codes.sh): a bottle-cap batch of :codes codes loaded with one
-- add_codes call (its time is printed), and the event rule the record_event
-- side credits the same 25 points with.
SET client_min_messages = warning;
SELECT loyalty.create_program('caps', timezone => 'Asia/Shanghai') > 0 AS program;
SELECT loyalty.add_tier('caps', 'silver', 0);
SELECT loyalty.add_tier('caps', 'gold', 3000, 1.5);
SELECT loyalty.add_rule('caps', 'scan', 'event', '{"event": "scan", "points": 25}');
SELECT count(*) AS members FROM (
  SELECT loyalty.enroll('caps', 'm' || i, '2025-01-01') FROM generate_series(1, :members) i) x;
-- each transaction of either side takes the next number: a fresh code, a fresh ref
CREATE SEQUENCE bench_next;
\timing on
SELECT loyalty.add_codes('caps', 'bottle-caps', ARRAY(SELECT 'K' || i FROM generate_series(1, :codes) i), 25) AS codes_loaded;
\timing off
VACUUM ANALYZE;   -- the fresh codes' pages: hint bits set and visible before timing
CHECKPOINT;        -- the load's dirty pages written before timing
