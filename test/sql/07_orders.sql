-- Orders tables the app already has: track_orders puts the C trigger on them.
\i test/sql/preamble.psql
CREATE FUNCTION pg_temp.ledger()
RETURNS TABLE(member text, kind text, points bigint, ref text, original_ref text, amount numeric, category text, at timestamptz)
LANGUAGE sql AS $f$
  SELECT l.member, l.kind, l.points, l.ref, l.original_ref, l.amount, l.category, l.at
  FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
  WHERE p.code = 'ord' ORDER BY l.member, l.id
$f$;

SELECT loyalty.create_program('ord', unit => 10) > 0 AS ok;
SELECT loyalty.add_rule('ord', 'wine', 'multiplier', '{"factor": 2, "categories": ["wine"]}');
CREATE TABLE shop_orders (
  id        bigserial PRIMARY KEY,
  customer  integer NOT NULL,
  total     numeric(12, 2) NOT NULL,
  order_no  varchar(20) NOT NULL,
  placed_at timestamptz,
  dept      text,
  refunded  numeric(12, 2) NOT NULL DEFAULT 0
);
-- two orders from before the program tracked the table
INSERT INTO shop_orders (customer, total, order_no, placed_at, dept)
VALUES (1, 100, 'A1', '2026-01-01 10:00', NULL), (2, 55, 'A2', '2026-01-02 10:00', 'wine');

-- bad column names are LY007, nothing is tracked
SELECT pg_temp.err($$SELECT loyalty.track_orders('shop_orders', 'ord', 'client', 'total', 'order_no')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('shop_orders', 'ord', 'customer', 'total', 'order_no', refund_column => 'returns')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('shop_orders', 'nope', 'customer', 'total', 'order_no')$$);
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass;

SELECT loyalty.track_orders('shop_orders', 'ord', 'customer', 'total', 'order_no',
                            at_column => 'placed_at', category_column => 'dept',
                            refund_column => 'refunded', backfill => true);
SELECT * FROM pg_temp.ledger();
SELECT relid, program, member_column, amount_column, ref_column, at_column, category_column, refund_column
FROM loyalty.tracked_orders;

-- the app changes nothing: inserts earn, bulk inserts and COPY too
INSERT INTO shop_orders (customer, total, order_no, placed_at) VALUES (1, 250, 'B1', '2026-02-01 10:00');
INSERT INTO shop_orders (customer, total, order_no, placed_at, dept)
SELECT 3, 10 * g, 'C' || g, timestamptz '2026-02-02' + g * interval '1 hour', 'wine' FROM generate_series(1, 3) g;
COPY shop_orders (customer, total, order_no, placed_at) FROM stdin;
4	99.99	D1	2026-02-03 10:00:00+00
\.
SELECT member, kind, points, ref, category FROM pg_temp.ledger() WHERE ref ~ '^(B|C|D)';
-- no at column value: now()
INSERT INTO shop_orders (customer, total, order_no) VALUES (5, 20, 'E1');
SELECT at > now() - interval '1 hour' AS at_is_now FROM pg_temp.ledger() WHERE ref = 'E1';

-- raising the refund column refunds the difference; DELETE refunds the rest
UPDATE shop_orders SET refunded = 100 WHERE order_no = 'B1';
UPDATE shop_orders SET refunded = 100 WHERE order_no = 'B1';   -- no change, no refund
UPDATE shop_orders SET refunded = 250 WHERE order_no = 'B1';
DELETE FROM shop_orders WHERE order_no = 'C2';
DELETE FROM shop_orders WHERE order_no = 'B1';                  -- fully refunded already
SELECT member, kind, points, ref, original_ref, amount FROM pg_temp.ledger() WHERE kind = 'refund';

-- an order that cannot earn fails the app's statement, and nothing is written
SELECT count(*) AS orders_before FROM shop_orders \gset
SELECT pg_temp.err($$INSERT INTO shop_orders (customer, total, order_no) VALUES (6, 0, 'F1')$$);
SELECT pg_temp.err($$INSERT INTO shop_orders (customer, total, order_no) VALUES (3, 11, 'C1')$$);
SELECT pg_temp.err($$UPDATE shop_orders SET refunded = 999 WHERE order_no = 'C3'$$);
SELECT count(*) = :orders_before AS no_order_written FROM shop_orders;
SELECT count(*) AS ledger_rows FROM pg_temp.ledger();

-- untracked, the table is the app's own again
SELECT loyalty.untrack_orders('shop_orders');
INSERT INTO shop_orders (customer, total, order_no) VALUES (7, 10, 'G1');
SELECT count(*) AS ledger_rows_unchanged FROM pg_temp.ledger();
SELECT pg_temp.err($$SELECT loyalty.untrack_orders('shop_orders')$$);
SELECT * FROM loyalty.verify();

-- a partitioned orders table: rows land in partitions, which are tracked
-- through their parent (a partition with its own column order too)
SELECT loyalty.create_program('part') > 0 AS ok;
CREATE TABLE part_orders (buyer text, placed date, total numeric, no text, refunded numeric DEFAULT 0)
  PARTITION BY RANGE (placed);
CREATE TABLE part_orders_h1 PARTITION OF part_orders FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
CREATE TABLE part_orders_h2 (no text, refunded numeric DEFAULT 0, buyer text, total numeric, placed date);
ALTER TABLE part_orders ATTACH PARTITION part_orders_h2 FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
INSERT INTO part_orders VALUES ('ann', '2026-02-01', 100, 'P1');
SELECT loyalty.track_orders('part_orders', 'part', 'buyer', 'total', 'no', 'placed',
                            refund_column => 'refunded', backfill => true);
INSERT INTO part_orders VALUES ('ann', '2026-03-01', 50, 'P2'), ('bob', '2026-08-01', 70, 'P3');
UPDATE part_orders SET refunded = 20 WHERE no = 'P3';
DELETE FROM part_orders WHERE no = 'P2';
-- a partition-key UPDATE moves the row (an old/new pair of the UPDATE): no refund, no new points
UPDATE part_orders SET placed = '2026-03-15' WHERE no = 'P3';
SELECT tableoid::regclass AS p3_now_in FROM part_orders WHERE no = 'P3';
SELECT member, kind, points, ref FROM loyalty.statement WHERE program = 'part' ORDER BY member, id;
SELECT loyalty.balance('part', 'ann') AS ann, loyalty.balance('part', 'bob') AS bob;
SELECT loyalty.untrack_orders('part_orders');
INSERT INTO part_orders VALUES ('cy', '2026-09-01', 10, 'P4');
SELECT count(*) AS part_rows_unchanged FROM loyalty.statement WHERE program = 'part';
SELECT * FROM loyalty.verify();
