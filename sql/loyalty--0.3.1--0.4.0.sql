-- loyalty 0.3.1 -> 0.4.0: ready for Citus (issue #11).
--
-- Ids of a member's rows are the member's own sequence: ledger, lot and
-- tier_change ids were identity columns (one sequence per table, per node
-- on a Citus cluster, where two nodes handed out the same ids and a
-- member's rows came out of order).  Now every insert takes max(id) + 1 of
-- the member's rows under the member's lock.  Existing ids are kept (they
-- are unique and in order per member); the next ones continue after them.
-- The nightly expiry's keyset is (expires_at, program_id, member, id).
-- tracked_table loses its foreign key to program, so that it stays a local
-- table on a Citus coordinator when program becomes a reference table.
-- loyalty.distribute() spreads the tables over a Citus cluster.
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.4.0'" to load this file. \quit

-- As in every update: the account table first, for the whole update.
LOCK TABLE loyalty.account IN EXCLUSIVE MODE;

-- the identity sequences leave the dump's configuration (pg_dump would
-- otherwise look for them), then go with their identities
UPDATE pg_catalog.pg_extension e SET extconfig = k.cfg, extcondition = k.cond
FROM (SELECT array_agg(x.cfg ORDER BY x.ord) AS cfg, array_agg(x.cond ORDER BY x.ord) AS cond
      FROM pg_catalog.pg_extension e2,
           unnest(e2.extconfig, e2.extcondition) WITH ORDINALITY AS x(cfg, cond, ord)
      WHERE e2.extname = 'loyalty'
        AND x.cfg <> ALL (pg_catalog.array_remove(ARRAY[
              pg_catalog.pg_get_serial_sequence('loyalty.ledger', 'id')::regclass::oid,
              pg_catalog.pg_get_serial_sequence('loyalty.lot', 'id')::regclass::oid,
              pg_catalog.pg_get_serial_sequence('loyalty.tier_change', 'id')::regclass::oid], NULL))) k
WHERE e.extname = 'loyalty';
ALTER TABLE loyalty.ledger ALTER COLUMN id DROP IDENTITY;
ALTER TABLE loyalty.lot ALTER COLUMN id DROP IDENTITY;
ALTER TABLE loyalty.tier_change ALTER COLUMN id DROP IDENTITY;

DROP INDEX loyalty.lot_expiry_idx;
CREATE INDEX lot_expiry_idx ON loyalty.lot (expires_at, program_id, member, id)
  WHERE remaining > 0 AND expires_at IS NOT NULL;

ALTER TABLE loyalty.tracked_table DROP CONSTRAINT tracked_table_program_id_fkey;

DROP FUNCTION loyalty._expire_batch(timestamptz, integer, timestamptz, bigint, boolean);
CREATE FUNCTION loyalty._expire_batch(as_of timestamptz, batch_size integer,
                                      after_expires timestamptz DEFAULT NULL,
                                      after_program integer DEFAULT NULL,
                                      after_member text DEFAULT NULL,
                                      after_lot bigint DEFAULT NULL,
                                      skip_busy boolean DEFAULT false,
                                      OUT members bigint, OUT last_expires timestamptz,
                                      OUT last_program integer, OUT last_member text,
                                      OUT last_lot bigint)
  AS 'MODULE_PATHNAME', 'loyalty_expire_batch'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;
REVOKE ALL ON FUNCTION loyalty._expire_batch(timestamptz, integer, timestamptz, integer, text, bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loyalty._expire_batch(timestamptz, integer, timestamptz, integer, text, bigint, boolean) TO loyalty_admin;

CREATE OR REPLACE FUNCTION loyalty.verify()
  RETURNS TABLE(program text, member text, problem text, expected bigint, actual bigint)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  WITH l AS (
    SELECT program_id, member, sum(points)::bigint AS total
    FROM loyalty.ledger GROUP BY program_id, member
  ), t AS (
    SELECT program_id, member, sum(remaining)::bigint AS remaining,
           sum(points) AS credited,
           count(*) FILTER (WHERE remaining < 0 OR expired < 0 OR repaid < 0
                            OR remaining + expired + repaid > points) AS bad_lots,
           count(*) FILTER (WHERE rolls AND remaining > 0) AS rolling_lots
    FROM loyalty.lot GROUP BY program_id, member
  ), m AS (
    SELECT a.program_id, a.member, a.debt, a.credited, a.roll_until, a.held,
           coalesce(t.rolling_lots, 0) AS rolling_lots,
           coalesce(l.total, 0) AS ledger_total,
           coalesce(t.remaining, 0) AS lots_total,
           coalesce(t.credited, 0) AS lots_credited,
           coalesce(t.bad_lots, 0) AS bad_lots
    FROM loyalty.account a
    LEFT JOIN l USING (program_id, member)
    LEFT JOIN t USING (program_id, member)
  )
  SELECT p.code, m.member, x.problem, x.expected, x.actual
  FROM m JOIN loyalty.program p ON p.id = m.program_id
  CROSS JOIN LATERAL (VALUES
      ('ledger sum differs from lots minus debt', m.lots_total - m.debt, m.ledger_total,
       m.ledger_total <> m.lots_total - m.debt),
      ('negative debt', 0::bigint, m.debt, m.debt < 0),
      ('lot remaining + expired + repaid outside 0..points', 0::bigint, m.bad_lots, m.bad_lots > 0),
      ('account credited differs from its lots'' points',
       least(m.lots_credited, 9223372036854775807)::bigint, m.credited, m.credited <> m.lots_credited),
      ('lots roll but the account has no rolling date', 0::bigint, m.rolling_lots,
       m.rolling_lots > 0 AND m.roll_until IS NULL),
      ('account held differs from its lots'' remaining', m.lots_total, m.held, m.held <> m.lots_total)
  ) AS x(problem, expected, actual, bad)
  WHERE x.bad
  UNION ALL
  SELECT p.code, o.member, 'ledger or lots without an account', NULL::bigint, NULL::bigint
  FROM (SELECT program_id, member FROM loyalty.ledger
        UNION SELECT program_id, member FROM loyalty.lot) o
  JOIN loyalty.program p ON p.id = o.program_id
  WHERE NOT EXISTS (SELECT 1 FROM loyalty.account a
                    WHERE a.program_id = o.program_id AND a.member = o.member)
  UNION ALL
  -- rows of a program that does not exist (a restore refused half-way)
  SELECT NULL, o.member, 'rows of a program that does not exist', o.program_id::bigint, NULL::bigint
  FROM (SELECT program_id, member FROM loyalty.account
        UNION SELECT program_id, member FROM loyalty.ledger
        UNION SELECT program_id, member FROM loyalty.lot) o
  WHERE NOT EXISTS (SELECT 1 FROM loyalty.program p WHERE p.id = o.program_id)
$$;

COMMENT ON COLUMN loyalty.ledger.id IS 'The member''s own sequence (1, 2, ...): the order of its operations, whichever node writes them';
COMMENT ON COLUMN loyalty.lot.id IS 'The member''s own sequence of lots (1, 2, ...)';
COMMENT ON COLUMN loyalty.tier_change.id IS 'The member''s own sequence of tier changes (1, 2, ...)';

-------------------------------------------------------------------------------
-- Scale-out on Citus (README "Scale-out"; SPEC §7 "Distribution").
-- Thin glue around Citus's own functions, run once by a superuser on the
-- coordinator; idempotent.  The member-scoped tables are distributed by
-- member, colocated with account, so one member's rows live on one shard;
-- the configuration tables become reference tables (a copy on every node);
-- tracked_table stays local on the coordinator (loyalty refuses to track a
-- Citus table); the operations that touch one member are delegated to the
-- node that holds it.
-------------------------------------------------------------------------------
CREATE FUNCTION loyalty.distribute(shard_count integer DEFAULT NULL)
  RETURNS TABLE(object text, distribution text)
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  t text;
  f regprocedure;
  cfg CONSTANT text[] := ARRAY['program', 'tier', 'rule'];
  members CONSTANT text[] := ARRAY['account', 'ledger', 'lot', 'streak', 'tier_change'];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
    RAISE EXCEPTION 'extension citus is not installed in database "%"', current_database()
      USING ERRCODE = '55000',
            HINT = 'Preload citus on every node, CREATE EXTENSION citus, add the workers, then call loyalty.distribute().';
  END IF;
  IF shard_count IS NOT NULL AND shard_count < 1 THEN
    RAISE EXCEPTION 'shard_count must be at least 1, not %', shard_count USING ERRCODE = '22023';
  END IF;
  -- the append-only guard and the configuration trigger go to the shards
  PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);

  -- 1. configuration: reference tables.  Their foreign keys to program are
  -- dropped while they change kind (else Citus converts the whole foreign
  -- key graph, extension objects included), on every node, and put back.
  -- The restore guard stays on single-node installations only: Citus
  -- writes the copies on other nodes through its own connections.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                 WHERE logicalrelid = 'loyalty.program'::regclass) THEN
    ALTER TABLE loyalty.tier DROP CONSTRAINT IF EXISTS tier_program_id_fkey;
    ALTER TABLE loyalty.rule DROP CONSTRAINT IF EXISTS rule_program_id_fkey;
    PERFORM pg_catalog.run_command_on_workers(
      'ALTER TABLE loyalty.tier DROP CONSTRAINT IF EXISTS tier_program_id_fkey; '
      'ALTER TABLE loyalty.rule DROP CONSTRAINT IF EXISTS rule_program_id_fkey');
  END IF;
  FOREACH t IN ARRAY cfg LOOP
    object := 'loyalty.' || t;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
               WHERE logicalrelid = ('loyalty.' || t)::regclass) THEN
      distribution := 'reference (already)';
    ELSE
      EXECUTE format('DROP TRIGGER IF EXISTS %I ON loyalty.%I', t || '_restore_guard', t);
      PERFORM pg_catalog.create_reference_table(('loyalty.' || t)::regclass);
      distribution := 'reference';
    END IF;
    RETURN NEXT;
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                 WHERE conname = 'tier_program_id_fkey' AND conrelid = 'loyalty.tier'::regclass) THEN
    ALTER TABLE loyalty.tier ADD CONSTRAINT tier_program_id_fkey
      FOREIGN KEY (program_id) REFERENCES loyalty.program(id) ON DELETE CASCADE;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                 WHERE conname = 'rule_program_id_fkey' AND conrelid = 'loyalty.rule'::regclass) THEN
    ALTER TABLE loyalty.rule ADD CONSTRAINT rule_program_id_fkey
      FOREIGN KEY (program_id) REFERENCES loyalty.program(id) ON DELETE CASCADE;
  END IF;

  -- 2. member-scoped tables: distributed by member, colocated with account
  FOREACH t IN ARRAY members LOOP
    object := 'loyalty.' || t;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
               WHERE logicalrelid = ('loyalty.' || t)::regclass) THEN
      distribution := 'by member (already)';
    ELSE
      EXECUTE format('DROP TRIGGER IF EXISTS %I ON loyalty.%I', t || '_restore_guard', t);
      IF t = 'account' THEN
        PERFORM pg_catalog.create_distributed_table('loyalty.account'::regclass, 'member',
                                                    shard_count => shard_count);
      ELSE
        PERFORM pg_catalog.create_distributed_table(('loyalty.' || t)::regclass, 'member',
                                                    colocate_with => 'loyalty.account');
      END IF;
      distribution := 'by member';
    END IF;
    distribution := distribution || ', ' ||
      (SELECT count(*) FROM pg_catalog.pg_dist_shard
       WHERE logicalrelid = ('loyalty.' || t)::regclass) || ' shards';
    RETURN NEXT;
  END LOOP;

  -- 3. the operations on one member run on the node that holds it; those
  -- that may touch a second member (enroll and earn with a referrer,
  -- refund of a referee's purchase, transfer) run on the coordinator,
  -- one member's statements at a time
  FOREACH f IN ARRAY ARRAY[
      'loyalty.quote(text, text, numeric, timestamptz, text)',
      'loyalty.record_event(text, text, text, text, timestamptz)',
      'loyalty.redeem(text, text, bigint, text, timestamptz)',
      'loyalty.redeem_value(text, text, numeric, text, timestamptz)',
      'loyalty.adjust(text, text, bigint, text, text, timestamptz)',
      'loyalty.balance(text, text, timestamptz)',
      'loyalty.tier_of(text, text, timestamptz)']::regprocedure[] LOOP
    object := f::text;
    PERFORM pg_catalog.create_distributed_function(f, 'member', colocate_with => 'loyalty.account');
    distribution := 'delegated by member';
    RETURN NEXT;
  END LOOP;
  -- every backend, on every node, re-reads its configuration and learns that
  -- the tables are distributed (the configuration trigger fires on each copy)
  UPDATE loyalty.program SET updated_at = updated_at WHERE false;
END
$fn$;
REVOKE ALL ON FUNCTION loyalty.distribute(integer) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.distribute(integer) IS 'Citus: distributes the member tables by member, makes the configuration reference tables, delegates one-member operations (superuser, on the coordinator; idempotent)';

-- The program's code through a SECURITY DEFINER function: on a Citus
-- coordinator program is a reference table, whose placement Citus reads as
-- the calling user; the view itself then reads only the local tracked_table.
CREATE FUNCTION loyalty._program_code(program_id integer) RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT code FROM loyalty.program WHERE id = program_id $$;
CREATE OR REPLACE VIEW loyalty.tracked_orders AS
SELECT t.relid, loyalty._program_code(t.program_id) AS program, t.member_column,
       t.amount_column, t.ref_column, t.at_column, t.category_column, t.refund_column
FROM loyalty.tracked_table t;
REVOKE ALL ON FUNCTION loyalty._program_code(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loyalty._program_code(integer) TO loyalty_admin;

-- descriptions that said the wrong thing
COMMENT ON FUNCTION loyalty.redeem_value(text,text,numeric,text,timestamp with time zone) IS 'Spend points worth a money value at the member''s tier rate; returns the points spent';
COMMENT ON PROCEDURE loyalty.run_maintenance(timestamp with time zone) IS 'evaluate_tiers then expire_points: the nightly job';
