-- loyalty 0.5.0 -> 0.6.0: the points mall (issue #13; in progress).
-- Self-contained: every object 0.6.0 adds or changes is declared here, so
-- that the frozen 0.5.0 it starts from can be replaced by the final one.
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.6.0'" to load this file. \quit

-- The statement shows a redemption's reward (detail -> 'reward') instead of
-- its detail as lines.
CREATE OR REPLACE VIEW loyalty._part_statement AS
SELECT p.code AS program, e.member, e.id, e.at, e.kind, e.points,
       sum(e.points) OVER (PARTITION BY p.code, e.member ORDER BY e.at, e.id)::bigint AS balance_after,
       e.ref,
       jsonb_strip_nulls(jsonb_build_object(
         'amount', e.amount, 'category', e.category, 'event', e.event,
         'original_ref', e.original_ref, 'counterparty', e.counterparty,
         'reason', e.reason, 'lines', CASE WHEN e.kind <> 'redeem' THEN e.detail END,
         -- a redemption of a reward (redeem_reward) or its cancellation
         'reward', e.detail -> 'reward',
         -- a receipt's lines (earn_order), and what a refund took of each
         'receipt', e.detail -> 'lines')) AS detail
FROM loyalty.ledger e
JOIN loyalty.program p ON p.id = e.program_id
WHERE e.at <= now();

-------------------------------------------------------------------------------
-- Points mall (issue #13; README "Points mall", src/mall.c).
--
-- A catalogue of rewards members buy with points (gifts, coupons,
-- experiences, points + cash).  Design:
--  - loyalty.reward is configuration (one row per reward of a program, an
--    upsert by add_reward; on Citus a reference table like rule).  It is read
--    by one statement per redemption, not cached: a reward's price, window
--    and limits apply from the next call after a change.
--  - loyalty.reward_stock holds the units left of a reward with a limited
--    stock, one row per such reward, program-wide (not member-scoped: on
--    Citus distributed by reward, in its own colocation group, like code).
--    A reward with unlimited stock has no row and takes no stock lock.
--  - loyalty.redemption is member-scoped (program, member and ref in its key):
--    one row per redemption, with the pieces of lots it spent (points,
--    expiry and earning dates), which cancel_redemption gives back.
--  - redeem_reward locks its member first, as every operation does, spends
--    the price first-to-expire-first (one ledger row of kind 'redeem' whose
--    detail names the reward, the quantity and the cash part), then takes
--    the units with one UPDATE of the reward's stock row (WHERE stock >=
--    quantity: the row lock and its re-check make overselling impossible).
--    Only redeem_reward and cancel_redemption lock a stock row, always after
--    their member, and whoever holds one waits for nothing more, so the order
--    closes no cycle (docs/architecture.md, "Lock order").
--  - cancel_redemption writes a 'redeem' row of +points (original_ref: the
--    redemption), gives the member new lots with the pieces' expiry dates
--    (they repay debt first, like any credit), and the units back to stock.
-------------------------------------------------------------------------------
CREATE TABLE loyalty.reward (
  program_id  integer     NOT NULL,         -- no foreign key: a reference table on Citus
  code        text        NOT NULL,
  name        text,
  points      bigint      NOT NULL,         -- price of one unit (tier_points: by tier)
  cash        numeric     NOT NULL DEFAULT 0, -- cash part of one unit (points + cash), recorded
  per_member  integer,                      -- most units one member may hold (less cancelled)
  tiers       text[],                       -- tiers that may redeem it (NULL: all)
  tier_points jsonb,                        -- price of one unit by tier: {"gold": 800}
  valid_from  timestamptz,                  -- redeemable at [valid_from, valid_until)
  valid_until timestamptz,
  merchant    text,                         -- the merchant offering it (alliances, later)
  PRIMARY KEY (program_id, code),
  CONSTRAINT reward_points_check CHECK (points > 0 AND cash >= 0),
  CONSTRAINT reward_per_member_check CHECK (per_member > 0),
  CONSTRAINT reward_window_check CHECK (valid_until > valid_from)
);
CREATE TRIGGER reward_restore_guard BEFORE INSERT ON loyalty.reward
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();

CREATE TABLE loyalty.reward_stock (
  program_id  integer     NOT NULL,         -- no foreign key: distributed by reward on Citus
  reward      text        NOT NULL,
  stock       bigint      NOT NULL,         -- units left
  PRIMARY KEY (program_id, reward),
  CONSTRAINT reward_stock_check CHECK (stock >= 0)
);
CREATE TRIGGER reward_stock_restore_guard BEFORE INSERT ON loyalty.reward_stock
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();

CREATE TABLE loyalty.redemption (
  program_id   integer     NOT NULL,
  member       text        NOT NULL,
  ref          text        NOT NULL,        -- the ledger row's ref (given, or 'redemption:<id>')
  reward       text        NOT NULL,
  quantity     integer     NOT NULL,
  points       bigint      NOT NULL,        -- spent (the ledger row's -points)
  cash         numeric     NOT NULL,        -- the cash part, recorded (not collected)
  merchant     text,
  at           timestamptz NOT NULL,
  cancelled_at timestamptz,                 -- the cancellation's business time
  cancel_ref   text,                        -- its ref
  lot_points   bigint[]    NOT NULL,        -- the pieces of lots spent, first to expire first:
  lot_expires  timestamptz[] NOT NULL,      --   points, expiry (NULL: never) and earning dates,
  lot_earned   timestamptz[] NOT NULL,      --   which a cancellation gives back
  PRIMARY KEY (program_id, member, ref),
  CONSTRAINT redemption_quantity_check CHECK (quantity > 0 AND points >= 0 AND cash >= 0),
  CONSTRAINT redemption_cancel_check CHECK ((cancelled_at IS NULL) = (cancel_ref IS NULL))
);
CREATE TRIGGER redemption_restore_guard BEFORE INSERT ON loyalty.redemption
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();
SELECT pg_catalog.pg_extension_config_dump('loyalty.reward', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.reward_stock', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.redemption', '');

CREATE FUNCTION loyalty.add_reward(program text, code text, points bigint, cash numeric DEFAULT 0,
                                   stock bigint DEFAULT NULL, per_member integer DEFAULT NULL,
                                   tiers text[] DEFAULT NULL, tier_points jsonb DEFAULT NULL,
                                   valid_from timestamptz DEFAULT NULL,
                                   valid_until timestamptz DEFAULT NULL,
                                   name text DEFAULT NULL, merchant text DEFAULT NULL) RETURNS void
  AS 'MODULE_PATHNAME', 'loyalty_add_reward'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION loyalty.add_stock(program text, reward text, quantity bigint) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_add_stock'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION loyalty.redeem_reward(program text, member text, reward text, quantity integer DEFAULT 1,
                                      ref text DEFAULT NULL, at timestamptz DEFAULT pg_catalog.now(),
                                      merchant text DEFAULT NULL) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_redeem_reward'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;
CREATE FUNCTION loyalty.cancel_redemption(program text, member text, redemption_ref text, ref text,
                                          at timestamptz DEFAULT pg_catalog.now()) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_cancel_redemption'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

-- The redemptions of one set of members, as of now(): a cancellation dated
-- later is not one yet.
CREATE VIEW loyalty._part_redemptions AS
SELECT p.code AS program, r.member, r.ref, r.reward, r.quantity, r.points, r.cash, r.merchant,
       r.at, CASE WHEN r.cancelled_at <= now() THEN r.cancelled_at END AS cancelled_at
FROM loyalty.redemption r
JOIN loyalty.program p ON p.id = r.program_id
WHERE r.at <= now();
CREATE VIEW loyalty.redemptions AS
SELECT s.* FROM loyalty._part_redemptions s;

-- Per reward: the redemptions not cancelled (as of now()), and the stock
-- left.  reward_stock is not member-scoped (on Citus distributed by reward),
-- so the part is not per shard group: on Citus loyalty._citus_reward_stats
-- runs it once, on the coordinator, as the extension owner; each table is
-- read in a CTE of its own (Citus plans them one by one and joins their
-- results with the reference tables), src/citus_views.c.
CREATE VIEW loyalty._part_reward_stats AS
WITH r AS MATERIALIZED (
  SELECT e.program_id, e.reward, count(*) AS redemptions, sum(e.quantity)::bigint AS quantity,
         sum(e.points)::bigint AS points, sum(e.cash) AS cash
  FROM loyalty.redemption e
  WHERE e.at <= now() AND (e.cancelled_at IS NULL OR e.cancelled_at > now())
  GROUP BY e.program_id, e.reward
), k AS MATERIALIZED (
  SELECT s.program_id, s.reward, s.stock FROM loyalty.reward_stock s
)
SELECT p.code AS program, w.code AS reward,
       coalesce(r.redemptions, 0)::bigint AS redemptions,
       coalesce(r.quantity, 0)::bigint AS quantity,
       coalesce(r.points, 0)::bigint AS points,
       coalesce(r.cash, 0) AS cash,
       k.stock AS stock_left
FROM loyalty.reward w
JOIN loyalty.program p ON p.id = w.program_id
LEFT JOIN k ON k.program_id = w.program_id AND k.reward = w.code
LEFT JOIN r ON r.program_id = w.program_id AND r.reward = w.code;
CREATE VIEW loyalty.reward_stats AS
SELECT s.* FROM loyalty._part_reward_stats s;

REVOKE ALL ON loyalty.reward, loyalty.reward_stock, loyalty.redemption,
  loyalty._part_redemptions, loyalty._part_reward_stats FROM PUBLIC;
REVOKE ALL ON FUNCTION
  loyalty.add_reward(text, text, bigint, numeric, bigint, integer, text[], jsonb, timestamptz,
                     timestamptz, text, text),
  loyalty.add_stock(text, text, bigint),
  loyalty.redeem_reward(text, text, text, integer, text, timestamptz, text),
  loyalty.cancel_redemption(text, text, text, text, timestamptz)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  loyalty.add_reward(text, text, bigint, numeric, bigint, integer, text[], jsonb, timestamptz,
                     timestamptz, text, text),
  loyalty.add_stock(text, text, bigint)
  TO loyalty_admin;
GRANT EXECUTE ON FUNCTION
  loyalty.redeem_reward(text, text, text, integer, text, timestamptz, text),
  loyalty.cancel_redemption(text, text, text, text, timestamptz)
  TO loyalty_writer;
GRANT SELECT ON loyalty.reward_stats, loyalty.redemptions TO loyalty_reader;

COMMENT ON TABLE loyalty.reward IS 'Rewards of a program''s points mall: price in points (by tier), cash part, limits, validity';
COMMENT ON TABLE loyalty.reward_stock IS 'Units left of each reward with a limited stock, shared by the program; locked by redemptions after the member';
COMMENT ON TABLE loyalty.redemption IS 'One row per redemption of a reward by a member: quantity, points, cash, the lots it spent, its cancellation';
COMMENT ON FUNCTION loyalty.add_reward(text,text,bigint,numeric,bigint,integer,text[],jsonb,timestamp with time zone,timestamp with time zone,text,text) IS 'Add or change a reward of the points mall (stock: the units left, NULL unlimited)';
COMMENT ON FUNCTION loyalty.add_stock(text,text,bigint) IS 'Add units to a reward''s stock; returns the stock after';
COMMENT ON FUNCTION loyalty.redeem_reward(text,text,text,integer,text,timestamp with time zone,text) IS 'Buy a reward with points (first to expire first); returns the points spent (idempotent by ref)';
COMMENT ON FUNCTION loyalty.cancel_redemption(text,text,text,text,timestamp with time zone) IS 'Cancel a redemption: the points back with their expiry dates, the units back to stock; returns the points returned';
COMMENT ON VIEW loyalty.redemptions IS 'Redemptions of rewards per member, with their cancellation';
COMMENT ON VIEW loyalty.reward_stats IS 'Per reward: redemptions, quantity, points and cash (cancellations excluded), stock left';
COMMENT ON VIEW loyalty._part_redemptions IS 'Internal: the rows of loyalty.redemptions for one set of members (one node, or one shard group on Citus)';
COMMENT ON VIEW loyalty._part_reward_stats IS 'Internal: the rows of loyalty.reward_stats (one node; on Citus run once over the redemption and stock shards)';

-- distribute() knows the mall's tables and views: reward is configuration (a
-- reference table), redemption member-scoped, reward_stock distributed by
-- reward in a colocation group of its own (like code).
CREATE OR REPLACE FUNCTION loyalty.distribute(shard_count integer DEFAULT NULL)
  RETURNS TABLE(object text, distribution text)
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  t text;
  i integer;
  f regprocedure;
  cfg CONSTANT text[] := ARRAY['program', 'tier', 'rule', 'rule_budget', 'reward'];
  members CONSTANT text[] := ARRAY['account', 'ledger', 'lot', 'streak', 'tier_change', 'offer',
                                   'redemption'];
  -- program-wide tables that are not member-scoped, and the column each is
  -- distributed by
  wide CONSTANT text[] := ARRAY['code', 'reward_stock'];
  wide_by CONSTANT text[] := ARRAY['code', 'reward'];
  views CONSTANT text[] := ARRAY['member_summary', 'statement', 'expiring_points', 'liability',
                                 'activity_daily', 'tier_distribution', 'tier_history',
                                 'leaderboard', 'rule_stats', 'code_batches', 'member_offers',
                                 'redemptions', 'reward_stats'];
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
  -- one connection per node for the whole call: a call after an update
  -- distributes new tables beside populated ones and then writes program (a
  -- reference table with foreign keys to it), which Citus refuses after a
  -- parallel operation in the same transaction
  PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);

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

  -- 2b. single-use codes and the mall's stock rows are not member-scoped:
  -- distributed by code / by reward, each in a colocation group of its own
  -- (not with account)
  FOR i IN 1 .. pg_catalog.array_length(wide, 1) LOOP
    t := wide[i];
    object := 'loyalty.' || t;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
               WHERE logicalrelid = ('loyalty.' || t)::regclass) THEN
      distribution := 'by ' || wide_by[i] || ' (already)';
    ELSE
      EXECUTE format('DROP TRIGGER IF EXISTS %I ON loyalty.%I', t || '_restore_guard', t);
      PERFORM pg_catalog.create_distributed_table(('loyalty.' || t)::regclass, wide_by[i],
                                                  colocate_with => 'none', shard_count => shard_count);
      distribution := 'by ' || wide_by[i];
    END IF;
    distribution := distribution || ', ' ||
      (SELECT count(*) FROM pg_catalog.pg_dist_shard
       WHERE logicalrelid = ('loyalty.' || t)::regclass) || ' shards';
    RETURN NEXT;
  END LOOP;

  -- 3. the operations on one member run on the node that holds it; those
  -- that may touch a second member (enroll and earn with a referrer,
  -- refund of a referee's purchase, transfer) run on the coordinator,
  -- one member's statements at a time; so do add_codes and redeem_code (a
  -- code's shard and a member's), and redeem_reward and cancel_redemption
  -- (a member's shard and a stock row's)
  FOREACH f IN ARRAY ARRAY[
      'loyalty.quote(text, text, numeric, timestamptz, text)',
      'loyalty.record_event(text, text, text, text, timestamptz)',
      'loyalty.redeem(text, text, bigint, text, timestamptz)',
      'loyalty.redeem_value(text, text, numeric, text, timestamptz)',
      'loyalty.adjust(text, text, bigint, text, text, timestamptz)',
      'loyalty.balance(text, text, timestamptz)',
      'loyalty.tier_of(text, text, timestamptz)',
      'loyalty.grant_offer(text, text, text, integer, timestamptz, timestamptz, text)']::regprocedure[] LOOP
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
