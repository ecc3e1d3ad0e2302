-- Orders tables that are partitioned: every partition, whenever it came,
-- is tracked with its table; moves between partitions move no points; shared
-- order numbers (issue #8 item 6); DDL that would break the tracking.
\i test/sql/preamble.psql
CREATE FUNCTION pg_temp.ledger()
RETURNS TABLE(member text, kind text, points bigint, ref text, amount numeric)
LANGUAGE sql AS $f$
  SELECT l.member, l.kind, l.points, l.ref, l.amount
  FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
  WHERE p.code = 'o_pt' ORDER BY l.member, l.id
$f$;
CREATE FUNCTION pg_temp.triggers()
RETURNS TABLE(tab regclass, triggers bigint) LANGUAGE sql AS $f$
  SELECT tgrelid::regclass, count(*) FROM pg_trigger
  WHERE tgfoid = 'loyalty._orders_trigger()'::regprocedure
    AND tgrelid::regclass::text ~ '^(po|plain)'
  GROUP BY tgrelid ORDER BY tgrelid::regclass::text
$f$;
SELECT loyalty.create_program('o_pt') > 0 AS ok;

CREATE TABLE po (buyer text, placed date, total numeric, no text, refunded numeric DEFAULT 0)
  PARTITION BY RANGE (placed);
CREATE TABLE po_h1 PARTITION OF po FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');
-- a partition with its own column order
CREATE TABLE po_h2 (no text, refunded numeric DEFAULT 0, buyer text, total numeric, placed date);
ALTER TABLE po ATTACH PARTITION po_h2 FOR VALUES FROM ('2025-07-01') TO ('2026-01-01');
INSERT INTO po VALUES ('ann', '2025-02-01', 100, 'P0');
-- a partition cannot be tracked alone
SELECT pg_temp.err($$SELECT loyalty.track_orders('po_h1', 'o_pt', 'buyer', 'total', 'no')$$);
SELECT loyalty.track_orders('po', 'o_pt', 'buyer', 'total', 'no', 'placed',
                            refund_column => 'refunded', backfill => true);
-- partitions created or attached later, sub-partitions too, get the triggers
CREATE TABLE po_h3 PARTITION OF po FOR VALUES FROM ('2026-01-01') TO ('2026-07-01')
  PARTITION BY RANGE (placed);
CREATE TABLE po_h3a PARTITION OF po_h3 FOR VALUES FROM ('2026-01-01') TO ('2026-04-01');
CREATE TABLE po_h3b (LIKE po);
ALTER TABLE po_h3 ATTACH PARTITION po_h3b FOR VALUES FROM ('2026-04-01') TO ('2026-07-01');
SELECT * FROM pg_temp.triggers();

-- 6: two members share order number 1001; deleting one refunds exactly that one
INSERT INTO po VALUES ('ann', '2025-03-01', 100, '1001'), ('bob', '2025-08-01', 70, '1001');
DELETE FROM po WHERE buyer = 'ann' AND no = '1001';
SELECT member, kind, points, ref FROM pg_temp.ledger() WHERE ref LIKE '1001%';
-- in one partition too
INSERT INTO po VALUES ('cy', '2025-08-02', 30, '1001');
UPDATE po SET refunded = 10 WHERE buyer = 'cy';
DELETE FROM po WHERE buyer = 'bob';
SELECT member, kind, points, ref FROM pg_temp.ledger() WHERE ref LIKE '1001%';

-- statements on a partition directly, at every level
INSERT INTO po_h2 (buyer, placed, total, no) VALUES ('dee', '2025-09-01', 40, 'D1');
INSERT INTO po_h3 VALUES ('dee', '2026-02-01', 50, 'D2');
INSERT INTO po_h3b VALUES ('dee', '2026-05-01', 60, 'D3');
UPDATE po_h3b SET refunded = 6 WHERE no = 'D3';
DELETE FROM po_h2 WHERE no = 'D1';
SELECT pg_temp.err($$TRUNCATE po_h3a$$);
SELECT member, kind, points, ref FROM pg_temp.ledger() WHERE member = 'dee';

-- a move between partitions is no change: no points move; with the refund
-- column raised in the same UPDATE, just that refund
INSERT INTO po VALUES ('eve', '2025-02-10', 100, 'E1'), ('eve', '2025-02-11', 100, 'E2');
UPDATE po SET placed = '2025-10-01' WHERE no = 'E1';
UPDATE po SET placed = '2026-05-05', refunded = 25 WHERE no = 'E2';
UPDATE po SET placed = '2026-02-02' WHERE buyer = 'eve';     -- two moves, from two partitions
SELECT tableoid::regclass AS part, no, refunded FROM po WHERE buyer = 'eve' ORDER BY no;
SELECT member, kind, points, ref FROM pg_temp.ledger() WHERE member = 'eve';
-- a move and a member change in one UPDATE: the order moves to the new member
UPDATE po SET placed = '2025-03-03', buyer = 'fay' WHERE no = 'E1';
SELECT member, kind, points, ref FROM pg_temp.ledger() WHERE ref LIKE 'E1%';
-- a row trigger that drops part of a move: the UPDATE cannot be accounted for
CREATE FUNCTION pg_temp.skip() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NULL; END $f$;
CREATE TRIGGER skip BEFORE INSERT ON po_h2 FOR EACH ROW EXECUTE FUNCTION pg_temp.skip();
SELECT pg_temp.err($$UPDATE po SET placed = '2025-11-01' WHERE no = 'E1'$$);
DROP TRIGGER skip ON po_h2;

-- a partition attached with rows: they earn with the next backfill
CREATE TABLE po_h4 (LIKE po);
INSERT INTO po_h4 VALUES ('gil', '2026-08-01', 90, 'G1', 0), ('gil', '2026-08-02', 20, 'G2', 5);
ALTER TABLE po ATTACH PARTITION po_h4 FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
SELECT count(*) AS gil_before_backfill FROM pg_temp.ledger() WHERE member = 'gil';
SELECT loyalty.track_orders('po', 'o_pt', 'buyer', 'total', 'no', 'placed',
                            refund_column => 'refunded', backfill => true);
SELECT member, kind, points, ref FROM pg_temp.ledger() WHERE member = 'gil';
-- a detached partition is no longer tracked: its triggers do nothing
ALTER TABLE po DETACH PARTITION po_h4;
DELETE FROM po_h4 WHERE no = 'G1';
SELECT count(*) AS gil_refunds FROM pg_temp.ledger() WHERE member = 'gil' AND kind = 'refund';
SELECT loyalty.untrack_orders('po_h4');    -- removes the triggers it kept
SELECT count(*) AS po_h4_triggers FROM pg_trigger WHERE tgrelid = 'po_h4'::regclass;

-- DDL that would break the tracking is refused
SELECT pg_temp.err($$ALTER TABLE po ALTER COLUMN total TYPE text$$);
SELECT pg_temp.err($$ALTER TABLE po RENAME COLUMN no TO order_no$$);
SELECT pg_temp.err($$ALTER TABLE po DROP COLUMN refunded$$);
SELECT pg_temp.err($$DROP TRIGGER loyalty_orders_insert ON po_h2$$);
CREATE TABLE plain (buyer text, total numeric, no text);
SELECT loyalty.track_orders('plain', 'o_pt', 'buyer', 'total', 'no');
SELECT pg_temp.err($$CREATE TABLE plain_child () INHERITS (plain)$$);
CREATE DOMAIN pt_amount AS numeric;
CREATE TABLE dom_orders (buyer text, total pt_amount, no text);
SELECT loyalty.track_orders('dom_orders', 'o_pt', 'buyer', 'total', 'no');
SELECT pg_temp.err($$DROP DOMAIN pt_amount CASCADE$$);
CREATE TABLE plain_other (buyer text, total numeric, no text);
SELECT pg_temp.err($$ALTER TABLE plain_other INHERIT plain$$);
SELECT pg_temp.err($$ALTER TABLE plain INHERIT plain_other$$);
CREATE TABLE bigger (buyer text, total numeric, no text) PARTITION BY LIST (buyer);
SELECT pg_temp.err($$ALTER TABLE bigger ATTACH PARTITION plain FOR VALUES IN ('x')$$);
CREATE FOREIGN DATA WRAPPER ly_dummy;
CREATE SERVER ly_dummy FOREIGN DATA WRAPPER ly_dummy;
SELECT pg_temp.err($$CREATE FOREIGN TABLE po_f PARTITION OF po FOR VALUES FROM ('2027-01-01') TO ('2028-01-01') SERVER ly_dummy$$);
-- DDL that keeps the columns readable is fine
ALTER TABLE po ALTER COLUMN total TYPE numeric(12, 2);
ALTER TABLE po ADD COLUMN note text;
ALTER TABLE po RENAME COLUMN note TO remark;
INSERT INTO po VALUES ('hal', '2025-04-01', 12.5, 'H1');
SELECT member, kind, points, ref, amount FROM pg_temp.ledger() WHERE member = 'hal';

-- untracking removes the triggers from every partition
SELECT loyalty.untrack_orders('po');
SELECT * FROM pg_temp.triggers();
INSERT INTO po VALUES ('ivy', '2025-04-01', 10, 'I1');
SELECT count(*) AS ivy_rows FROM pg_temp.ledger() WHERE member = 'ivy';
TRUNCATE po;

SELECT m, loyalty.balance('o_pt', m) FROM unnest(ARRAY['ann', 'bob', 'cy', 'dee', 'eve', 'fay', 'gil', 'hal']) m;
SELECT * FROM loyalty.verify();
DROP TABLE plain, dom_orders;
DROP DOMAIN pt_amount;
SELECT count(*) AS still_tracked FROM loyalty.tracked_orders WHERE program = 'o_pt';
DROP SERVER ly_dummy;
DROP FOREIGN DATA WRAPPER ly_dummy;
