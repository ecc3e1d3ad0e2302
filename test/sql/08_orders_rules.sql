-- Orders trigger rules: every change of a tracked row moves the points
-- exactly or fails the app's statement with a documented SQLSTATE
-- (issue #8 items 1, 7, 15, 16; SPEC §3 "Orders tables the app already has").
\i test/sql/preamble.psql
CREATE FUNCTION pg_temp.ledger(prog text)
RETURNS TABLE(member text, kind text, points bigint, ref text, amount numeric)
LANGUAGE sql AS $f$
  SELECT l.member, l.kind, l.points, l.ref, l.amount
  FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
  WHERE p.code = prog ORDER BY l.member, l.id
$f$;
CREATE FUNCTION pg_temp.rows(prog text) RETURNS bigint LANGUAGE sql AS $f$
  SELECT count(*) FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
  WHERE p.code = prog
$f$;
SELECT loyalty.create_program('o_r') > 0 AS ok;

-------------------------------------------------------------------------------
-- 1: NULL member or ref in an UPDATE, rows from before and after tracking
-------------------------------------------------------------------------------
CREATE TABLE ord2 (no text, cust text, amt numeric, refunded numeric DEFAULT 0);
INSERT INTO ord2 VALUES ('n1', 'k1', 100, 0);
SELECT loyalty.track_orders('ord2', 'o_r', 'cust', 'amt', 'no', refund_column => 'refunded', backfill => true);
SELECT pg_temp.err($$UPDATE ord2 SET cust = NULL, refunded = 100$$);
SELECT pg_temp.err($$UPDATE ord2 SET no = NULL$$);
SELECT pg_temp.err($$INSERT INTO ord2 VALUES (NULL, 'k1', 10, 0)$$);
SELECT pg_temp.err($$INSERT INTO ord2 VALUES ('n2', NULL, 10, 0)$$);
SELECT pg_temp.err($$INSERT INTO ord2 VALUES ('n2', 'k1', NULL, 0)$$);
SELECT pg_temp.err($$INSERT INTO ord2 VALUES ('n2', 'k1', 10, NULL)$$);   -- NULL refund column: 0
SELECT * FROM ord2 ORDER BY no;
-- rows from before tracking, never backfilled: outside the program
CREATE TABLE ord3 (no text, cust text, amt numeric, refunded numeric DEFAULT 0);
INSERT INTO ord3 VALUES (NULL, 'k2', 40, 0), ('m1', 'k2', 30, 0), ('m2', NULL, 20, 0);
SELECT loyalty.track_orders('ord3', 'o_r', 'cust', 'amt', 'no', refund_column => 'refunded');
SELECT pg_temp.err($$UPDATE ord3 SET refunded = 10 WHERE no IS NULL$$);
SELECT pg_temp.err($$UPDATE ord3 SET cust = NULL WHERE no = 'm1'$$);
SELECT pg_temp.err($$UPDATE ord3 SET amt = NULL, refunded = NULL$$);
SELECT pg_temp.err($$DELETE FROM ord3 WHERE no = 'm2'$$);
SELECT count(*) AS ord3_ledger_rows FROM pg_temp.ledger('o_r') WHERE ref IN ('m1', 'm2');
-- a backfill earns what can earn and fails on a row that cannot
SELECT pg_temp.err($$SELECT loyalty.track_orders('ord3', 'o_r', 'cust', 'amt', 'no', refund_column => 'refunded', backfill => true)$$);
DELETE FROM ord3 WHERE no IS NULL OR cust IS NULL;
SELECT pg_temp.err($$SELECT loyalty.track_orders('ord3', 'o_r', 'cust', 'amt', 'no', refund_column => 'refunded', backfill => true)$$);
SELECT * FROM pg_temp.ledger('o_r');

-------------------------------------------------------------------------------
-- 16: member, ref and amount changes, TRUNCATE
-------------------------------------------------------------------------------
SELECT loyalty.create_program('o_mv', points_per_unit => 2) > 0 AS ok;
CREATE TABLE sales (id serial PRIMARY KEY, member text, amount numeric(10, 2), ref text,
                    refunded numeric(10, 2) DEFAULT 0, cat text, at timestamptz DEFAULT '2026-03-01');
SELECT loyalty.track_orders('sales', 'o_mv', 'member', 'amount', 'ref', 'at', 'cat', 'refunded');
INSERT INTO sales (member, amount, ref) VALUES ('amy', 100, 'S1'), ('ben', 200, 'S2'), ('ben', 50, 'S3');
UPDATE sales SET refunded = 20 WHERE ref = 'S1';
-- another member: amy's order is reversed (what is left of it), cat earns it
UPDATE sales SET member = 'cat' WHERE ref = 'S1';
-- another order number: S2 reversed, S2b earned
UPDATE sales SET ref = 'S2b' WHERE ref = 'S2';
-- both in one statement, with the refund column raised too
UPDATE sales SET member = 'dan', ref = 'S3d', refunded = 10 WHERE ref = 'S3';
-- the changed order refunds exactly on DELETE
DELETE FROM sales WHERE ref = 'S1';
SELECT member, kind, points, ref, amount FROM pg_temp.ledger('o_mv');
SELECT m, loyalty.balance('o_mv', m) FROM unnest(ARRAY['amy', 'ben', 'cat', 'dan']) m;
-- the amount of an order cannot change; a category or time change recomputes nothing
SELECT pg_temp.err($$UPDATE sales SET amount = 150 WHERE ref = 'S2b'$$);
SELECT pg_temp.err($$UPDATE sales SET amount = NULL WHERE ref = 'S2b'$$);
SELECT pg_temp.err($$UPDATE sales SET amount = -1 WHERE ref = 'S2b'$$);
SELECT pg_temp.err($$UPDATE sales SET cat = 'wine', at = '2026-04-01' WHERE ref = 'S2b'$$);
-- an order earns once per member: a re-insert, also of a deleted order, is LY005
SELECT pg_temp.err($$INSERT INTO sales (member, amount, ref) VALUES ('cat', 100, 'S1')$$);
SELECT pg_temp.err($$INSERT INTO sales (member, amount, ref) VALUES ('ben', 200, 'S2b')$$);
SELECT pg_temp.err($$INSERT INTO sales (member, amount, ref) VALUES ('eve', 5, 'E1'), ('eve', 5, 'E1')$$);
SELECT pg_temp.err($$UPDATE sales SET member = 'cat', ref = 'S1' WHERE ref = 'S2b'$$);
-- the same order number for another member is another order
SELECT pg_temp.err($$INSERT INTO sales (member, amount, ref) VALUES ('eve', 5, 'S2b')$$);
-- TRUNCATE is refused; DELETE refunds
SELECT pg_temp.err($$TRUNCATE sales$$);
SELECT count(*) AS rows_kept FROM sales;
SELECT member, kind, points, ref FROM pg_temp.ledger('o_mv') WHERE kind = 'refund' OR ref LIKE 'E%';
-- INSERT ... ON CONFLICT DO UPDATE: the update part is an UPDATE
CREATE UNIQUE INDEX sales_ref ON sales (member, ref);
INSERT INTO sales (member, amount, ref, refunded) VALUES ('ben', 200, 'S2b', 50), ('fay', 30, 'F1', 0)
ON CONFLICT (member, ref) DO UPDATE SET refunded = EXCLUDED.refunded;
SELECT member, kind, points, ref FROM pg_temp.ledger('o_mv') WHERE ref LIKE 'S2b%' OR ref LIKE 'F1%';
-- MERGE: its inserts earn, its deletes refund; statements that change no row do nothing
CREATE TEMP TABLE incoming (member text, amount numeric, ref text);
INSERT INTO incoming VALUES ('fay', 30, 'F1'), ('gus', 40, 'G1');
MERGE INTO sales s USING incoming i ON s.member = i.member AND s.ref = i.ref
WHEN MATCHED THEN DELETE
WHEN NOT MATCHED THEN INSERT (member, amount, ref) VALUES (i.member, i.amount, i.ref);
UPDATE sales SET refunded = 1 WHERE false;
DELETE FROM sales WHERE false;
INSERT INTO sales (member, amount, ref) SELECT member, amount, ref FROM incoming WHERE false;
SELECT member, kind, points, ref FROM pg_temp.ledger('o_mv') WHERE ref LIKE 'F1%' OR ref LIKE 'G1%';
-- two rows swapping their orders: each new order is known already
DROP INDEX sales_ref;
SELECT pg_temp.err($$UPDATE sales SET member = CASE member WHEN 'ben' THEN 'eve' ELSE 'ben' END WHERE ref = 'S2b'$$);

-------------------------------------------------------------------------------
-- 7: refunds in steps, re-tracking, a refund column that goes down
-------------------------------------------------------------------------------
SELECT loyalty.create_program('o_rf') > 0 AS ok;
CREATE TABLE refunds (no text, cust text, amt numeric(10, 2), refunded numeric(10, 2) DEFAULT 0);
SELECT loyalty.track_orders('refunds', 'o_rf', 'cust', 'amt', 'no', refund_column => 'refunded');
INSERT INTO refunds VALUES ('A-9', 'm', 100, 0);
UPDATE refunds SET refunded = 10;
UPDATE refunds SET refunded = 25;
SELECT pg_temp.rows('o_rf') AS rows_before \gset
SELECT pg_temp.err($$SELECT loyalty.track_orders('refunds', 'o_rf', 'cust', 'amt', 'no', refund_column => 'refunded', backfill => true)$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('refunds', 'o_rf', 'cust', 'amt', 'no', refund_column => 'refunded', backfill => true)$$);
SELECT pg_temp.rows('o_rf') = :rows_before AS backfill_wrote_nothing;
-- 0 -> 20 -> 10: a refund cannot be taken back; -> 20 again changes nothing; -> 30 refunds 10
INSERT INTO refunds VALUES ('B-1', 'm', 100, 0);
UPDATE refunds SET refunded = 20 WHERE no = 'B-1';
SELECT pg_temp.err($$UPDATE refunds SET refunded = 10 WHERE no = 'B-1'$$);
SELECT pg_temp.err($$UPDATE refunds SET refunded = NULL WHERE no = 'B-1'$$);
SELECT pg_temp.err($$UPDATE refunds SET refunded = 20 WHERE no = 'B-1'$$);
SELECT pg_temp.err($$UPDATE refunds SET refunded = 30 WHERE no = 'B-1'$$);
SELECT pg_temp.err($$UPDATE refunds SET refunded = 101 WHERE no = 'B-1'$$);
-- a refund made by a direct call is reconciled: the column is a cumulative target
SELECT loyalty.refund('o_rf', 'm', 'B-1', 5, 'manual-1');
SELECT pg_temp.err($$UPDATE refunds SET refunded = 40 WHERE no = 'B-1'$$);
-- an order inserted already partly refunded; too much refunded is LY006
INSERT INTO refunds VALUES ('C-1', 'm', 80, 30);
SELECT pg_temp.err($$INSERT INTO refunds VALUES ('C-2', 'm', 80, 90)$$);
SELECT pg_temp.err($$INSERT INTO refunds VALUES ('C-2', 'm', 80, -1)$$);
SELECT member, kind, points, ref, amount FROM pg_temp.ledger('o_rf');
-- changes made while untracked: a refund raised is picked up by the backfill;
-- an order whose row now disagrees with the ledger is left alone (one WARNING)
SELECT loyalty.untrack_orders('refunds');
UPDATE refunds SET refunded = 50 WHERE no = 'C-1';
UPDATE refunds SET amt = 120 WHERE no = 'A-9';
UPDATE refunds SET refunded = 0 WHERE no = 'B-1';
INSERT INTO refunds VALUES ('D-1', 'm', 10, 0);
SELECT loyalty.track_orders('refunds', 'o_rf', 'cust', 'amt', 'no', refund_column => 'refunded', backfill => true);
SELECT member, kind, points, ref, amount FROM pg_temp.ledger('o_rf') WHERE ref LIKE 'C-1%' OR ref LIKE 'D-1%';
SELECT loyalty.balance('o_rf', 'm') AS balance_m;

-------------------------------------------------------------------------------
-- 15: a timestamp at column is the program's local time, a date its local
-- midnight, whatever the session's TimeZone
-------------------------------------------------------------------------------
SELECT loyalty.create_program('o_sh', timezone => 'Asia/Shanghai') > 0 AS ok;
CREATE TABLE naive (no text, cust text, amt numeric, at timestamp, day date);
INSERT INTO naive VALUES ('T0', 'm', 10, '2026-03-01 10:00', '2026-03-01');
SET TIME ZONE 'America/New_York';
SELECT loyalty.track_orders('naive', 'o_sh', 'cust', 'amt', 'no', 'at', backfill => true);
INSERT INTO naive VALUES ('T1', 'm', 10, '2026-03-01 10:00', '2026-03-01');
SET TIME ZONE 'Europe/Berlin';
INSERT INTO naive VALUES ('T2', 'm', 10, '2026-07-01 23:30', '2026-07-01');
SELECT pg_temp.err($$INSERT INTO naive VALUES ('T3', 'm', 10, 'infinity', '2026-07-01')$$);
CREATE TABLE dated (no text, cust text, amt numeric, day date);
SELECT loyalty.track_orders('dated', 'o_sh', 'cust', 'amt', 'no', 'day');
INSERT INTO dated VALUES ('D1', 'm', 10, '2026-03-01');
SET TIME ZONE 'UTC';
SELECT ref, at FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'o_sh' ORDER BY l.member, l.id;

-------------------------------------------------------------------------------
-- column types: integers, char(n), varchar, floats, domains
-------------------------------------------------------------------------------
SELECT loyalty.create_program('o_ty') > 0 AS ok;
CREATE DOMAIN price AS numeric(10, 2) CHECK (VALUE >= 0);
CREATE DOMAIN order_no AS varchar(30);
CREATE TABLE typed (cust bigint, amt price, no order_no, code char(8), qty int, f float8, cat smallint);
SELECT loyalty.track_orders('typed', 'o_ty', 'cust', 'amt', 'no', category_column => 'cat');
INSERT INTO typed VALUES (42, 12.50, 'N-1', 'AB', 1, 0.1, 7);
SELECT loyalty.track_orders('typed', 'o_ty', 'cust', 'f', 'code');
INSERT INTO typed VALUES (42, 1, 'N-2', 'AB', 1, 0.5, 7), (43, 1, 'N-3', 'CD', 1, 20.75, 7);
SELECT loyalty.track_orders('typed', 'o_ty', 'qty', 'qty', 'cust');
INSERT INTO typed VALUES (44, 1, 'N-4', 'EF', 3, 1, 7);
SELECT member, kind, points, ref, amount, category
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id WHERE p.code = 'o_ty' ORDER BY l.member, l.id;
-- refs of 200 characters: the refund refs derived from them stay within 200
CREATE TABLE longref (cust text, amt numeric, no text, refunded numeric DEFAULT 0);
SELECT loyalty.track_orders('longref', 'o_ty', 'cust', 'amt', 'no', refund_column => 'refunded');
INSERT INTO longref VALUES ('L', 100, repeat('x', 200)), ('L', 100, repeat('y', 195));
UPDATE longref SET refunded = 10;
DELETE FROM longref;
SELECT kind, points, length(ref) AS ref_length, left(ref, 5) || '...' || right(ref, 12) AS ref
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'o_ty' AND l.member = 'L' ORDER BY l.id;
SELECT pg_temp.err($$INSERT INTO longref VALUES ('L', 100, repeat('z', 201))$$);
SELECT pg_temp.err($$INSERT INTO longref VALUES ('L', 100, '')$$);
SELECT pg_temp.err($$INSERT INTO longref VALUES ('L', 'NaN', 'nan')$$);

-------------------------------------------------------------------------------
-- bulk INSERT ... SELECT and COPY, transition tables spilled to disk
-------------------------------------------------------------------------------
SELECT loyalty.create_program('o_bulk') > 0 AS ok;
CREATE TABLE bulk (member text, amount numeric, ref text, placed timestamptz);
SELECT loyalty.track_orders('bulk', 'o_bulk', 'member', 'amount', 'ref', 'placed');
SET work_mem = '64kB';
INSERT INTO bulk SELECT 'b' || (g % 100), 10 + g % 7, 'R' || g,
                        timestamptz '2026-05-01' + g * interval '1 minute'
FROM generate_series(1, 5000) g;
RESET work_mem;
COPY bulk FROM stdin;
c1	2.01	CP1	2026-06-02 01:00:00+00
c2	3.02	CP2	2026-06-03 02:00:00+00
c3	4.03	CP3	2026-06-04 03:00:00+00
c4	5.04	CP4	2026-06-05 04:00:00+00
c5	6.05	CP5	2026-06-06 05:00:00+00
c6	7.06	CP6	2026-06-07 06:00:00+00
c7	8.07	CP7	2026-06-08 07:00:00+00
c8	9.08	CP8	2026-06-09 08:00:00+00
c9	1.09	CP9	2026-06-10 09:00:00+00
c10	2.10	CP10	2026-06-11 10:00:00+00
c11	3.11	CP11	2026-06-12 11:00:00+00
c12	4.12	CP12	2026-06-13 12:00:00+00
c13	5.13	CP13	2026-06-14 13:00:00+00
c14	6.14	CP14	2026-06-15 14:00:00+00
c15	7.15	CP15	2026-06-16 15:00:00+00
c16	8.16	CP16	2026-06-17 16:00:00+00
c17	9.17	CP17	2026-06-18 17:00:00+00
c18	1.18	CP18	2026-06-19 18:00:00+00
c19	2.19	CP19	2026-06-20 19:00:00+00
c20	3.20	CP20	2026-06-21 20:00:00+00
c21	4.21	CP21	2026-06-22 21:00:00+00
c22	5.22	CP22	2026-06-23 22:00:00+00
c23	6.23	CP23	2026-06-24 23:00:00+00
c24	7.24	CP24	2026-06-25 00:00:00+00
c25	8.25	CP25	2026-06-26 01:00:00+00
c26	9.26	CP26	2026-06-27 02:00:00+00
c27	1.27	CP27	2026-06-28 03:00:00+00
c28	2.28	CP28	2026-06-01 04:00:00+00
c29	3.29	CP29	2026-06-02 05:00:00+00
c30	4.30	CP30	2026-06-03 06:00:00+00
c31	5.31	CP31	2026-06-04 07:00:00+00
c32	6.32	CP32	2026-06-05 08:00:00+00
c33	7.33	CP33	2026-06-06 09:00:00+00
c34	8.34	CP34	2026-06-07 10:00:00+00
c35	9.35	CP35	2026-06-08 11:00:00+00
c36	1.36	CP36	2026-06-09 12:00:00+00
c0	2.37	CP37	2026-06-10 13:00:00+00
c1	3.38	CP38	2026-06-11 14:00:00+00
c2	4.39	CP39	2026-06-12 15:00:00+00
c3	5.40	CP40	2026-06-13 16:00:00+00
c4	6.41	CP41	2026-06-14 17:00:00+00
c5	7.42	CP42	2026-06-15 18:00:00+00
c6	8.43	CP43	2026-06-16 19:00:00+00
c7	9.44	CP44	2026-06-17 20:00:00+00
c8	1.45	CP45	2026-06-18 21:00:00+00
c9	2.46	CP46	2026-06-19 22:00:00+00
c10	3.47	CP47	2026-06-20 23:00:00+00
c11	4.48	CP48	2026-06-21 00:00:00+00
c12	5.49	CP49	2026-06-22 01:00:00+00
c13	6.50	CP50	2026-06-23 02:00:00+00
c14	7.51	CP51	2026-06-24 03:00:00+00
c15	8.52	CP52	2026-06-25 04:00:00+00
c16	9.53	CP53	2026-06-26 05:00:00+00
c17	1.54	CP54	2026-06-27 06:00:00+00
c18	2.55	CP55	2026-06-28 07:00:00+00
c19	3.56	CP56	2026-06-01 08:00:00+00
c20	4.57	CP57	2026-06-02 09:00:00+00
c21	5.58	CP58	2026-06-03 10:00:00+00
c22	6.59	CP59	2026-06-04 11:00:00+00
c23	7.60	CP60	2026-06-05 12:00:00+00
c24	8.61	CP61	2026-06-06 13:00:00+00
c25	9.62	CP62	2026-06-07 14:00:00+00
c26	1.63	CP63	2026-06-08 15:00:00+00
c27	2.64	CP64	2026-06-09 16:00:00+00
c28	3.65	CP65	2026-06-10 17:00:00+00
c29	4.66	CP66	2026-06-11 18:00:00+00
c30	5.67	CP67	2026-06-12 19:00:00+00
c31	6.68	CP68	2026-06-13 20:00:00+00
c32	7.69	CP69	2026-06-14 21:00:00+00
c33	8.70	CP70	2026-06-15 22:00:00+00
c34	9.71	CP71	2026-06-16 23:00:00+00
c35	1.72	CP72	2026-06-17 00:00:00+00
c36	2.73	CP73	2026-06-18 01:00:00+00
c0	3.74	CP74	2026-06-19 02:00:00+00
c1	4.75	CP75	2026-06-20 03:00:00+00
c2	5.76	CP76	2026-06-21 04:00:00+00
c3	6.77	CP77	2026-06-22 05:00:00+00
c4	7.78	CP78	2026-06-23 06:00:00+00
c5	8.79	CP79	2026-06-24 07:00:00+00
c6	9.80	CP80	2026-06-25 08:00:00+00
c7	1.81	CP81	2026-06-26 09:00:00+00
c8	2.82	CP82	2026-06-27 10:00:00+00
c9	3.83	CP83	2026-06-28 11:00:00+00
c10	4.84	CP84	2026-06-01 12:00:00+00
c11	5.85	CP85	2026-06-02 13:00:00+00
c12	6.86	CP86	2026-06-03 14:00:00+00
c13	7.87	CP87	2026-06-04 15:00:00+00
c14	8.88	CP88	2026-06-05 16:00:00+00
c15	9.89	CP89	2026-06-06 17:00:00+00
c16	1.90	CP90	2026-06-07 18:00:00+00
c17	2.91	CP91	2026-06-08 19:00:00+00
c18	3.92	CP92	2026-06-09 20:00:00+00
c19	4.93	CP93	2026-06-10 21:00:00+00
c20	5.94	CP94	2026-06-11 22:00:00+00
c21	6.95	CP95	2026-06-12 23:00:00+00
c22	7.96	CP96	2026-06-13 00:00:00+00
c23	8.97	CP97	2026-06-14 01:00:00+00
c24	9.98	CP98	2026-06-15 02:00:00+00
c25	1.99	CP99	2026-06-16 03:00:00+00
c26	2.00	CP100	2026-06-17 04:00:00+00
c27	3.01	CP101	2026-06-18 05:00:00+00
c28	4.02	CP102	2026-06-19 06:00:00+00
c29	5.03	CP103	2026-06-20 07:00:00+00
c30	6.04	CP104	2026-06-21 08:00:00+00
c31	7.05	CP105	2026-06-22 09:00:00+00
c32	8.06	CP106	2026-06-23 10:00:00+00
c33	9.07	CP107	2026-06-24 11:00:00+00
c34	1.08	CP108	2026-06-25 12:00:00+00
c35	2.09	CP109	2026-06-26 13:00:00+00
c36	3.10	CP110	2026-06-27 14:00:00+00
c0	4.11	CP111	2026-06-28 15:00:00+00
c1	5.12	CP112	2026-06-01 16:00:00+00
c2	6.13	CP113	2026-06-02 17:00:00+00
c3	7.14	CP114	2026-06-03 18:00:00+00
c4	8.15	CP115	2026-06-04 19:00:00+00
c5	9.16	CP116	2026-06-05 20:00:00+00
c6	1.17	CP117	2026-06-06 21:00:00+00
c7	2.18	CP118	2026-06-07 22:00:00+00
c8	3.19	CP119	2026-06-08 23:00:00+00
c9	4.20	CP120	2026-06-09 00:00:00+00
c10	5.21	CP121	2026-06-10 01:00:00+00
c11	6.22	CP122	2026-06-11 02:00:00+00
c12	7.23	CP123	2026-06-12 03:00:00+00
c13	8.24	CP124	2026-06-13 04:00:00+00
c14	9.25	CP125	2026-06-14 05:00:00+00
c15	1.26	CP126	2026-06-15 06:00:00+00
c16	2.27	CP127	2026-06-16 07:00:00+00
c17	3.28	CP128	2026-06-17 08:00:00+00
c18	4.29	CP129	2026-06-18 09:00:00+00
c19	5.30	CP130	2026-06-19 10:00:00+00
c20	6.31	CP131	2026-06-20 11:00:00+00
c21	7.32	CP132	2026-06-21 12:00:00+00
c22	8.33	CP133	2026-06-22 13:00:00+00
c23	9.34	CP134	2026-06-23 14:00:00+00
c24	1.35	CP135	2026-06-24 15:00:00+00
c25	2.36	CP136	2026-06-25 16:00:00+00
c26	3.37	CP137	2026-06-26 17:00:00+00
c27	4.38	CP138	2026-06-27 18:00:00+00
c28	5.39	CP139	2026-06-28 19:00:00+00
c29	6.40	CP140	2026-06-01 20:00:00+00
c30	7.41	CP141	2026-06-02 21:00:00+00
c31	8.42	CP142	2026-06-03 22:00:00+00
c32	9.43	CP143	2026-06-04 23:00:00+00
c33	1.44	CP144	2026-06-05 00:00:00+00
c34	2.45	CP145	2026-06-06 01:00:00+00
c35	3.46	CP146	2026-06-07 02:00:00+00
c36	4.47	CP147	2026-06-08 03:00:00+00
c0	5.48	CP148	2026-06-09 04:00:00+00
c1	6.49	CP149	2026-06-10 05:00:00+00
c2	7.50	CP150	2026-06-11 06:00:00+00
c3	8.51	CP151	2026-06-12 07:00:00+00
c4	9.52	CP152	2026-06-13 08:00:00+00
c5	1.53	CP153	2026-06-14 09:00:00+00
c6	2.54	CP154	2026-06-15 10:00:00+00
c7	3.55	CP155	2026-06-16 11:00:00+00
c8	4.56	CP156	2026-06-17 12:00:00+00
c9	5.57	CP157	2026-06-18 13:00:00+00
c10	6.58	CP158	2026-06-19 14:00:00+00
c11	7.59	CP159	2026-06-20 15:00:00+00
c12	8.60	CP160	2026-06-21 16:00:00+00
c13	9.61	CP161	2026-06-22 17:00:00+00
c14	1.62	CP162	2026-06-23 18:00:00+00
c15	2.63	CP163	2026-06-24 19:00:00+00
c16	3.64	CP164	2026-06-25 20:00:00+00
c17	4.65	CP165	2026-06-26 21:00:00+00
c18	5.66	CP166	2026-06-27 22:00:00+00
c19	6.67	CP167	2026-06-28 23:00:00+00
c20	7.68	CP168	2026-06-01 00:00:00+00
c21	8.69	CP169	2026-06-02 01:00:00+00
c22	9.70	CP170	2026-06-03 02:00:00+00
c23	1.71	CP171	2026-06-04 03:00:00+00
c24	2.72	CP172	2026-06-05 04:00:00+00
c25	3.73	CP173	2026-06-06 05:00:00+00
c26	4.74	CP174	2026-06-07 06:00:00+00
c27	5.75	CP175	2026-06-08 07:00:00+00
c28	6.76	CP176	2026-06-09 08:00:00+00
c29	7.77	CP177	2026-06-10 09:00:00+00
c30	8.78	CP178	2026-06-11 10:00:00+00
c31	9.79	CP179	2026-06-12 11:00:00+00
c32	1.80	CP180	2026-06-13 12:00:00+00
c33	2.81	CP181	2026-06-14 13:00:00+00
c34	3.82	CP182	2026-06-15 14:00:00+00
c35	4.83	CP183	2026-06-16 15:00:00+00
c36	5.84	CP184	2026-06-17 16:00:00+00
c0	6.85	CP185	2026-06-18 17:00:00+00
c1	7.86	CP186	2026-06-19 18:00:00+00
c2	8.87	CP187	2026-06-20 19:00:00+00
c3	9.88	CP188	2026-06-21 20:00:00+00
c4	1.89	CP189	2026-06-22 21:00:00+00
c5	2.90	CP190	2026-06-23 22:00:00+00
c6	3.91	CP191	2026-06-24 23:00:00+00
c7	4.92	CP192	2026-06-25 00:00:00+00
c8	5.93	CP193	2026-06-26 01:00:00+00
c9	6.94	CP194	2026-06-27 02:00:00+00
c10	7.95	CP195	2026-06-28 03:00:00+00
c11	8.96	CP196	2026-06-01 04:00:00+00
c12	9.97	CP197	2026-06-02 05:00:00+00
c13	1.98	CP198	2026-06-03 06:00:00+00
c14	2.99	CP199	2026-06-04 07:00:00+00
c15	3.00	CP200	2026-06-05 08:00:00+00
c16	4.01	CP201	2026-06-06 09:00:00+00
c17	5.02	CP202	2026-06-07 10:00:00+00
c18	6.03	CP203	2026-06-08 11:00:00+00
c19	7.04	CP204	2026-06-09 12:00:00+00
c20	8.05	CP205	2026-06-10 13:00:00+00
c21	9.06	CP206	2026-06-11 14:00:00+00
c22	1.07	CP207	2026-06-12 15:00:00+00
c23	2.08	CP208	2026-06-13 16:00:00+00
c24	3.09	CP209	2026-06-14 17:00:00+00
c25	4.10	CP210	2026-06-15 18:00:00+00
c26	5.11	CP211	2026-06-16 19:00:00+00
c27	6.12	CP212	2026-06-17 20:00:00+00
c28	7.13	CP213	2026-06-18 21:00:00+00
c29	8.14	CP214	2026-06-19 22:00:00+00
c30	9.15	CP215	2026-06-20 23:00:00+00
c31	1.16	CP216	2026-06-21 00:00:00+00
c32	2.17	CP217	2026-06-22 01:00:00+00
c33	3.18	CP218	2026-06-23 02:00:00+00
c34	4.19	CP219	2026-06-24 03:00:00+00
c35	5.20	CP220	2026-06-25 04:00:00+00
c36	6.21	CP221	2026-06-26 05:00:00+00
c0	7.22	CP222	2026-06-27 06:00:00+00
c1	8.23	CP223	2026-06-28 07:00:00+00
c2	9.24	CP224	2026-06-01 08:00:00+00
c3	1.25	CP225	2026-06-02 09:00:00+00
c4	2.26	CP226	2026-06-03 10:00:00+00
c5	3.27	CP227	2026-06-04 11:00:00+00
c6	4.28	CP228	2026-06-05 12:00:00+00
c7	5.29	CP229	2026-06-06 13:00:00+00
c8	6.30	CP230	2026-06-07 14:00:00+00
c9	7.31	CP231	2026-06-08 15:00:00+00
c10	8.32	CP232	2026-06-09 16:00:00+00
c11	9.33	CP233	2026-06-10 17:00:00+00
c12	1.34	CP234	2026-06-11 18:00:00+00
c13	2.35	CP235	2026-06-12 19:00:00+00
c14	3.36	CP236	2026-06-13 20:00:00+00
c15	4.37	CP237	2026-06-14 21:00:00+00
c16	5.38	CP238	2026-06-15 22:00:00+00
c17	6.39	CP239	2026-06-16 23:00:00+00
c18	7.40	CP240	2026-06-17 00:00:00+00
c19	8.41	CP241	2026-06-18 01:00:00+00
c20	9.42	CP242	2026-06-19 02:00:00+00
c21	1.43	CP243	2026-06-20 03:00:00+00
c22	2.44	CP244	2026-06-21 04:00:00+00
c23	3.45	CP245	2026-06-22 05:00:00+00
c24	4.46	CP246	2026-06-23 06:00:00+00
c25	5.47	CP247	2026-06-24 07:00:00+00
c26	6.48	CP248	2026-06-25 08:00:00+00
c27	7.49	CP249	2026-06-26 09:00:00+00
c28	8.50	CP250	2026-06-27 10:00:00+00
c29	9.51	CP251	2026-06-28 11:00:00+00
c30	1.52	CP252	2026-06-01 12:00:00+00
c31	2.53	CP253	2026-06-02 13:00:00+00
c32	3.54	CP254	2026-06-03 14:00:00+00
c33	4.55	CP255	2026-06-04 15:00:00+00
c34	5.56	CP256	2026-06-05 16:00:00+00
c35	6.57	CP257	2026-06-06 17:00:00+00
c36	7.58	CP258	2026-06-07 18:00:00+00
c0	8.59	CP259	2026-06-08 19:00:00+00
c1	9.60	CP260	2026-06-09 20:00:00+00
c2	1.61	CP261	2026-06-10 21:00:00+00
c3	2.62	CP262	2026-06-11 22:00:00+00
c4	3.63	CP263	2026-06-12 23:00:00+00
c5	4.64	CP264	2026-06-13 00:00:00+00
c6	5.65	CP265	2026-06-14 01:00:00+00
c7	6.66	CP266	2026-06-15 02:00:00+00
c8	7.67	CP267	2026-06-16 03:00:00+00
c9	8.68	CP268	2026-06-17 04:00:00+00
c10	9.69	CP269	2026-06-18 05:00:00+00
c11	1.70	CP270	2026-06-19 06:00:00+00
c12	2.71	CP271	2026-06-20 07:00:00+00
c13	3.72	CP272	2026-06-21 08:00:00+00
c14	4.73	CP273	2026-06-22 09:00:00+00
c15	5.74	CP274	2026-06-23 10:00:00+00
c16	6.75	CP275	2026-06-24 11:00:00+00
c17	7.76	CP276	2026-06-25 12:00:00+00
c18	8.77	CP277	2026-06-26 13:00:00+00
c19	9.78	CP278	2026-06-27 14:00:00+00
c20	1.79	CP279	2026-06-28 15:00:00+00
c21	2.80	CP280	2026-06-01 16:00:00+00
c22	3.81	CP281	2026-06-02 17:00:00+00
c23	4.82	CP282	2026-06-03 18:00:00+00
c24	5.83	CP283	2026-06-04 19:00:00+00
c25	6.84	CP284	2026-06-05 20:00:00+00
c26	7.85	CP285	2026-06-06 21:00:00+00
c27	8.86	CP286	2026-06-07 22:00:00+00
c28	9.87	CP287	2026-06-08 23:00:00+00
c29	1.88	CP288	2026-06-09 00:00:00+00
c30	2.89	CP289	2026-06-10 01:00:00+00
c31	3.90	CP290	2026-06-11 02:00:00+00
c32	4.91	CP291	2026-06-12 03:00:00+00
c33	5.92	CP292	2026-06-13 04:00:00+00
c34	6.93	CP293	2026-06-14 05:00:00+00
c35	7.94	CP294	2026-06-15 06:00:00+00
c36	8.95	CP295	2026-06-16 07:00:00+00
c0	9.96	CP296	2026-06-17 08:00:00+00
c1	1.97	CP297	2026-06-18 09:00:00+00
c2	2.98	CP298	2026-06-19 10:00:00+00
c3	3.99	CP299	2026-06-20 11:00:00+00
c4	4.00	CP300	2026-06-21 12:00:00+00
c5	5.01	CP301	2026-06-22 13:00:00+00
c6	6.02	CP302	2026-06-23 14:00:00+00
c7	7.03	CP303	2026-06-24 15:00:00+00
c8	8.04	CP304	2026-06-25 16:00:00+00
c9	9.05	CP305	2026-06-26 17:00:00+00
c10	1.06	CP306	2026-06-27 18:00:00+00
c11	2.07	CP307	2026-06-28 19:00:00+00
c12	3.08	CP308	2026-06-01 20:00:00+00
c13	4.09	CP309	2026-06-02 21:00:00+00
c14	5.10	CP310	2026-06-03 22:00:00+00
c15	6.11	CP311	2026-06-04 23:00:00+00
c16	7.12	CP312	2026-06-05 00:00:00+00
c17	8.13	CP313	2026-06-06 01:00:00+00
c18	9.14	CP314	2026-06-07 02:00:00+00
c19	1.15	CP315	2026-06-08 03:00:00+00
c20	2.16	CP316	2026-06-09 04:00:00+00
c21	3.17	CP317	2026-06-10 05:00:00+00
c22	4.18	CP318	2026-06-11 06:00:00+00
c23	5.19	CP319	2026-06-12 07:00:00+00
c24	6.20	CP320	2026-06-13 08:00:00+00
c25	7.21	CP321	2026-06-14 09:00:00+00
c26	8.22	CP322	2026-06-15 10:00:00+00
c27	9.23	CP323	2026-06-16 11:00:00+00
c28	1.24	CP324	2026-06-17 12:00:00+00
c29	2.25	CP325	2026-06-18 13:00:00+00
c30	3.26	CP326	2026-06-19 14:00:00+00
c31	4.27	CP327	2026-06-20 15:00:00+00
c32	5.28	CP328	2026-06-21 16:00:00+00
c33	6.29	CP329	2026-06-22 17:00:00+00
c34	7.30	CP330	2026-06-23 18:00:00+00
c35	8.31	CP331	2026-06-24 19:00:00+00
c36	9.32	CP332	2026-06-25 20:00:00+00
c0	1.33	CP333	2026-06-26 21:00:00+00
c1	2.34	CP334	2026-06-27 22:00:00+00
c2	3.35	CP335	2026-06-28 23:00:00+00
c3	4.36	CP336	2026-06-01 00:00:00+00
c4	5.37	CP337	2026-06-02 01:00:00+00
c5	6.38	CP338	2026-06-03 02:00:00+00
c6	7.39	CP339	2026-06-04 03:00:00+00
c7	8.40	CP340	2026-06-05 04:00:00+00
c8	9.41	CP341	2026-06-06 05:00:00+00
c9	1.42	CP342	2026-06-07 06:00:00+00
c10	2.43	CP343	2026-06-08 07:00:00+00
c11	3.44	CP344	2026-06-09 08:00:00+00
c12	4.45	CP345	2026-06-10 09:00:00+00
c13	5.46	CP346	2026-06-11 10:00:00+00
c14	6.47	CP347	2026-06-12 11:00:00+00
c15	7.48	CP348	2026-06-13 12:00:00+00
c16	8.49	CP349	2026-06-14 13:00:00+00
c17	9.50	CP350	2026-06-15 14:00:00+00
c18	1.51	CP351	2026-06-16 15:00:00+00
c19	2.52	CP352	2026-06-17 16:00:00+00
c20	3.53	CP353	2026-06-18 17:00:00+00
c21	4.54	CP354	2026-06-19 18:00:00+00
c22	5.55	CP355	2026-06-20 19:00:00+00
c23	6.56	CP356	2026-06-21 20:00:00+00
c24	7.57	CP357	2026-06-22 21:00:00+00
c25	8.58	CP358	2026-06-23 22:00:00+00
c26	9.59	CP359	2026-06-24 23:00:00+00
c27	1.60	CP360	2026-06-25 00:00:00+00
c28	2.61	CP361	2026-06-26 01:00:00+00
c29	3.62	CP362	2026-06-27 02:00:00+00
c30	4.63	CP363	2026-06-28 03:00:00+00
c31	5.64	CP364	2026-06-01 04:00:00+00
c32	6.65	CP365	2026-06-02 05:00:00+00
c33	7.66	CP366	2026-06-03 06:00:00+00
c34	8.67	CP367	2026-06-04 07:00:00+00
c35	9.68	CP368	2026-06-05 08:00:00+00
c36	1.69	CP369	2026-06-06 09:00:00+00
c0	2.70	CP370	2026-06-07 10:00:00+00
c1	3.71	CP371	2026-06-08 11:00:00+00
c2	4.72	CP372	2026-06-09 12:00:00+00
c3	5.73	CP373	2026-06-10 13:00:00+00
c4	6.74	CP374	2026-06-11 14:00:00+00
c5	7.75	CP375	2026-06-12 15:00:00+00
c6	8.76	CP376	2026-06-13 16:00:00+00
c7	9.77	CP377	2026-06-14 17:00:00+00
c8	1.78	CP378	2026-06-15 18:00:00+00
c9	2.79	CP379	2026-06-16 19:00:00+00
c10	3.80	CP380	2026-06-17 20:00:00+00
c11	4.81	CP381	2026-06-18 21:00:00+00
c12	5.82	CP382	2026-06-19 22:00:00+00
c13	6.83	CP383	2026-06-20 23:00:00+00
c14	7.84	CP384	2026-06-21 00:00:00+00
c15	8.85	CP385	2026-06-22 01:00:00+00
c16	9.86	CP386	2026-06-23 02:00:00+00
c17	1.87	CP387	2026-06-24 03:00:00+00
c18	2.88	CP388	2026-06-25 04:00:00+00
c19	3.89	CP389	2026-06-26 05:00:00+00
c20	4.90	CP390	2026-06-27 06:00:00+00
c21	5.91	CP391	2026-06-28 07:00:00+00
c22	6.92	CP392	2026-06-01 08:00:00+00
c23	7.93	CP393	2026-06-02 09:00:00+00
c24	8.94	CP394	2026-06-03 10:00:00+00
c25	9.95	CP395	2026-06-04 11:00:00+00
c26	1.96	CP396	2026-06-05 12:00:00+00
c27	2.97	CP397	2026-06-06 13:00:00+00
c28	3.98	CP398	2026-06-07 14:00:00+00
c29	4.99	CP399	2026-06-08 15:00:00+00
c30	5.00	CP400	2026-06-09 16:00:00+00
\.
SELECT count(*) AS orders, sum(floor(amount)) AS expected_points FROM bulk;
SELECT count(*) AS earns, sum(points) AS points FROM pg_temp.ledger('o_bulk') WHERE kind = 'earn';
SELECT count(*) AS at_from_rows FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
JOIN bulk b ON b.ref = l.ref AND b.placed = l.at WHERE p.code = 'o_bulk';
DELETE FROM bulk WHERE ref LIKE 'CP%';
SELECT count(*) AS refunds, sum(points) AS points FROM pg_temp.ledger('o_bulk') WHERE kind = 'refund';

-------------------------------------------------------------------------------
-- loyalty.tracked_orders
-------------------------------------------------------------------------------
SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = 'loyalty' AND table_name = 'tracked_orders' ORDER BY ordinal_position;
SELECT * FROM loyalty.tracked_orders
WHERE program IN ('o_r', 'o_mv', 'o_rf', 'o_sh', 'o_ty', 'o_bulk') ORDER BY relid::text;

SELECT * FROM loyalty.verify();
