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

-- Per reward: the redemptions not cancelled (as of now()), from the parts;
-- the reward and its stock are the program's, taken once.
CREATE VIEW loyalty._part_reward_stats AS
SELECT s.program, s.reward, count(*) AS redemptions, sum(s.quantity)::bigint AS quantity,
       sum(s.points)::bigint AS points, sum(s.cash) AS cash
FROM loyalty._part_redemptions s
WHERE s.cancelled_at IS NULL
GROUP BY s.program, s.reward;
CREATE VIEW loyalty.reward_stats AS
SELECT p.code AS program, w.code AS reward,
       coalesce(sum(s.redemptions), 0)::bigint AS redemptions,
       coalesce(sum(s.quantity), 0)::bigint AS quantity,
       coalesce(sum(s.points), 0)::bigint AS points,
       coalesce(sum(s.cash), 0) AS cash,
       k.stock AS stock_left
FROM loyalty.reward w
JOIN loyalty.program p ON p.id = w.program_id
LEFT JOIN loyalty.reward_stock k ON k.program_id = w.program_id AND k.reward = w.code
LEFT JOIN loyalty._part_reward_stats s ON s.program = p.code AND s.reward = w.code
GROUP BY p.code, w.code, k.stock;

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
COMMENT ON VIEW loyalty._part_reward_stats IS 'Internal: the redemption figures of loyalty.reward_stats for one set of members (one node, or one shard group on Citus)';
