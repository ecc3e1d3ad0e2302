-- Orders tables: who may track what, what runs with whose privileges, and
-- tables that are dropped (issue #8 items 2, 3a, 3b, 3c).
SET client_min_messages = warning;
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  -- OIDs differ from run to run
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'OID [0-9]+', 'OID n', 'g');
END $f$;
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO PUBLIC;

-- an attacker: loyalty_admin, not superuser, owns its own schema
DROP ROLE IF EXISTS ly_attacker;
DROP ROLE IF EXISTS ly_other;
CREATE ROLE ly_attacker NOLOGIN;
CREATE ROLE ly_other NOLOGIN;
GRANT loyalty_admin TO ly_attacker;
CREATE SCHEMA att AUTHORIZATION ly_attacker;
SELECT loyalty.create_program('o_sec') > 0 AS ok;

-- 3a: a composite amount column with a user cast to numeric that would make
-- the attacker superuser; tracking with backfill is LY007 and runs nothing
SET ROLE ly_attacker;
CREATE TYPE att.money2 AS (v numeric);
CREATE FUNCTION att.money2_num(att.money2) RETURNS numeric LANGUAGE plpgsql AS $f$
BEGIN
  RAISE WARNING 'the cast ran as %', current_user;
  EXECUTE 'ALTER ROLE ly_attacker SUPERUSER';
  RETURN ($1).v;
END $f$;
CREATE CAST (att.money2 AS numeric) WITH FUNCTION att.money2_num(att.money2) AS IMPLICIT;
CREATE TABLE att.orders (cust text, amt att.money2, no text);
INSERT INTO att.orders VALUES ('m1', ROW(100), 'o1');
SELECT pg_temp.err($$SELECT loyalty.track_orders('att.orders', 'o_sec', 'cust', 'amt', 'no', backfill => true)$$);
-- an enum, an array, a text amount: LY007 too
CREATE TYPE att.kind AS ENUM ('a', 'b');
CREATE TABLE att.odd (cust att.kind, amt numeric[], no text, price text, at text, n numeric);
SELECT pg_temp.err($$SELECT loyalty.track_orders('att.odd', 'o_sec', 'cust', 'amt', 'no')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('att.odd', 'o_sec', 'no', 'amt', 'no')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('att.odd', 'o_sec', 'no', 'price', 'no')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('att.odd', 'o_sec', 'no', 'n', 'no', at_column => 'at')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('att.odd', 'o_sec', 'no', 'n', 'no', refund_column => 'price')$$);
RESET ROLE;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'ly_attacker';
SELECT count(*) AS tracked FROM loyalty.tracked_orders WHERE program = 'o_sec';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'att.orders'::regclass;
SELECT count(*) AS ledger_rows FROM loyalty.statement WHERE program = 'o_sec';

-- 3b: the owner of a tracked partitioned table changes the ref column to a
-- type with a user cast to text: the ALTER is refused
SET ROLE ly_attacker;
CREATE TYPE att.ref2 AS (v text);
CREATE FUNCTION att.ref2_text(att.ref2) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  RAISE WARNING 'the cast ran as %', current_user;
  EXECUTE 'ALTER ROLE ly_attacker SUPERUSER';
  RETURN ($1).v;
END $f$;
CREATE CAST (att.ref2 AS text) WITH FUNCTION att.ref2_text(att.ref2) AS IMPLICIT;
CREATE TABLE att.porders (cust text, amt numeric, no text, day date) PARTITION BY RANGE (day);
CREATE TABLE att.porders_1 PARTITION OF att.porders FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
CREATE TABLE att.porders_2 PARTITION OF att.porders FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
-- tracking its own table works, as the owner, and earns
SELECT loyalty.track_orders('att.porders', 'o_sec', 'cust', 'amt', 'no', 'day');
INSERT INTO att.porders VALUES ('m1', 100, 'p1', '2026-02-01'), ('m1', 50, 'p2', '2026-08-01');
SELECT pg_temp.err($$ALTER TABLE att.porders ALTER COLUMN no TYPE att.ref2 USING ROW(no)::att.ref2$$);
SELECT pg_temp.err($$DELETE FROM att.porders WHERE no = 'p1'$$);
-- the backfill reads as the caller: an owner that revoked its own SELECT cannot backfill
CREATE TABLE att.closed (cust text, amt numeric, no text);
INSERT INTO att.closed VALUES ('m2', 5, 'c1');
REVOKE SELECT ON att.closed FROM ly_attacker;
SELECT pg_temp.err($$SELECT loyalty.track_orders('att.closed', 'o_sec', 'cust', 'amt', 'no', backfill => true)$$);
-- a backfill that fails half-way (a row that cannot earn) leaves the caller who it was
GRANT SELECT ON att.closed TO ly_attacker;
INSERT INTO att.closed VALUES (NULL, 5, 'c2');
SELECT pg_temp.err($$SELECT loyalty.track_orders('att.closed', 'o_sec', 'cust', 'amt', 'no', backfill => true)$$);
SELECT current_user;
SELECT count(*) AS closed_tracked FROM loyalty.tracked_orders WHERE relid = 'att.closed'::regclass;
-- the view of tracked tables is readable by loyalty_admin
SELECT relid, program, member_column, amount_column, ref_column, at_column FROM loyalty.tracked_orders
WHERE program = 'o_sec';
RESET ROLE;
-- even if a column of a tracked table got such a type behind the event
-- trigger's back, the orders trigger refuses it (LY007) and runs no cast
ALTER EVENT TRIGGER loyalty_orders_ddl DISABLE;
SET ROLE ly_attacker;
ALTER TABLE att.porders ALTER COLUMN no TYPE att.ref2 USING ROW(no)::att.ref2;
SELECT pg_temp.err($$DELETE FROM att.porders WHERE day = '2026-08-01'$$);
SELECT pg_temp.err($$INSERT INTO att.porders VALUES ('m1', 10, ROW('p3'), '2026-03-01')$$);
SELECT pg_temp.err($$UPDATE att.porders SET amt = amt$$);
RESET ROLE;
ALTER EVENT TRIGGER loyalty_orders_ddl ENABLE;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'ly_attacker';
SELECT member, kind, points, ref FROM loyalty.statement WHERE program = 'o_sec' ORDER BY id;

-- 3c: a table of another role, and one in a schema without USAGE: 42501,
-- no trigger, nothing read
CREATE SCHEMA hidden;
CREATE TABLE hidden.orders (cust text, amt numeric, no text);
INSERT INTO hidden.orders VALUES ('victim', 1000, 'h1');
ALTER TABLE hidden.orders OWNER TO ly_attacker;   -- owned, but the schema is closed to it
CREATE TABLE public.others (cust text, amt numeric, no text);
ALTER TABLE public.others OWNER TO ly_other;
INSERT INTO public.others VALUES ('victim', 500, 'x1');
SELECT 'hidden.orders'::regclass::oid AS hidden_oid \gset
SET ROLE ly_attacker;
SELECT pg_temp.err(format($$SELECT loyalty.track_orders(%s, 'o_sec', 'cust', 'amt', 'no', backfill => true)$$, :hidden_oid));
SELECT pg_temp.err($$SELECT loyalty.track_orders('public.others', 'o_sec', 'cust', 'amt', 'no', backfill => true)$$);
SELECT pg_temp.err($$SELECT loyalty.untrack_orders('public.others')$$);
RESET ROLE;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid IN ('hidden.orders'::regclass, 'public.others'::regclass);
SELECT count(*) AS victim_rows FROM loyalty.ledger WHERE member = 'victim';
-- and the owner may not untrack a table it no longer owns either
SELECT loyalty.track_orders('public.others', 'o_sec', 'cust', 'amt', 'no');
SET ROLE ly_attacker;
SELECT pg_temp.err($$SELECT loyalty.untrack_orders('public.others')$$);
RESET ROLE;
SELECT loyalty.untrack_orders('public.others');

-- not tables: LY007
CREATE VIEW public.order_view AS SELECT * FROM public.others;
CREATE TEMP TABLE temp_orders (cust text, amt numeric, no text);
SELECT pg_temp.err($$SELECT loyalty.track_orders('public.order_view', 'o_sec', 'cust', 'amt', 'no')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('temp_orders', 'o_sec', 'cust', 'amt', 'no')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('loyalty.ledger', 'o_sec', 'member', 'amount', 'ref')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('public.others', 'o_sec', 'cust', 'amt', 'ctid')$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders('public.others', 'o_sec', 'cust', 'amt', NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.track_orders(NULL, 'o_sec', 'cust', 'amt', 'no')$$);

-- 2: a dropped table is untracked; its OID is a clear error, never a crash
CREATE TABLE public.gone (cust text, amt numeric, no text);
SELECT loyalty.track_orders('public.gone', 'o_sec', 'cust', 'amt', 'no');
SELECT 'public.gone'::regclass::oid AS gone_oid \gset
DROP TABLE public.gone;
SELECT count(*) AS tracked_rows_left FROM loyalty.tracked_table WHERE relid = :gone_oid;
SELECT pg_temp.err(format('SELECT loyalty.untrack_orders(%s)', :gone_oid));
SELECT pg_temp.err(format($$SELECT loyalty.track_orders(%s, 'o_sec', 'cust', 'amt', 'no')$$, :gone_oid));
SET ROLE ly_attacker;
SELECT pg_temp.err(format('SELECT loyalty.untrack_orders(%s)', :gone_oid));
RESET ROLE;
-- a tracking row left behind by a drop the event trigger did not see
-- (event triggers disabled) is removed by untrack_orders
CREATE TABLE public.gone2 (cust text, amt numeric, no text);
SELECT loyalty.track_orders('public.gone2', 'o_sec', 'cust', 'amt', 'no');
SELECT 'public.gone2'::regclass::oid AS gone2_oid \gset
ALTER EVENT TRIGGER loyalty_orders_dropped DISABLE;
DROP TABLE public.gone2;
ALTER EVENT TRIGGER loyalty_orders_dropped ENABLE;
SELECT count(*) AS leftover FROM loyalty.tracked_table WHERE relid = :gone2_oid;
SET ROLE ly_attacker;
SELECT pg_temp.err(format('SELECT loyalty.untrack_orders(%s)', :gone2_oid));
SELECT pg_temp.err(format('SELECT loyalty.untrack_orders(%s)', :gone2_oid));
RESET ROLE;
-- dropping a schema with a tracked table in it untracks it too
SELECT count(*) AS tracked_before FROM loyalty.tracked_orders WHERE relid::text LIKE 'att.%';
DROP SCHEMA att CASCADE;
SELECT count(*) AS tracked_after FROM loyalty.tracked_orders WHERE program = 'o_sec';

SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'ly_attacker';
SELECT * FROM loyalty.verify();
DROP SCHEMA hidden CASCADE;
DROP TABLE public.others CASCADE;
DROP ROLE ly_attacker;
DROP ROLE ly_other;
