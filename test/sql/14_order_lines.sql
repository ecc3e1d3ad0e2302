-- Order-lines tables (0.5.0, README "Order lines tables"): track_order_lines
-- earns one receipt per order from the app's order_items table, when the
-- transaction's lines are complete; refunds by line, refusals, backfill.
\i test/sql/preamble.psql

SELECT loyalty.create_program('olines', timezone => 'UTC') > 0 AS ok;
SELECT loyalty.add_rule('olines', 'ol_elec', 'category_rate', '{"category": "electronics", "points_per_unit": 1, "unit": 5}');
SELECT loyalty.add_rule('olines', 'ol_snacks', 'category_rate', '{"category": "snacks", "points_per_unit": 2, "unit": 1}');

-- 1. the member through the orders table
CREATE TABLE ol_orders (order_no integer PRIMARY KEY, member text NOT NULL, placed_at timestamptz);
CREATE TABLE ol_items (order_no integer NOT NULL, line_no integer NOT NULL, category text,
                       amount numeric(10,2) NOT NULL, refunded numeric(10,2) NOT NULL DEFAULT 0,
                       PRIMARY KEY (order_no, line_no));
SELECT loyalty.track_order_lines('ol_items', 'olines', 'order_no', 'line_no', 'amount',
         category_column => 'category', orders => 'ol_orders', orders_ref_column => 'order_no',
         orders_member_column => 'member', at_column => 'placed_at', refund_column => 'refunded');
SELECT relid, program, order_column, line_column, amount_column, category_column, member_column,
       orders, orders_ref_column, orders_member_column, at_column, refund_column
FROM loyalty.tracked_order_lines;

-- one order of 3 lines in one INSERT: electronics 500 / 5 = 100, snacks 30 x 2
-- = 60, no category 40 x 1 = 40: one receipt of 200 points for 570
INSERT INTO ol_orders VALUES (101, 'ol_ann', '2026-03-01 10:00+00');
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES
  (101, 1, 'electronics', 500), (101, 2, 'snacks', 30), (101, 3, NULL, 40);
SELECT kind, points, ref, amount, at, jsonb_array_length(detail -> 'lines') AS lines,
       detail -> 'rates' AS rates, qual_orders
FROM loyalty.ledger WHERE member = 'ol_ann' ORDER BY id;
SELECT detail -> 'receipt' AS receipt FROM loyalty.statement WHERE member = 'ol_ann' AND ref = '101';

-- the lines of one order in several statements of one transaction (an ORM):
-- nothing before COMMIT, then one receipt: 100 + snacks 10 x 2 = 120
BEGIN;
INSERT INTO ol_orders VALUES (102, 'ol_ann', '2026-03-02 10:00+00');
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (102, 1, NULL, 100);
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (102, 2, 'snacks', 10);
SELECT count(*) AS before_commit FROM loyalty.ledger WHERE member = 'ol_ann' AND ref = '102';
COMMIT;
SELECT kind, points, ref, amount FROM loyalty.ledger WHERE member = 'ol_ann' AND ref = '102';
SELECT sum(qual_orders) AS orders, loyalty.balance('olines', 'ol_ann') AS balance
FROM loyalty.ledger WHERE member = 'ol_ann';

-- INSERT ... SELECT of 50 whole orders: 10 x 1 + electronics 25 / 5 = 15 each
INSERT INTO ol_orders SELECT g, 'ol_bob', '2026-03-03 10:00+00' FROM generate_series(200, 249) g;
INSERT INTO ol_items (order_no, line_no, category, amount)
SELECT g, l, CASE l WHEN 2 THEN 'electronics' END, CASE l WHEN 1 THEN 10 ELSE 25 END
FROM generate_series(200, 249) g, generate_series(1, 2) l;
SELECT count(*) AS receipts, sum(points) AS points, min(points), max(points), sum(amount) AS amount
FROM loyalty.ledger WHERE member = 'ol_bob';

-- COPY of whole orders: 300 = snacks 5 x 2 + 7 = 17, 301 = electronics 50 / 5 = 10
INSERT INTO ol_orders VALUES (300, 'ol_cat', '2026-03-04 10:00+00'), (301, 'ol_cat', '2026-03-04 11:00+00');
COPY ol_items (order_no, line_no, category, amount) FROM STDIN;
300	1	snacks	5
300	2	\N	7
301	1	electronics	50
\.
SELECT ref, points, amount, jsonb_array_length(detail -> 'lines') AS lines
FROM loyalty.ledger WHERE member = 'ol_cat' ORDER BY ref;

-- the app's own role, without any loyalty role: its lines earn, read as that role
DROP ROLE IF EXISTS ol_clerk;
CREATE ROLE ol_clerk NOLOGIN;
GRANT SELECT, INSERT ON ol_orders, ol_items TO ol_clerk;
SET ROLE ol_clerk;
INSERT INTO ol_orders VALUES (400, 'ol_gus', '2026-03-04 12:00+00');
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (400, 1, NULL, 8);
RESET ROLE;
-- a role that may not read the orders table cannot earn through it: 42501, nothing written
REVOKE SELECT ON ol_orders FROM ol_clerk;
SET ROLE ol_clerk;
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (400, 2, NULL, 8);
RESET ROLE;
SELECT member, ref, points, amount FROM loyalty.ledger WHERE member = 'ol_gus';
SELECT count(*) AS gus_lines FROM ol_items WHERE order_no = 400;

-- 2. refunds by line.  Order 101 (P = 200, e = 100 / 60 / 40): half of line 1
-- claws round(200 x 100/200 x 250/500) = 50
UPDATE ol_items SET refunded = 250 WHERE order_no = 101 AND line_no = 1;
-- deleting line 2 refunds all of it: cumulative round(200 x (0.25 + 0.3)) = 110, so 60 more
DELETE FROM ol_items WHERE order_no = 101 AND line_no = 2;
-- the rest of line 1 (250 more): cumulative round(200 x (0.5 + 0.3)) = 160, so 50 more
UPDATE ol_items SET refunded = 500 WHERE order_no = 101 AND line_no = 1;
-- deleting the whole order 102 refunds both lines: 100 and 20
DELETE FROM ol_items WHERE order_no = 102;
SELECT kind, points, ref, original_ref, amount, detail -> 'lines' AS lines
FROM loyalty.ledger WHERE member = 'ol_ann' AND kind = 'refund' ORDER BY id;
-- 200 + 120 - 50 - 60 - 50 - 100 - 20 = 40: line 3 of order 101
SELECT loyalty.balance('olines', 'ol_ann') AS balance;
-- an update that changes nothing loyalty reads: nothing
UPDATE ol_items SET refunded = refunded WHERE order_no = 101;
SELECT count(*) AS refunds FROM loyalty.ledger WHERE member = 'ol_ann' AND kind = 'refund';

-- 3. refused changes, each writing nothing
SELECT pg_temp.err($$UPDATE ol_items SET refunded = 100 WHERE order_no = 101 AND line_no = 1$$) AS refund_down;
SELECT pg_temp.err($$UPDATE ol_items SET refunded = 41 WHERE order_no = 101 AND line_no = 3$$) AS over_refund;
SELECT pg_temp.err($$UPDATE ol_items SET amount = 41 WHERE order_no = 101 AND line_no = 3$$) AS amount_change;
SELECT pg_temp.err($$UPDATE ol_items SET category = 'snacks' WHERE order_no = 101 AND line_no = 3$$) AS category_change;
SELECT pg_temp.err($$UPDATE ol_items SET line_no = 4 WHERE order_no = 101 AND line_no = 3$$) AS line_change;
SELECT pg_temp.err($$UPDATE ol_items SET order_no = 300 WHERE order_no = 101 AND line_no = 3$$) AS order_change;
SELECT pg_temp.err($$TRUNCATE ol_items$$) AS truncate;
-- a line added to an order that earned in an earlier transaction: LY005 at COMMIT
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (101, 9, NULL, 1);
-- and one added after the order earned at SET CONSTRAINTS ... IMMEDIATE
BEGIN;
INSERT INTO ol_orders VALUES (103, 'ol_ann', '2026-03-05 10:00+00');
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (103, 1, NULL, 10);
SET CONSTRAINTS loyalty_order_lines_earn IMMEDIATE;
SELECT points FROM loyalty.ledger WHERE member = 'ol_ann' AND ref = '103';
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (103, 2, NULL, 10);
ROLLBACK;
-- an order without its row in the orders table, a non-positive amount: 22023
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (999, 1, NULL, 5);
INSERT INTO ol_orders VALUES (104, 'ol_ann', '2026-03-05 10:00+00');
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (104, 1, NULL, 0);
SELECT count(*) AS rows_kept FROM ol_items WHERE (order_no, line_no) = (101, 9) OR order_no IN (103, 104, 999);
SELECT count(*) AS ledger_rows, loyalty.balance('olines', 'ol_ann') AS balance
FROM loyalty.ledger WHERE member = 'ol_ann';
-- inserted then deleted or corrected before COMMIT: the order earns as it is at COMMIT
BEGIN;
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (104, 1, NULL, 30), (104, 2, NULL, 99);
DELETE FROM ol_items WHERE order_no = 104 AND line_no = 2;
UPDATE ol_items SET amount = 31 WHERE order_no = 104 AND line_no = 1;
COMMIT;
SELECT ref, points, amount, jsonb_array_length(detail -> 'lines') AS lines
FROM loyalty.ledger WHERE member = 'ol_ann' AND ref = '104';
-- earned at SET CONSTRAINTS inside a savepoint rolled back: the order earns again, once
BEGIN;
INSERT INTO ol_orders VALUES (105, 'ol_ann', '2026-03-05 11:00+00');
SAVEPOINT s;
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (105, 1, NULL, 7);
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK TO SAVEPOINT s;
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (105, 1, NULL, 9);
SELECT pg_temp.err($$SELECT 1/0$$) AS another_savepoint_aborted;
INSERT INTO ol_items (order_no, line_no, category, amount) VALUES (105, 2, NULL, 1);
COMMIT;
SELECT ref, points, amount, jsonb_array_length(detail -> 'lines') AS lines
FROM loyalty.ledger WHERE member = 'ol_ann' AND ref = '105';

-- 4. the member on the lines table; orders of different members share a number
CREATE TABLE ol_lines2 (order_ref text, member text, line text, amount integer, sold_at timestamp);
CREATE INDEX ON ol_lines2 (order_ref, member);
SELECT loyalty.track_order_lines('ol_lines2', 'olines', 'order_ref', 'line', 'amount',
         member_column => 'member', at_column => 'sold_at');
INSERT INTO ol_lines2 VALUES ('A1', 'ol_dan', 'a', 10, '2026-03-06 09:00'), ('A1', 'ol_dan', 'b', 20, '2026-03-06 09:00'),
                             ('A1', 'ol_eve', 'a', 5, '2026-03-06 09:30');
SELECT member, ref, points, amount, at FROM loyalty.ledger
WHERE member IN ('ol_dan', 'ol_eve') ORDER BY member;
SELECT pg_temp.err($$UPDATE ol_lines2 SET member = 'ol_eve' WHERE member = 'ol_dan' AND line = 'b'$$) AS member_change;

-- 5. backfill: the orders already in the table, idempotent
CREATE TABLE ol_lines3 (order_ref text, member text, line integer, amount numeric, refunded numeric);
CREATE INDEX ON ol_lines3 (order_ref);
INSERT INTO ol_lines3 VALUES ('B1', 'ol_fay', 1, 10, NULL), ('B1', 'ol_fay', 2, 20, NULL),
                             ('B2', 'ol_fay', 1, 40, 10);
SELECT loyalty.track_order_lines('ol_lines3', 'olines', 'order_ref', 'line', 'amount',
         member_column => 'member', refund_column => 'refunded', backfill => true);
SELECT kind, ref, original_ref, points, amount FROM loyalty.ledger WHERE member = 'ol_fay' ORDER BY id;
-- tracking again credits nothing twice
SELECT loyalty.track_order_lines('ol_lines3', 'olines', 'order_ref', 'line', 'amount',
         member_column => 'member', refund_column => 'refunded', backfill => true);
SELECT count(*) AS fay_rows FROM loyalty.ledger WHERE member = 'ol_fay';
-- changed while untracked: a raised refund column is refunded, other lines left alone (WARNING)
SELECT loyalty.untrack_order_lines('ol_lines3');
UPDATE ol_lines3 SET refunded = 20 WHERE order_ref = 'B2';
UPDATE ol_lines3 SET amount = 11 WHERE order_ref = 'B1' AND line = 1;
SELECT loyalty.track_order_lines('ol_lines3', 'olines', 'order_ref', 'line', 'amount',
         member_column => 'member', refund_column => 'refunded', backfill => true);
SELECT kind, ref, original_ref, points, amount FROM loyalty.ledger WHERE member = 'ol_fay' ORDER BY id;

-- 6. what track_order_lines refuses, writing nothing
SELECT count(*) AS tracked_before FROM loyalty.tracked_order_lines;
CREATE TABLE ol_bad (o integer, l integer, amt numeric, cat numeric, who text, d text);
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'nope', member_column => 'who')$$) AS bad_column;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt', category_column => 'cat', member_column => 'who')$$) AS bad_type;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt', at_column => 'd', member_column => 'who')$$) AS bad_at;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt')$$) AS no_member;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt', member_column => 'who',
                     orders => 'ol_orders', orders_ref_column => 'order_no', orders_member_column => 'member')$$) AS both_members;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt', member_column => 'who')$$) AS no_index;
CREATE INDEX ON ol_bad (o);
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'nope', 'o', 'l', 'amt', member_column => 'who')$$) AS no_program;
CREATE TABLE ol_orders_nokey (order_no integer, member text);
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt',
                     orders => 'ol_orders_nokey', orders_ref_column => 'order_no', orders_member_column => 'member')$$) AS orders_not_unique;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt',
                     orders => 'ol_orders', orders_ref_column => 'member', orders_member_column => 'member')$$) AS key_types;
-- a table earns through one tracking only
CREATE TABLE ol_orders2 (order_no integer PRIMARY KEY, member text, total numeric);
SELECT loyalty.track_orders('ol_orders2', 'olines', 'member', 'total', 'order_no');
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt',
                     orders => 'ol_orders2', orders_ref_column => 'order_no', orders_member_column => 'member')$$) AS orders_tracked;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_orders2', 'olines', 'order_no', 'order_no', 'total', member_column => 'member')$$) AS lines_tracked;
SELECT pg_temp.err($$SELECT loyalty.track_orders('ol_orders', 'olines', 'member', 'order_no', 'order_no')$$) AS orders_of_lines;
SELECT pg_temp.err($$SELECT loyalty.track_orders('ol_items', 'olines', 'order_no', 'amount', 'line_no')$$) AS lines_as_orders;
SELECT loyalty.untrack_orders('ol_orders2');
CREATE TABLE ol_parted (o integer, l integer, amt numeric, who text) PARTITION BY RANGE (o);
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_parted', 'olines', 'o', 'l', 'amt', member_column => 'who')$$) AS partitioned;
-- the caller must own the table
DROP ROLE IF EXISTS ol_admin;
CREATE ROLE ol_admin NOLOGIN IN ROLE loyalty_admin;
GRANT ALL ON ol_bad TO ol_admin;
SET ROLE ol_admin;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt', member_column => 'who')$$) AS not_owner;
RESET ROLE;
SELECT count(*) AS tracked_after FROM loyalty.tracked_order_lines;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ol_bad'::regclass;

-- 7. the orders table: what would leave earned lines without their member is refused
-- order 500 earns 20 x 1 + snacks 5 x 2 = 30 for ol_hal
INSERT INTO ol_orders VALUES (500, 'ol_hal', '2026-03-08 10:00+00');
INSERT INTO ol_items VALUES (500, 1, NULL, 20, 0), (500, 2, 'snacks', 5, 0);
SELECT loyalty.balance('olines', 'ol_hal') AS hal;
SELECT count(*) AS ledger_before FROM loyalty.ledger WHERE member IN ('ol_hal', 'ol_ivy');
-- the member or the number of an earned order cannot change: LY005, nothing written
SELECT pg_temp.err($$UPDATE ol_orders SET member = 'ol_ivy' WHERE order_no = 500$$) AS member_change;
SELECT pg_temp.err($$UPDATE ol_orders SET order_no = 501 WHERE order_no = 500$$) AS ref_change;
SELECT pg_temp.err($$UPDATE ol_orders SET member = CASE WHEN order_no = 500 THEN 'ol_ivy' ELSE member END
                     WHERE order_no IN (200, 500)$$) AS one_of_two;
SELECT order_no, member FROM ol_orders WHERE order_no IN (200, 500, 501) ORDER BY order_no;
SELECT count(*) AS ledger_after, loyalty.balance('olines', 'ol_hal') AS hal,
       loyalty.balance('olines', 'ol_ivy') AS ivy FROM loyalty.ledger WHERE member IN ('ol_hal', 'ol_ivy');
-- other columns change, the member set to what it is too
UPDATE ol_orders SET placed_at = '2026-03-08 11:00+00', member = 'ol_hal' WHERE order_no = 500;
UPDATE ol_orders SET placed_at = placed_at;
-- an order that has not earned yet changes freely; it earns at commit for its member then: 7 for ol_ivy
BEGIN;
INSERT INTO ol_orders VALUES (502, 'ol_hal', '2026-03-08 12:00+00');
INSERT INTO ol_items VALUES (502, 1, NULL, 7, 0);
UPDATE ol_orders SET member = 'ol_ivy' WHERE order_no = 502;
COMMIT;
SELECT loyalty.balance('olines', 'ol_hal') AS hal, loyalty.balance('olines', 'ol_ivy') AS ivy;
-- an order without lines: its member and number change, it is deleted
INSERT INTO ol_orders VALUES (503, 'ol_hal', '2026-03-08 13:00+00');
UPDATE ol_orders SET member = 'ol_ivy', order_no = 504 WHERE order_no = 503;
DELETE FROM ol_orders WHERE order_no = 504;
-- an earned order's row stays while its lines are left to refund (LY005); its lines
-- deleted first refund the 30, and then the row goes
SELECT pg_temp.err($$DELETE FROM ol_orders WHERE order_no = 500$$) AS delete_earned;
DELETE FROM ol_items WHERE order_no = 500;
SELECT loyalty.balance('olines', 'ol_hal') AS hal_lines_deleted;
DELETE FROM ol_orders WHERE order_no = 500;
SELECT count(*) AS order_500 FROM ol_orders WHERE order_no = 500;
-- TRUNCATE: 55000; the triggers stay while tracked; a partitioned orders table, an orders table of another owner
SELECT pg_temp.err($$TRUNCATE ol_orders$$) AS truncate_orders;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'ol_orders'::regclass ORDER BY tgname;
SELECT pg_temp.err($$DROP TRIGGER loyalty_order_lines_orders_update ON ol_orders$$) AS drop_orders_trigger;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt',
                     orders => 'ol_parted', orders_ref_column => 'o', orders_member_column => 'who')$$) AS parted_orders;
ALTER TABLE ol_bad OWNER TO ol_admin;
GRANT SELECT ON ol_orders TO ol_admin;
SET ROLE ol_admin;
SELECT pg_temp.err($$SELECT loyalty.track_order_lines('ol_bad', 'olines', 'o', 'l', 'amt',
                     orders => 'ol_orders', orders_ref_column => 'order_no', orders_member_column => 'member')$$) AS orders_not_owned;
RESET ROLE;
ALTER TABLE ol_bad OWNER TO CURRENT_USER;
-- a second lines table tracked with the same orders table shares its triggers; order 510 earns 4 x 1 = 4
CREATE TABLE ol_fees (order_no integer NOT NULL REFERENCES ol_orders ON DELETE CASCADE, fee_no integer NOT NULL,
                      amount numeric NOT NULL, PRIMARY KEY (order_no, fee_no));
SELECT loyalty.track_order_lines('ol_fees', 'olines', 'order_no', 'fee_no', 'amount', orders => 'ol_orders',
                                 orders_ref_column => 'order_no', orders_member_column => 'member');
INSERT INTO ol_orders VALUES (510, 'ol_jo', '2026-03-08 14:00+00');
INSERT INTO ol_fees VALUES (510, 1, 4);
-- a DELETE cascading to the earned fee is refused like any DELETE of the order: LY005, the fee and its 4 points stay
SELECT pg_temp.err($$DELETE FROM ol_orders WHERE order_no = 510$$) AS delete_cascading;
SELECT count(*) AS fees, loyalty.balance('olines', 'ol_jo') AS jo FROM ol_fees;
-- untracking one of the two keeps the orders table's triggers for the other
SELECT loyalty.untrack_order_lines('ol_fees');
SELECT count(*) AS orders_triggers_kept FROM pg_trigger WHERE tgrelid = 'ol_orders'::regclass AND NOT tgisinternal;
DROP TABLE ol_fees;

-- 8. untrack, drop
SELECT loyalty.untrack_order_lines('ol_lines2');
INSERT INTO ol_lines2 VALUES ('A2', 'ol_dan', 'a', 10, '2026-03-07 09:00');
SELECT count(*) AS dan_receipts FROM loyalty.ledger WHERE member = 'ol_dan';
SELECT pg_temp.err($$SELECT loyalty.untrack_order_lines('ol_lines2')$$) AS untrack_again;
SELECT pg_temp.err($$DROP TABLE ol_orders$$) AS drop_orders_of_lines;
SELECT pg_temp.err($$ALTER TABLE ol_items DROP COLUMN refunded$$) AS drop_column;
DROP TABLE ol_lines3;
SELECT relid FROM loyalty.tracked_order_lines ORDER BY relid::text;
SELECT loyalty.untrack_order_lines('ol_items');
-- untracked, the orders table is the app's alone again: 502 moves to ol_hal, the ledger keeps ol_ivy's 7
SELECT count(*) AS orders_triggers FROM pg_trigger WHERE tgrelid = 'ol_orders'::regclass;
UPDATE ol_orders SET member = 'ol_hal' WHERE order_no = 502;
SELECT loyalty.balance('olines', 'ol_hal') AS hal, loyalty.balance('olines', 'ol_ivy') AS ivy;
DROP TABLE ol_items, ol_orders, ol_lines2, ol_bad, ol_orders_nokey, ol_orders2, ol_parted;
DROP ROLE ol_admin, ol_clerk;
SELECT count(*) AS tracked FROM loyalty.tracked_order_lines;
SELECT count(*) AS problems FROM loyalty.verify();
