-- loyalty 0.5.0 -> 0.6.0: the points mall and alliances (issue #13).
-- Self-contained: every object 0.6.0 adds or changes is declared here, so
-- that the frozen 0.5.0 it starts from can be replaced by the final one.
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.6.0'" to load this file. \quit

-- Alliances: every ledger row records its merchant (NULL: the program).
ALTER TABLE loyalty.ledger ADD COLUMN IF NOT EXISTS merchant text;  -- IF NOT EXISTS: on Citus the workers run this script too, then get the coordinator's ALTER

-- earn, quote, record_event, redeem and redeem_value take a merchant, their
-- last parameter (SPEC §9): the old signatures go, calls without it work on.
DROP FUNCTION IF EXISTS loyalty.earn(text, text, numeric, text, timestamptz, text);
DROP FUNCTION IF EXISTS loyalty.quote(text, text, numeric, timestamptz, text);
DROP FUNCTION IF EXISTS loyalty.record_event(text, text, text, text, timestamptz);
DROP FUNCTION IF EXISTS loyalty.redeem(text, text, bigint, text, timestamptz);
DROP FUNCTION IF EXISTS loyalty.redeem_value(text, text, numeric, text, timestamptz);
CREATE FUNCTION loyalty.earn(program text, member text, amount numeric, ref text,
                             at timestamptz DEFAULT pg_catalog.now(), category text DEFAULT NULL,
                             merchant text DEFAULT NULL) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_earn'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

CREATE FUNCTION loyalty.quote(program text, member text, amount numeric,
                              at timestamptz DEFAULT pg_catalog.now(), category text DEFAULT NULL,
                              merchant text DEFAULT NULL)
  RETURNS TABLE(source text, points bigint)
  AS 'MODULE_PATHNAME', 'loyalty_quote'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

CREATE FUNCTION loyalty.record_event(program text, member text, event text, ref text,
                                     at timestamptz DEFAULT pg_catalog.now(),
                                     merchant text DEFAULT NULL) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_record_event'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

CREATE FUNCTION loyalty.redeem(program text, member text, points bigint, ref text,
                               at timestamptz DEFAULT pg_catalog.now(),
                               merchant text DEFAULT NULL) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_redeem'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

CREATE FUNCTION loyalty.redeem_value(program text, member text, value numeric, ref text,
                                     at timestamptz DEFAULT pg_catalog.now(),
                                     merchant text DEFAULT NULL) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_redeem_value'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

REVOKE ALL ON FUNCTION
  loyalty.earn(text, text, numeric, text, timestamptz, text, text),
  loyalty.quote(text, text, numeric, timestamptz, text, text),
  loyalty.record_event(text, text, text, text, timestamptz, text),
  loyalty.redeem(text, text, bigint, text, timestamptz, text),
  loyalty.redeem_value(text, text, numeric, text, timestamptz, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  loyalty.earn(text, text, numeric, text, timestamptz, text, text),
  loyalty.quote(text, text, numeric, timestamptz, text, text),
  loyalty.record_event(text, text, text, text, timestamptz, text),
  loyalty.redeem(text, text, bigint, text, timestamptz, text),
  loyalty.redeem_value(text, text, numeric, text, timestamptz, text)
  TO loyalty_writer;
COMMENT ON FUNCTION loyalty.earn(text,text,numeric,text,timestamp with time zone,text,text) IS 'Credit a purchase; returns the points earned (idempotent by ref)';
COMMENT ON FUNCTION loyalty.quote(text,text,numeric,timestamp with time zone,text,text) IS 'What a purchase would earn, line by line, writing nothing';
COMMENT ON FUNCTION loyalty.record_event(text,text,text,text,timestamp with time zone,text) IS 'Credit an event rule (survey, check-in...); returns the points';
COMMENT ON FUNCTION loyalty.redeem(text,text,bigint,text,timestamp with time zone,text) IS 'Spend points; returns the balance after';
COMMENT ON FUNCTION loyalty.redeem_value(text,text,numeric,text,timestamp with time zone,text) IS 'Spend points worth a money value at the member''s tier rate; returns the points spent';


-- The statement shows a redemption's reward (detail -> 'reward') instead of
-- its detail as lines.
CREATE OR REPLACE VIEW loyalty._part_statement AS
SELECT p.code AS program, e.member, e.id, e.at, e.kind, e.points,
       sum(e.points) OVER (PARTITION BY p.code, e.member ORDER BY e.at, e.id)::bigint AS balance_after,
       e.ref,
       jsonb_strip_nulls(jsonb_build_object(
         'amount', e.amount, 'category', e.category, 'event', e.event,
         'original_ref', e.original_ref, 'counterparty', e.counterparty,
         'reason', e.reason, 'merchant', e.merchant,
         'lines', CASE WHEN e.kind <> 'redeem' THEN e.detail END,
         -- a redemption of a reward (redeem_reward) or its cancellation
         'reward', e.detail -> 'reward',
         -- a receipt's lines (earn_order), and what a refund took of each
         'receipt', e.detail -> 'lines')) AS detail
FROM loyalty.ledger e
JOIN loyalty.program p ON p.id = e.program_id
WHERE e.at <= now();

-------------------------------------------------------------------------------
-- Alliances (issue #13, SPEC §9; README "Alliances", src/merchants.c).
--
-- Several merchants issue and accept one program's points and settle with
-- each other.  Design:
--  - loyalty.merchant is configuration (an upsert by add_merchant; cached with
--    the program; on Citus a reference table like rule).
--  - every ledger row records its merchant (loyalty.ledger.merchant, NULL:
--    the program itself): credits and debits the merchant given to the
--    operation; a refund the merchant of the purchase it refunds; a
--    cancellation the merchant of the redemption it cancels.
--  - loyalty.merchant_grant: one row per merchant role (grant_merchant; on
--    Citus a reference table, read by the operations delegated to workers).
--    The operations check the calling role against it (src/merchants.c); the
--    public views merchant_settlement, redemptions and reward_stats keep a
--    merchant role's rows only, by loyalty._merchant_visible(program,
--    merchant) (the parts, run as the owner on every shard group, do not).
-------------------------------------------------------------------------------
CREATE TABLE loyalty.merchant (
  program_id       integer NOT NULL,        -- no foreign key: a reference table on Citus
  code             text    NOT NULL,
  name             text,
  settlement_value numeric,                 -- currency value of one point between merchants
                                            -- (NULL: 1 / points_per_value of the program)
  PRIMARY KEY (program_id, code),
  CONSTRAINT merchant_settlement_value_check CHECK (settlement_value >= 0)
);
CREATE TRIGGER merchant_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.merchant
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._config_changed();
CREATE TRIGGER merchant_restore_guard BEFORE INSERT ON loyalty.merchant
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();

CREATE TABLE loyalty.merchant_grant (
  role        name    NOT NULL,             -- a role (by name: dumps restore by name)
  program_id  integer NOT NULL,
  merchant    text    NOT NULL,
  PRIMARY KEY (role)
);
CREATE TRIGGER merchant_grant_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.merchant_grant
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._config_changed();
CREATE TRIGGER merchant_grant_restore_guard BEFORE INSERT ON loyalty.merchant_grant
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();
SELECT pg_catalog.pg_extension_config_dump('loyalty.merchant', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.merchant_grant', '');

CREATE FUNCTION loyalty.add_merchant(program text, code text, name text DEFAULT NULL,
                                     settlement_value numeric DEFAULT NULL) RETURNS void
  AS 'MODULE_PATHNAME', 'loyalty_add_merchant'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION loyalty.grant_merchant(role name, program text, merchant text) RETURNS void
  AS 'MODULE_PATHNAME', 'loyalty_grant_merchant'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- Whether the calling role may see a row of (program, merchant): any row
-- unless it is a merchant role; then its program's and merchant's only.
CREATE FUNCTION loyalty._merchant_visible(program text, merchant text) RETURNS boolean
  AS 'MODULE_PATHNAME', 'loyalty_merchant_visible'
  LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Per program, merchant (NULL: the program itself) and program-local month:
-- points issued there (earn and event credits, less the clawbacks of the
-- refunds of its purchases) and redeemed there (redeem, redeem_value,
-- redeem_reward, less cancellations).  Referral payouts, adjustments,
-- transfers and expiry are the program's and not settled.
CREATE VIEW loyalty._part_merchant_settlement AS
SELECT p.code AS program, e.merchant,
       date_trunc('month', e.at AT TIME ZONE p.timezone)::date AS month,
       coalesce(sum(e.points) FILTER (WHERE e.kind <> 'redeem'), 0)::bigint AS issued,
       coalesce(-sum(e.points) FILTER (WHERE e.kind = 'redeem'), 0)::bigint AS redeemed,
       max(m.settlement_value) AS settlement_value,
       max(p.points_per_value) AS points_per_value
FROM loyalty.ledger e
JOIN loyalty.program p ON p.id = e.program_id
LEFT JOIN loyalty.merchant m ON m.program_id = e.program_id AND m.code = e.merchant
WHERE e.at <= now()
  AND (e.kind IN ('earn', 'event', 'redeem') OR (e.kind = 'refund' AND e.counterparty IS NULL))
GROUP BY p.code, e.merchant, date_trunc('month', e.at AT TIME ZONE p.timezone)::date;
CREATE VIEW loyalty.merchant_settlement AS
SELECT s.program, s.merchant, s.month,
       sum(s.issued)::bigint AS issued,
       sum(s.redeemed)::bigint AS redeemed,
       (sum(s.issued) - sum(s.redeemed))::bigint AS net_points,
       CASE WHEN max(s.settlement_value) IS NOT NULL
            THEN (sum(s.issued) - sum(s.redeemed)) * max(s.settlement_value)
            ELSE trim_scale((sum(s.issued) - sum(s.redeemed)) / max(s.points_per_value)) END AS net_value
FROM loyalty._part_merchant_settlement s
WHERE loyalty._merchant_visible(s.program, s.merchant)
GROUP BY s.program, s.merchant, s.month;

REVOKE ALL ON loyalty.merchant, loyalty.merchant_grant, loyalty._part_merchant_settlement FROM PUBLIC;
REVOKE ALL ON FUNCTION
  loyalty.add_merchant(text, text, text, numeric),
  loyalty.grant_merchant(name, text, text),
  loyalty._merchant_visible(text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loyalty.add_merchant(text, text, text, numeric),
  loyalty.grant_merchant(name, text, text) TO loyalty_admin;
-- the public views call it as their reader
GRANT EXECUTE ON FUNCTION loyalty._merchant_visible(text, text) TO loyalty_reader;
GRANT SELECT ON loyalty.merchant_settlement TO loyalty_reader;

COMMENT ON TABLE loyalty.merchant IS 'Alliance merchants of a program: where points are issued and spent, and the value of a point between them';
COMMENT ON TABLE loyalty.merchant_grant IS 'Merchant roles: each runs operations of one program with one merchant and reads that merchant''s rows only';
COMMENT ON FUNCTION loyalty.add_merchant(text,text,text,numeric) IS 'Add or change an alliance merchant (settlement_value NULL: 1 / points_per_value)';
COMMENT ON FUNCTION loyalty.grant_merchant(name,text,text) IS 'Make a loyalty_writer role the role of one merchant of one program (replaces its grant)';
COMMENT ON FUNCTION loyalty._merchant_visible(text,text) IS 'Internal: whether the calling role sees rows of that program and merchant (merchant roles: their own only)';
COMMENT ON VIEW loyalty.merchant_settlement IS 'Per program, merchant and month: points issued and redeemed there, net points and their value (positive: the merchant owes the alliance)';
COMMENT ON VIEW loyalty._part_merchant_settlement IS 'Internal: the rows of loyalty.merchant_settlement for one set of members (one node, or one shard group on Citus)';

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
  merchant    text,                         -- the merchant offering it (loyalty.merchant)
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
SELECT s.* FROM loyalty._part_redemptions s
WHERE loyalty._merchant_visible(s.program, s.merchant);

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
       k.stock AS stock_left,
       w.merchant
FROM loyalty.reward w
JOIN loyalty.program p ON p.id = w.program_id
LEFT JOIN k ON k.program_id = w.program_id AND k.reward = w.code
LEFT JOIN r ON r.program_id = w.program_id AND r.reward = w.code;
CREATE VIEW loyalty.reward_stats AS
SELECT s.* FROM loyalty._part_reward_stats s
WHERE loyalty._merchant_visible(s.program, s.merchant);

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
  cfg CONSTANT text[] := ARRAY['program', 'tier', 'rule', 'rule_budget', 'reward', 'merchant',
                               'merchant_grant'];
  members CONSTANT text[] := ARRAY['account', 'ledger', 'lot', 'streak', 'tier_change', 'offer',
                                   'redemption'];
  -- program-wide tables that are not member-scoped, and the column each is
  -- distributed by
  wide CONSTANT text[] := ARRAY['code', 'reward_stock'];
  wide_by CONSTANT text[] := ARRAY['code', 'reward'];
  views CONSTANT text[] := ARRAY['member_summary', 'statement', 'expiring_points', 'liability',
                                 'activity_daily', 'tier_distribution', 'tier_history',
                                 'leaderboard', 'rule_stats', 'code_batches', 'member_offers',
                                 'redemptions', 'reward_stats', 'merchant_settlement'];
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
      'loyalty.quote(text, text, numeric, timestamptz, text, text)',
      'loyalty.record_event(text, text, text, text, timestamptz, text)',
      'loyalty.redeem(text, text, bigint, text, timestamptz, text)',
      'loyalty.redeem_value(text, text, numeric, text, timestamptz, text)',
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
