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
  views CONSTANT text[] := ARRAY['member_summary', 'statement', 'expiring_points', 'liability',
                                 'activity_daily', 'tier_distribution', 'tier_history',
                                 'leaderboard', 'rule_stats'];
  def text;
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
  -- 4. the views read their parts on every shard group: each view's part is
  -- replaced by a foreign table of the loyalty_parts wrapper with its columns
  -- (src/citus_views.c), a member of the extension, on this node only
  FOREACH t IN ARRAY views LOOP
    object := 'loyalty.' || t;
    IF to_regclass('loyalty._citus_' || t) IS NULL THEN
      EXECUTE format('CREATE FOREIGN TABLE loyalty.%I (%s) SERVER loyalty_parts OPTIONS (part %L)',
        '_citus_' || t,
        (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', '
                           ORDER BY a.attnum)
         FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = ('loyalty._part_' || t)::regclass AND a.attnum > 0 AND NOT a.attisdropped),
        t);
      EXECUTE format('ALTER EXTENSION loyalty ADD FOREIGN TABLE loyalty.%I', '_citus_' || t);
      EXECUTE format('COMMENT ON FOREIGN TABLE loyalty.%I IS %L', '_citus_' || t,
                     'Citus: the rows of loyalty._part_' || t || ' on every shard group (loyalty.' || t || ' reads it)');
    END IF;
    def := pg_catalog.rtrim(pg_catalog.pg_get_viewdef(('loyalty.' || t)::regclass), E'; \n');
    IF def ~ ('\mloyalty\._citus_' || t || '\M') THEN
      distribution := 'read per shard group (already)';
    ELSE
      EXECUTE format('CREATE OR REPLACE VIEW loyalty.%I AS %s', t,
        pg_catalog.regexp_replace(def, '\mloyalty\._part_' || t || '\M', 'loyalty._citus_' || t));
      distribution := 'read per shard group';
    END IF;
    RETURN NEXT;
  END LOOP;
  -- every backend, on every node, re-reads its configuration and learns that
  -- the tables are distributed (the configuration trigger fires on each copy)
  UPDATE loyalty.program SET updated_at = updated_at WHERE false;
END
$fn$;

-- The views of a Citus coordinator read their parts through the
-- loyalty_parts foreign-data wrapper (src/citus_views.c): scanning
-- loyalty._citus_<view> (made by distribute()) runs loyalty._part_<view> on
-- every shard group, on the node holding it, as the foreign table's owner,
-- so a role that may read only the views reads them on Citus too (Citus
-- would send a view's own shard queries as the calling role).
CREATE FUNCTION loyalty._parts_handler() RETURNS fdw_handler
  LANGUAGE C STRICT SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'loyalty_parts_handler';
CREATE FUNCTION loyalty._parts_validator(text[], oid) RETURNS void
  LANGUAGE C STRICT SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'loyalty_parts_validator';
CREATE FOREIGN DATA WRAPPER loyalty_parts
  HANDLER loyalty._parts_handler VALIDATOR loyalty._parts_validator;
CREATE SERVER loyalty_parts FOREIGN DATA WRAPPER loyalty_parts;
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

-------------------------------------------------------------------------------
-- The views read their parts (loyalty._part_<view>): one node's members here,
-- one shard group's on a Citus coordinator after loyalty.distribute(), which
-- points them at the loyalty_parts foreign tables.  Same columns, same rows.
-------------------------------------------------------------------------------
CREATE VIEW loyalty._part_member_summary AS
SELECT p.code AS program, a.member,
       tn.tier,
       l.usable - a.debt - l.reserved AS available,
       l.pending,
       a.debt + l.reserved AS debt,
       g.earned AS lifetime_earned,
       g.redeemed AS lifetime_redeemed,
       g.expired + l.expired_unswept AS lifetime_expired,
       q.qualifying,
       nx.code AS next_tier,
       CASE WHEN nx.code IS NOT NULL THEN greatest(nx.threshold - q.qualifying, 0) END AS to_next_tier,
       l.next_expiry_at,
       ne.points AS next_expiry_points,
       a.joined_at,
       g.last_activity_at
FROM loyalty.account a
JOIN loyalty.program p ON p.id = a.program_id
JOIN loyalty._tier_now tn ON tn.program_id = a.program_id AND tn.member = a.member
-- the lots as of now: points usable now, pending (with the debt they will
-- repay), expired but not yet swept, and the next expiry
CROSS JOIN LATERAL (
  SELECT coalesce(sum(x.c) FILTER (WHERE x.available_at <= now()), 0)::bigint AS usable,
         coalesce(sum(x.c + x.rp) FILTER (WHERE x.available_at > now()), 0)::bigint AS pending,
         coalesce(sum(x.rp) FILTER (WHERE x.available_at > now()), 0)::bigint AS reserved,
         coalesce(sum(x.unswept), 0)::bigint AS expired_unswept,
         min(x.expires_at) FILTER (WHERE x.c > 0) AS next_expiry_at
  FROM (SELECT CASE WHEN y.e IS NULL OR y.e > now() THEN y.remaining ELSE 0 END AS c,
               CASE WHEN y.e IS NULL OR y.e > now() THEN y.repaid ELSE 0 END AS rp,
               CASE WHEN y.e <= now() THEN y.remaining ELSE 0 END AS unswept,
               y.available_at, y.e AS expires_at
        FROM (SELECT y.remaining, y.repaid, y.available_at,
                     CASE WHEN y.rolls THEN coalesce(a.roll_until, y.expires_at) ELSE y.expires_at END AS e
              FROM loyalty.lot y
              WHERE y.program_id = a.program_id AND y.member = a.member AND y.remaining > 0) y
        UNION ALL
        SELECT y.expired, y.repaid, 0, y.available_at, y.expires_at
        FROM loyalty.lot y
        WHERE y.program_id = a.program_id AND y.member = a.member AND y.expired > 0
          AND y.remaining = 0 AND y.expires_at > now()
        UNION ALL
        SELECT 0, y.repaid, 0, y.available_at, y.e
        FROM (SELECT y.repaid, y.available_at,
                     CASE WHEN y.rolls THEN coalesce(a.roll_until, y.expires_at) ELSE y.expires_at END AS e
              FROM loyalty.lot y
              WHERE y.program_id = a.program_id AND y.member = a.member AND y.repaid > 0
                AND y.remaining = 0 AND y.expired = 0 AND y.available_at > now()) y
        WHERE y.e IS NULL OR y.e > now()) x) l
LEFT JOIN LATERAL (
  SELECT sum(CASE WHEN y.remaining > 0 THEN y.remaining ELSE y.expired END)::bigint AS points
  FROM loyalty.lot y
  WHERE y.program_id = a.program_id AND y.member = a.member
    AND CASE WHEN y.rolls THEN coalesce(a.roll_until, y.expires_at) ELSE y.expires_at END = l.next_expiry_at
    AND (y.remaining > 0 OR y.expired > 0)) ne ON true
CROSS JOIN LATERAL (
  SELECT coalesce(sum(e.points) FILTER (WHERE e.kind IN ('earn', 'event', 'referral')), 0)::bigint AS earned,
         coalesce(-sum(e.points) FILTER (WHERE e.kind = 'redeem'), 0)::bigint AS redeemed,
         coalesce(-sum(e.points) FILTER (WHERE e.kind = 'expire'), 0)::bigint AS expired,
         max(e.at) FILTER (WHERE e.kind <> 'expire') AS last_activity_at
  FROM loyalty.ledger e
  WHERE e.program_id = a.program_id AND e.member = a.member AND e.at <= now()) g
CROSS JOIN LATERAL (
  SELECT coalesce(CASE p.tier_basis WHEN 'points' THEN sum(e.qual_points)::numeric
                                    WHEN 'spend' THEN sum(e.qual_spend)
                                    ELSE sum(e.qual_orders)::numeric END, 0) AS qualifying
  FROM loyalty.ledger e
  WHERE e.program_id = a.program_id AND e.member = a.member
    AND e.qual_at <= now() AND e.at <= now()
    -- the current tier window (src/tiers.c: tier_window_of)
    AND e.qual_at >= CASE p.tier_window
          WHEN 'calendar_year' THEN date_trunc('year', now() AT TIME ZONE p.timezone) AT TIME ZONE p.timezone
          WHEN 'rolling_year' THEN (now() AT TIME ZONE p.timezone - interval '365 days') AT TIME ZONE p.timezone
          ELSE '-infinity'::timestamptz END) q
LEFT JOIN LATERAL (SELECT t.code, t.threshold FROM loyalty.tier t
                   WHERE t.program_id = a.program_id
                     AND t.threshold > coalesce((SELECT c.threshold FROM loyalty.tier c
                                                 WHERE c.program_id = a.program_id
                                                   AND c.code = tn.tier), 0)
                   ORDER BY t.threshold LIMIT 1) nx ON true;

-- A member's ledger in business-time order (ties: the order written), as of
-- now(): balance_after runs in that order.
CREATE VIEW loyalty._part_statement AS
SELECT p.code AS program, e.member, e.id, e.at, e.kind, e.points,
       sum(e.points) OVER (PARTITION BY p.code, e.member ORDER BY e.at, e.id)::bigint AS balance_after,
       e.ref,
       jsonb_strip_nulls(jsonb_build_object(
         'amount', e.amount, 'category', e.category, 'event', e.event,
         'original_ref', e.original_ref, 'counterparty', e.counterparty,
         'reason', e.reason, 'lines', e.detail)) AS detail
FROM loyalty.ledger e
JOIN loyalty.program p ON p.id = e.program_id
WHERE e.at <= now();

CREATE VIEW loyalty._part_expiring_points AS
SELECT p.code AS program, l.member, l.expires_at,
       sum(l.points)::bigint AS points
FROM (SELECT l.program_id, l.member, CASE WHEN l.remaining > 0 THEN l.remaining ELSE l.expired END AS points,
             CASE WHEN l.rolls THEN coalesce(a.roll_until, l.expires_at) ELSE l.expires_at END AS expires_at
      FROM loyalty.lot l
      LEFT JOIN loyalty.account a ON l.rolls AND a.program_id = l.program_id AND a.member = l.member
      WHERE l.remaining > 0 OR l.expired > 0) l
JOIN loyalty.program p ON p.id = l.program_id
WHERE l.expires_at > now()
GROUP BY p.code, l.member, l.expires_at;

CREATE VIEW loyalty._part_liability AS
SELECT p.code AS program, m.outstanding, m.value, m.unswept, g.earned, g.redeemed, g.expired
FROM loyalty.program p
LEFT JOIN LATERAL (
  SELECT sum(b.points) AS outstanding, sum(b.points / b.rate) AS value, sum(b.unswept) AS unswept
  FROM (SELECT coalesce(x.live, 0) - a.debt AS points,
               coalesce(x.unswept, 0) AS unswept,
               coalesce(t.points_per_value, p.points_per_value) AS rate
        FROM loyalty.account a
        LEFT JOIN (SELECT l.member,
                          sum(CASE WHEN l.remaining > 0 THEN l.remaining ELSE l.expired END)
                            FILTER (WHERE l.e IS NULL OR l.e > now()) AS live,
                          sum(l.remaining) FILTER (WHERE l.e <= now()) AS unswept
                   FROM (SELECT l.member, l.remaining, l.expired,
                                CASE WHEN l.rolls THEN coalesce(ra.roll_until, l.expires_at)
                                     ELSE l.expires_at END AS e
                         FROM loyalty.lot l
                         LEFT JOIN loyalty.account ra
                           ON l.rolls AND ra.program_id = l.program_id AND ra.member = l.member
                         WHERE l.program_id = p.id AND (l.remaining > 0 OR l.expired > 0)) l
                   GROUP BY l.member) x ON x.member = a.member
        -- each member's points at the rate of the tier it holds now (members
        -- enrolled before any tier existed are in the lowest tier)
        JOIN loyalty._tier_now tn ON tn.program_id = a.program_id AND tn.member = a.member
        LEFT JOIN loyalty.tier t ON t.program_id = a.program_id AND t.code = tn.tier
        WHERE a.program_id = p.id) b) m ON true
LEFT JOIN LATERAL (
  SELECT sum(e.points) FILTER (WHERE e.kind IN ('earn', 'event', 'referral')) AS earned,
         -sum(e.points) FILTER (WHERE e.kind = 'redeem') AS redeemed,
         -sum(e.points) FILTER (WHERE e.kind = 'expire') AS expired
  FROM loyalty.ledger e WHERE e.program_id = p.id AND e.at <= now()) g ON true;

CREATE VIEW loyalty._part_activity_daily AS
SELECT p.code AS program, d.day,
       coalesce(e.earned, 0)::bigint AS earned,
       coalesce(e.redeemed, 0)::bigint AS redeemed,
       (coalesce(e.expired, 0) + coalesce(u.unswept, 0))::bigint AS expired,
       coalesce(e.clawed_back, 0)::bigint AS clawed_back,
       e.active_members,
       n.new_members
FROM loyalty.program p
-- the program's local days with any ledger row, new member or unswept expiry
-- up to now: each found by one index probe from the day before (a skip
-- scan), so far-apart dates cost nothing between them
CROSS JOIN LATERAL (
  WITH RECURSIVE ld(day) AS (
    SELECT (min(x.at) AT TIME ZONE p.timezone)::date FROM loyalty.ledger x
    WHERE x.program_id = p.id AND x.at <= now()
    UNION ALL
    SELECT (SELECT (min(x.at) AT TIME ZONE p.timezone)::date FROM loyalty.ledger x
            WHERE x.program_id = p.id AND x.at <= now()
              AND x.at >= (ld.day + 1)::timestamp AT TIME ZONE p.timezone)
    FROM ld WHERE ld.day IS NOT NULL
  ), jd(day) AS (
    SELECT (min(a.joined_at) AT TIME ZONE p.timezone)::date FROM loyalty.account a
    WHERE a.program_id = p.id AND a.joined_at <= now()
    UNION ALL
    SELECT (SELECT (min(a.joined_at) AT TIME ZONE p.timezone)::date FROM loyalty.account a
            WHERE a.program_id = p.id AND a.joined_at <= now()
              AND a.joined_at >= (jd.day + 1)::timestamp AT TIME ZONE p.timezone)
    FROM jd WHERE jd.day IS NOT NULL
  ), xd(day) AS (
    SELECT (min(l.expires_at) AT TIME ZONE p.timezone)::date FROM loyalty.lot l
    WHERE l.program_id = p.id AND l.remaining > 0 AND NOT l.rolls AND l.expires_at <= now()
    UNION ALL
    SELECT (SELECT (min(l.expires_at) AT TIME ZONE p.timezone)::date FROM loyalty.lot l
            WHERE l.program_id = p.id AND l.remaining > 0 AND NOT l.rolls AND l.expires_at <= now()
              AND l.expires_at >= (xd.day + 1)::timestamp AT TIME ZONE p.timezone)
    FROM xd WHERE xd.day IS NOT NULL
  )
  SELECT ld.day FROM ld WHERE ld.day IS NOT NULL
  UNION SELECT jd.day FROM jd WHERE jd.day IS NOT NULL
  UNION SELECT xd.day FROM xd WHERE xd.day IS NOT NULL
  UNION SELECT (r.roll_until AT TIME ZONE p.timezone)::date FROM loyalty.account r
  WHERE r.program_id = p.id AND r.roll_until <= now()
    AND EXISTS (SELECT 1 FROM loyalty.lot l WHERE l.program_id = r.program_id AND l.member = r.member
                AND l.remaining > 0 AND l.rolls)) d
CROSS JOIN LATERAL (
  SELECT sum(x.points) FILTER (WHERE x.kind IN ('earn', 'event', 'referral')) AS earned,
         -sum(x.points) FILTER (WHERE x.kind = 'redeem') AS redeemed,
         -sum(x.points) FILTER (WHERE x.kind = 'expire') AS expired,
         -sum(x.points) FILTER (WHERE x.kind = 'refund') AS clawed_back,
         count(DISTINCT x.member) FILTER (WHERE x.kind NOT IN ('expire')) AS active_members,
         count(*) AS n
  FROM loyalty.ledger x
  WHERE x.program_id = p.id
    AND x.at >= d.day::timestamp AT TIME ZONE p.timezone
    AND x.at < (d.day + 1)::timestamp AT TIME ZONE p.timezone
    AND x.at <= now()) e
CROSS JOIN LATERAL (
  SELECT count(*) AS new_members FROM loyalty.account a
  WHERE a.program_id = p.id
    AND a.joined_at >= d.day::timestamp AT TIME ZONE p.timezone
    AND a.joined_at < (d.day + 1)::timestamp AT TIME ZONE p.timezone
    AND a.joined_at <= now()) n
-- points whose expiry passed but that expire_points has not swept yet count
-- as expired on their expiry day, as in balance() and the other views
CROSS JOIN LATERAL (
  SELECT sum(x.unswept) AS unswept FROM (
    SELECT l.remaining AS unswept FROM loyalty.lot l
    WHERE l.program_id = p.id AND l.remaining > 0 AND NOT l.rolls AND l.expires_at <= now()
      AND l.expires_at >= d.day::timestamp AT TIME ZONE p.timezone
      AND l.expires_at < (d.day + 1)::timestamp AT TIME ZONE p.timezone
    UNION ALL
    SELECT l.remaining FROM loyalty.account r
    JOIN loyalty.lot l ON l.program_id = r.program_id AND l.member = r.member AND l.remaining > 0 AND l.rolls
    WHERE r.program_id = p.id AND r.roll_until <= now()
      AND r.roll_until >= d.day::timestamp AT TIME ZONE p.timezone
      AND r.roll_until < (d.day + 1)::timestamp AT TIME ZONE p.timezone) x) u
WHERE e.n > 0 OR n.new_members > 0 OR u.unswept > 0;

CREATE VIEW loyalty._part_tier_distribution AS
SELECT p.code AS program, t.code AS tier, count(tn.member) AS members
FROM loyalty.program p
JOIN loyalty.tier t ON t.program_id = p.id
LEFT JOIN loyalty._tier_now tn ON tn.program_id = p.id AND tn.tier = t.code
GROUP BY p.code, t.code, t.threshold;

CREATE VIEW loyalty._part_tier_history AS
SELECT p.code AS program, c.member, c.at, c.from_tier, c.to_tier, c.reason, c.valid_until
FROM loyalty.tier_change c
JOIN loyalty.program p ON p.id = c.program_id
WHERE c.at <= now();

-- Points earned in each local month (earn, events, referral), net of what
-- refunds of those purchases clawed back, whenever they were refunded.
CREATE VIEW loyalty._part_leaderboard AS
SELECT p.code AS program, m.month, r.member, r.points
FROM loyalty.program p
-- the program's local months with ledger rows up to now, one index probe
-- each (a skip scan)
CROSS JOIN LATERAL (
  WITH RECURSIVE lm(month) AS (
    SELECT date_trunc('month', min(x.at) AT TIME ZONE p.timezone)::date FROM loyalty.ledger x
    WHERE x.program_id = p.id AND x.at <= now()
    UNION ALL
    SELECT (SELECT date_trunc('month', min(x.at) AT TIME ZONE p.timezone)::date FROM loyalty.ledger x
            WHERE x.program_id = p.id AND x.at <= now()
              AND x.at >= (lm.month + interval '1 month')::timestamp AT TIME ZONE p.timezone)
    FROM lm WHERE lm.month IS NOT NULL)
  SELECT lm.month FROM lm WHERE lm.month IS NOT NULL) m
CROSS JOIN LATERAL (
  SELECT e.member, sum(e.points)::bigint AS points
  FROM (SELECT x.member, x.points FROM loyalty.ledger x
        WHERE x.program_id = p.id AND x.kind IN ('earn', 'event', 'referral')
          AND x.at >= m.month::timestamp AT TIME ZONE p.timezone
          AND x.at < (m.month + interval '1 month')::timestamp AT TIME ZONE p.timezone
          AND x.at <= now()
        UNION ALL
        -- clawbacks count in the month of the purchase they refund (qual_at)
        SELECT x.member, x.points FROM loyalty.ledger x
        WHERE x.program_id = p.id AND x.kind = 'refund'
          AND x.qual_at >= m.month::timestamp AT TIME ZONE p.timezone
          AND x.qual_at < (m.month + interval '1 month')::timestamp AT TIME ZONE p.timezone
          AND x.at <= now()) e
  GROUP BY e.member
  ORDER BY sum(e.points) DESC, e.member
  LIMIT 10) r;

CREATE VIEW loyalty._part_rule_stats AS
SELECT p.code AS program, r.code AS rule,
       count(u.id) AS purchases,
       coalesce(sum(u.points), 0)::bigint AS points
FROM loyalty.rule r
JOIN loyalty.program p ON p.id = r.program_id
LEFT JOIN LATERAL (
  SELECT e.id, (e.detail -> 'rules' ->> r.code)::bigint AS points
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail -> 'rules' ? r.code AND e.at <= now()
  UNION ALL
  SELECT e.id, (e.detail ->> 'base')::bigint
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail ->> 'rate' = r.code AND e.at <= now()) u ON true
GROUP BY p.code, r.code, r.id;

-- The views users read.  Each reads its part (above): the rows of one set of
-- members (all of them on one node; one shard group on Citus) and combines
-- them: per-member views take the rows as they are, program-wide views add
-- the parts up (members are disjoint between parts, so counts of members
-- add up too), and the leaderboard ranks the parts' top tens again.  On one
-- node the planner folds each view into its part (filters reach the tables).
-- loyalty.distribute() replaces, on a Citus coordinator, the part read here
-- by the foreign table loyalty._citus_<view>: the same part run on every
-- shard group, as the extension owner, on the node holding it
-- (src/citus_views.c; docs/scale-out.md, "Views").
CREATE OR REPLACE VIEW loyalty.member_summary AS
SELECT s.* FROM loyalty._part_member_summary s;

CREATE OR REPLACE VIEW loyalty.statement AS
SELECT s.* FROM loyalty._part_statement s;

CREATE OR REPLACE VIEW loyalty.expiring_points AS
SELECT s.* FROM loyalty._part_expiring_points s;

CREATE OR REPLACE VIEW loyalty.liability AS
SELECT s.program,
       coalesce(sum(s.outstanding), 0)::bigint AS outstanding_points,
       coalesce(sum(s.value), 0)::numeric(20, 2) AS outstanding_value,
       coalesce(sum(s.earned), 0)::bigint AS earned,
       coalesce(sum(s.redeemed), 0)::bigint AS redeemed,
       (coalesce(sum(s.expired), 0) + coalesce(sum(s.unswept), 0))::bigint AS expired,
       CASE WHEN coalesce(sum(s.earned), 0) > 0
            THEN round((coalesce(sum(s.expired), 0) + coalesce(sum(s.unswept), 0))::numeric / sum(s.earned), 4)
            ELSE 0 END AS breakage_rate
FROM loyalty._part_liability s
GROUP BY s.program;

CREATE OR REPLACE VIEW loyalty.activity_daily AS
SELECT s.program, s.day,
       sum(s.earned)::bigint AS earned,
       sum(s.redeemed)::bigint AS redeemed,
       sum(s.expired)::bigint AS expired,
       sum(s.clawed_back)::bigint AS clawed_back,
       sum(s.active_members)::bigint AS active_members,
       sum(s.new_members)::bigint AS new_members
FROM loyalty._part_activity_daily s
GROUP BY s.program, s.day;

CREATE OR REPLACE VIEW loyalty.tier_distribution AS
SELECT s.program, s.tier, sum(s.members)::bigint AS members
FROM loyalty._part_tier_distribution s
GROUP BY s.program, s.tier;

CREATE OR REPLACE VIEW loyalty.tier_history AS
SELECT s.* FROM loyalty._part_tier_history s;

CREATE OR REPLACE VIEW loyalty.leaderboard AS
SELECT s.program, s.month, s.rank, s.member, s.points
FROM (SELECT t.program, t.month,
             row_number() OVER (PARTITION BY t.program, t.month ORDER BY t.points DESC, t.member) AS rank,
             t.member, t.points
      FROM loyalty._part_leaderboard t) s
WHERE s.rank <= 10;

CREATE OR REPLACE VIEW loyalty.rule_stats AS
SELECT s.program, s.rule, sum(s.purchases)::bigint AS purchases, sum(s.points)::bigint AS points
FROM loyalty._part_rule_stats s
GROUP BY s.program, s.rule;

REVOKE ALL ON loyalty._part_member_summary, loyalty._part_statement, loyalty._part_expiring_points, loyalty._part_liability, loyalty._part_activity_daily, loyalty._part_tier_distribution, loyalty._part_tier_history, loyalty._part_leaderboard, loyalty._part_rule_stats FROM PUBLIC;
REVOKE ALL ON FUNCTION loyalty._parts_handler() FROM PUBLIC;
REVOKE ALL ON FUNCTION loyalty._parts_validator(text[], oid) FROM PUBLIC;
COMMENT ON VIEW loyalty._part_member_summary IS 'Internal: the rows of loyalty.member_summary for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_statement IS 'Internal: the rows of loyalty.statement for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_expiring_points IS 'Internal: the rows of loyalty.expiring_points for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_liability IS 'Internal: the rows of loyalty.liability for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_activity_daily IS 'Internal: the rows of loyalty.activity_daily for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_tier_distribution IS 'Internal: the rows of loyalty.tier_distribution for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_tier_history IS 'Internal: the rows of loyalty.tier_history for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_leaderboard IS 'Internal: the rows of loyalty.leaderboard for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_rule_stats IS 'Internal: the rows of loyalty.rule_stats for one set of members (one node, or one shard group on Citus)';
COMMENT ON FUNCTION loyalty._parts_handler() IS 'Citus: the loyalty_parts foreign-data wrapper (the views of a distributed installation)';
COMMENT ON FUNCTION loyalty._parts_validator(text[], oid) IS 'Citus: the options of the loyalty_parts wrapper (a foreign table''s part)';
