-- Orders tables the app already has: the part of sql/loyalty--0.2.0--0.3.0.sql
-- that comes from the orders rewrite (branch `orders`, src/orders.c).  Fold it
-- into the upgrade script as it is; it runs as the superuser who runs
-- ALTER EXTENSION loyalty UPDATE, and needs the 0.3.0 library.  Every object
-- it creates is defined exactly as in sql/loyalty.sql, so an updated database
-- has the same schema as a fresh install (test/upgrade.sh).
--
-- Between installing the 0.3.0 library and running the update, the 0.2.0 row
-- triggers fail with 55000 ("a row trigger of an older version of loyalty;
-- run ALTER EXTENSION loyalty UPDATE") instead of earning: run the update
-- right after installing the library.

-- 1. 0.3.0 tracks a partitioned table as a whole, never a partition or an
-- inheritance child alone, and reads only built-in column types.  Refuse to
-- update over a tracking that 0.3.0 would lose rows of, or whose every write
-- would fail, and say how to fix it first.
DO $orders_check$
DECLARE
  r record;
  bad text := '';
BEGIN
  FOR r IN
    SELECT t.relid, c.relispartition,
           EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) AS has_parent,
           EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid) AS has_children,
           c.relkind
    FROM loyalty.tracked_orders t
    JOIN pg_catalog.pg_class c ON c.oid = t.relid
  LOOP
    IF r.relispartition OR r.has_parent THEN
      bad := bad || pg_catalog.format(E'\n  %s is a partition or inheritance child: untrack it and track its partitioned table',
                                      r.relid);
    ELSIF r.has_children AND r.relkind = 'r' THEN
      bad := bad || pg_catalog.format(E'\n  %s has inheritance children: untrack it, or make it a partitioned table',
                                      r.relid);
    END IF;
  END LOOP;
  FOR r IN
    SELECT t.relid, p.relid AS part
    FROM loyalty.tracked_orders t
    CROSS JOIN LATERAL pg_catalog.pg_partition_tree(t.relid) p
    JOIN pg_catalog.pg_class c ON c.oid = p.relid
    WHERE c.relkind = 'f'
  LOOP
    bad := bad || pg_catalog.format(E'\n  %s has a foreign partition %s: detach it', r.relid, r.part);
  END LOOP;
  FOR r IN
    WITH RECURSIVE cols AS (
      SELECT t.relid, x.role, x.col, a.atttypid AS typid, a.atttypid AS base
      FROM loyalty.tracked_orders t
      CROSS JOIN LATERAL (VALUES ('member_column', t.member_column, 'k'), ('amount_column', t.amount_column, 'n'),
                                 ('ref_column', t.ref_column, 'k'), ('at_column', t.at_column, 't'),
                                 ('category_column', t.category_column, 'k'),
                                 ('refund_column', t.refund_column, 'n')) AS x(role, col, kind)
      LEFT JOIN pg_catalog.pg_attribute a
        ON a.attrelid = t.relid AND a.attname = x.col AND a.attnum > 0 AND NOT a.attisdropped
      WHERE x.col IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.relid)
    ), base AS (
      SELECT relid, role, col, typid, base FROM cols
      UNION ALL
      SELECT b.relid, b.role, b.col, b.typid, ty.typbasetype
      FROM base b JOIN pg_catalog.pg_type ty ON ty.oid = b.base
      WHERE ty.typtype = 'd'
    )
    SELECT b.relid, b.role, b.col, b.typid
    FROM base b
    LEFT JOIN pg_catalog.pg_type ty ON ty.oid = b.base
    WHERE ty.oid IS NULL
       OR (ty.typtype <> 'd' AND NOT CASE WHEN b.role IN ('amount_column', 'refund_column')
                  THEN b.base IN ('numeric'::pg_catalog.regtype, 'int2'::pg_catalog.regtype, 'int4'::pg_catalog.regtype,
                                  'int8'::pg_catalog.regtype, 'float4'::pg_catalog.regtype, 'float8'::pg_catalog.regtype)
                  WHEN b.role = 'at_column'
                  THEN b.base IN ('timestamptz'::pg_catalog.regtype, 'timestamp'::pg_catalog.regtype,
                                  'date'::pg_catalog.regtype)
                  ELSE b.base IN ('text'::pg_catalog.regtype, 'varchar'::pg_catalog.regtype, 'bpchar'::pg_catalog.regtype,
                                  'int2'::pg_catalog.regtype, 'int4'::pg_catalog.regtype, 'int8'::pg_catalog.regtype) END)
  LOOP
    bad := bad || pg_catalog.format(E'\n  %s: %s %I is %s, which loyalty 0.3.0 cannot read',
                                    r.relid, r.role, r.col,
                                    coalesce(pg_catalog.format_type(r.typid, NULL), 'missing'));
  END LOOP;
  IF bad <> '' THEN
    RAISE EXCEPTION USING ERRCODE = 'LY007',
      MESSAGE = 'loyalty 0.3.0 cannot go on tracking these orders tables:' || bad,
      HINT = 'Fix them with loyalty.untrack_orders() / loyalty.track_orders() or ALTER TABLE on 0.2.0, then update.';
  END IF;
END
$orders_check$;

-- 2. The configuration table keeps its data, its dump marking (extconfig
-- holds its OID) and its cache trigger; the SPEC's name becomes a view.
ALTER TABLE loyalty.tracked_orders RENAME TO tracked_table;
ALTER TABLE loyalty.tracked_table RENAME CONSTRAINT tracked_orders_pkey TO tracked_table_pkey;
ALTER TABLE loyalty.tracked_table RENAME CONSTRAINT tracked_orders_program_id_fkey
  TO tracked_table_program_id_fkey;
ALTER TRIGGER tracked_orders_changed ON loyalty.tracked_table RENAME TO tracked_table_changed;
-- 0.2.0 kept the rows of dropped tables (issue #8 item 2)
DELETE FROM loyalty.tracked_table t
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.relid);

CREATE VIEW loyalty.tracked_orders AS
SELECT t.relid, p.code AS program, t.member_column, t.amount_column, t.ref_column,
       t.at_column, t.category_column, t.refund_column
FROM loyalty.tracked_table t
JOIN loyalty.program p ON p.id = t.program_id;

-- 3. Functions: the trigger keeps its name and C symbol (now a statement
-- trigger); track/untrack run as their caller; two event trigger functions.
CREATE OR REPLACE FUNCTION loyalty._orders_trigger() RETURNS trigger
  AS 'MODULE_PATHNAME', 'loyalty_orders_trigger'
  LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE FUNCTION loyalty.track_orders(orders regclass, program text,
                                     member_column name, amount_column name, ref_column name,
                                     at_column name DEFAULT NULL,
                                     category_column name DEFAULT NULL,
                                     refund_column name DEFAULT NULL,
                                     backfill boolean DEFAULT false) RETURNS void
  AS 'MODULE_PATHNAME', 'loyalty_track_orders'
  LANGUAGE C VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp;
CREATE OR REPLACE FUNCTION loyalty.untrack_orders(orders regclass) RETURNS void
  AS 'MODULE_PATHNAME', 'loyalty_untrack_orders'
  LANGUAGE C VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION loyalty._orders_ddl() RETURNS event_trigger
  AS 'MODULE_PATHNAME', 'loyalty_orders_ddl'
  LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION loyalty._orders_dropped() RETURNS event_trigger
  AS 'MODULE_PATHNAME', 'loyalty_orders_dropped'
  LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- 4. Privileges (as in the Privileges section of sql/loyalty.sql)
REVOKE ALL ON FUNCTION loyalty._orders_ddl(), loyalty._orders_dropped() FROM PUBLIC;
REVOKE ALL ON loyalty.tracked_orders FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loyalty._orders_trigger() TO loyalty_admin;
GRANT SELECT ON loyalty.tracked_orders TO loyalty_admin;

-- 5. The triggers on the tracked tables: the 0.2.0 row trigger goes; the
-- four statement triggers go on every tracked table and each of its
-- partitions, sub-partitions included (what track_orders does in 0.3.0).
DO $orders_triggers$
DECLARE
  r record;
  fn oid := 'loyalty._orders_trigger()'::pg_catalog.regprocedure;
BEGIN
  FOR r IN
    SELECT g.tgname, g.tgrelid::pg_catalog.regclass AS rel
    FROM pg_catalog.pg_trigger g
    WHERE g.tgfoid = fn AND (g.tgtype & 1) = 1          -- FOR EACH ROW
      AND g.tgparentid = 0                              -- its clones on partitions go with it
  LOOP
    EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
  END LOOP;
  FOR r IN
    SELECT DISTINCT x.rel::pg_catalog.regclass AS rel
    FROM loyalty.tracked_table t
    CROSS JOIN LATERAL (SELECT t.relid::pg_catalog.oid
                        UNION
                        SELECT p.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(t.relid) p) x(rel)
  LOOP
    EXECUTE pg_catalog.format('CREATE TRIGGER loyalty_orders_insert AFTER INSERT ON %s '
                              'REFERENCING NEW TABLE AS loyalty_new FOR EACH STATEMENT '
                              'EXECUTE FUNCTION loyalty._orders_trigger()', r.rel);
    EXECUTE pg_catalog.format('CREATE TRIGGER loyalty_orders_update AFTER UPDATE ON %s '
                              'REFERENCING OLD TABLE AS loyalty_old NEW TABLE AS loyalty_new '
                              'FOR EACH STATEMENT EXECUTE FUNCTION loyalty._orders_trigger()', r.rel);
    EXECUTE pg_catalog.format('CREATE TRIGGER loyalty_orders_delete AFTER DELETE ON %s '
                              'REFERENCING OLD TABLE AS loyalty_old FOR EACH STATEMENT '
                              'EXECUTE FUNCTION loyalty._orders_trigger()', r.rel);
    EXECUTE pg_catalog.format('CREATE TRIGGER loyalty_orders_truncate BEFORE TRUNCATE ON %s '
                              'FOR EACH STATEMENT EXECUTE FUNCTION loyalty._orders_trigger()', r.rel);
  END LOOP;
END
$orders_triggers$;

-- 6. The event triggers, last: partitions created or attached from now on
-- get the triggers; DDL that would break a tracking is refused; dropped
-- tables are untracked.
CREATE EVENT TRIGGER loyalty_orders_ddl ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER TABLE', 'ALTER FOREIGN TABLE')
  EXECUTE FUNCTION loyalty._orders_ddl();
CREATE EVENT TRIGGER loyalty_orders_dropped ON sql_drop
  EXECUTE FUNCTION loyalty._orders_dropped();
