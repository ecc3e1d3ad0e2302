-- loyalty 0.4.0 -> 0.5.0: receipts, campaign limits, member offers and
-- single-use codes, order-lines tables (issue #12).
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" to load this file. \quit

-- Receipts (SPEC §8): several lines, each at its category's rate and
-- multipliers, bonuses on the receipt; one ledger row and one lot.
CREATE FUNCTION loyalty.earn_order(program text, member text, lines jsonb, ref text,
                                   at timestamptz DEFAULT pg_catalog.now(),
                                   merchant text DEFAULT NULL) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_earn_order'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

CREATE FUNCTION loyalty.quote_order(program text, member text, lines jsonb,
                                    at timestamptz DEFAULT pg_catalog.now(),
                                    merchant text DEFAULT NULL)
  RETURNS TABLE(source text, points bigint)
  AS 'MODULE_PATHNAME', 'loyalty_quote_order'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

CREATE FUNCTION loyalty.refund_lines(program text, member text, original_ref text, lines jsonb,
                                     ref text, at timestamptz DEFAULT pg_catalog.now()) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_refund_lines'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;
REVOKE ALL ON FUNCTION loyalty.earn_order(text, text, jsonb, text, timestamptz, text),
  loyalty.quote_order(text, text, jsonb, timestamptz, text),
  loyalty.refund_lines(text, text, text, jsonb, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  loyalty.earn_order(text, text, jsonb, text, timestamptz, text),
  loyalty.quote_order(text, text, jsonb, timestamptz, text),
  loyalty.refund_lines(text, text, text, jsonb, text, timestamptz)
  TO loyalty_writer;
COMMENT ON FUNCTION loyalty.earn_order(text,text,jsonb,text,timestamp with time zone,text) IS 'Credit a receipt of several lines (category rates and multipliers per line, bonuses on the receipt); returns the points earned (idempotent by ref)';
COMMENT ON FUNCTION loyalty.quote_order(text,text,jsonb,timestamp with time zone,text) IS 'What a receipt would earn, line by line of the explanation, writing nothing';
COMMENT ON FUNCTION loyalty.refund_lines(text,text,text,jsonb,text,timestamp with time zone) IS 'Claw back the points of refunded lines of a receipt; returns the points clawed back';

-- receipts in the statement (its detail's receipt) and category rates of receipts in rule_stats
CREATE OR REPLACE VIEW loyalty._part_statement AS
SELECT p.code AS program, e.member, e.id, e.at, e.kind, e.points,
       sum(e.points) OVER (PARTITION BY p.code, e.member ORDER BY e.at, e.id)::bigint AS balance_after,
       e.ref,
       jsonb_strip_nulls(jsonb_build_object(
         'amount', e.amount, 'category', e.category, 'event', e.event,
         'original_ref', e.original_ref, 'counterparty', e.counterparty,
         'reason', e.reason, 'lines', e.detail,
         -- a receipt's lines (earn_order), and what a refund took of each
         'receipt', e.detail -> 'lines')) AS detail
FROM loyalty.ledger e
JOIN loyalty.program p ON p.id = e.program_id
WHERE e.at <= now();

-------------------------------------------------------------------------------
-- Campaigns: limits, budgets and offers (SPEC §8; src/campaigns.c, README
-- "Campaign limits and offers").  rule_budget holds, per rule with a
-- budget, the points it gave while it had one: one row shared by the whole
-- program (a reference table on Citus), locked by an earn only when a
-- budgeted rule applies, after the member.  offer is member-scoped: the
-- grants of offer rules to members (grant_offer), each used by a purchase
-- the rule applied to.  A member's uses of a rule with max_per_member are
-- counted from its ledger (the earn rows whose lines name the rule).
-------------------------------------------------------------------------------
CREATE TABLE loyalty.rule_budget (
  program_id  integer NOT NULL,                -- no foreign key: a reference table on Citus
  rule        text    NOT NULL,
  spent       bigint  NOT NULL DEFAULT 0,      -- points the rule gave while it had a budget
  PRIMARY KEY (program_id, rule),
  CHECK (spent >= 0)
);
CREATE TRIGGER rule_budget_restore_guard BEFORE INSERT ON loyalty.rule_budget
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();

CREATE TABLE loyalty.offer (
  program_id  integer     NOT NULL,
  member      text        NOT NULL,
  id          bigint      NOT NULL,            -- the member's own sequence (max + 1)
  rule        text        NOT NULL,
  uses        integer     NOT NULL,            -- purchases the grant pays for
  used        integer     NOT NULL DEFAULT 0,
  valid_from  timestamptz,                     -- usable by purchases at [valid_from, valid_until)
  valid_until timestamptz,
  ref         text,                            -- the caller's idempotency key (its own namespace)
  granted_at  timestamptz NOT NULL,
  PRIMARY KEY (program_id, member, id),
  CHECK (uses >= 1 AND used >= 0 AND used <= uses)
);
CREATE UNIQUE INDEX offer_ref_key ON loyalty.offer (program_id, member, ref)
  WHERE ref IS NOT NULL;
CREATE TRIGGER offer_restore_guard BEFORE INSERT ON loyalty.offer
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();

CREATE FUNCTION loyalty.grant_offer(program text, member text, rule text, uses integer DEFAULT 1,
                                    valid_from timestamptz DEFAULT NULL,
                                    valid_until timestamptz DEFAULT NULL,
                                    ref text DEFAULT NULL) RETURNS void
  AS 'MODULE_PATHNAME', 'loyalty_grant_offer'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

-- One row per grant, expired and used-up ones included.
CREATE VIEW loyalty._part_member_offers AS
SELECT p.code AS program, o.member, o.rule, o.uses - o.used AS uses_left,
       o.valid_from, o.valid_until, o.uses, o.granted_at, o.ref
FROM loyalty.offer o
JOIN loyalty.program p ON p.id = o.program_id;

CREATE VIEW loyalty.member_offers AS
SELECT s.* FROM loyalty._part_member_offers s;

REVOKE ALL ON loyalty.rule_budget, loyalty.offer, loyalty._part_member_offers FROM PUBLIC;
REVOKE ALL ON FUNCTION loyalty.grant_offer(text, text, text, integer, timestamptz, timestamptz, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  loyalty.grant_offer(text, text, text, integer, timestamptz, timestamptz, text)
  TO loyalty_writer;
GRANT SELECT ON loyalty.member_offers TO loyalty_reader;
SELECT pg_catalog.pg_extension_config_dump('loyalty.rule_budget', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.offer', '');

COMMENT ON TABLE loyalty.rule_budget IS 'Per rule with a budget: the points it gave (spent), shared by the program; locked by the earns it applies to';
COMMENT ON TABLE loyalty.offer IS 'Grants of offer rules to members: uses, used, validity window';
COMMENT ON FUNCTION loyalty.grant_offer(text,text,text,integer,timestamp with time zone,timestamp with time zone,text) IS 'Grant an offer rule to a member for a number of purchases (enrols an unknown member; idempotent by ref)';
COMMENT ON VIEW loyalty.member_offers IS 'Offer grants per member: uses left and validity, expired and used-up ones included';
COMMENT ON VIEW loyalty._part_member_offers IS 'Internal: the rows of loyalty.member_offers for one set of members (one node, or one shard group on Citus)';

-- rule_stats gains budget, spent and remaining (appended: CREATE OR REPLACE
-- VIEW keeps the columns before them).  Its part's columns change, so on a
-- Citus coordinator the view is pointed back at its part and the foreign
-- table of the old columns dropped: loyalty.distribute() (run it again after
-- the update) makes it anew, and distributes the new tables.
CREATE OR REPLACE VIEW loyalty._part_rule_stats AS
SELECT p.code AS program, r.code AS rule,
       count(u.id) AS purchases,
       coalesce(sum(u.points), 0)::bigint AS points,
       (r.params ->> 'budget')::bigint AS budget,
       CASE WHEN r.params ? 'budget' THEN coalesce(b.spent, 0) END AS spent
FROM loyalty.rule r
JOIN loyalty.program p ON p.id = r.program_id
LEFT JOIN loyalty.rule_budget b ON b.program_id = r.program_id AND b.rule = r.code
LEFT JOIN LATERAL (
  SELECT e.id, (e.detail -> 'rules' ->> r.code)::bigint AS points
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail -> 'rules' ? r.code AND e.at <= now()
  UNION ALL
  SELECT e.id, (e.detail ->> 'base')::bigint
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail ->> 'rate' = r.code AND e.at <= now()
  UNION ALL
  -- a receipt's lines at a category rate: their base points
  SELECT e.id, (e.detail -> 'rates' ->> r.code)::bigint
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail -> 'rates' ? r.code AND e.at <= now()) u ON true
GROUP BY p.code, r.program_id, r.code, r.id, b.spent;
-------------------------------------------------------------------------------
-- Single-use codes: the same objects as sql/loyalty.sql's section (the
-- privileges of the install script's "REVOKE ALL ... FROM PUBLIC" included)
-------------------------------------------------------------------------------
CREATE TABLE loyalty.code (
  program_id  integer     NOT NULL,         -- no foreign key: distributed by code on Citus
  code        text        NOT NULL,
  batch       text        NOT NULL,         -- a label; the credit's event
  points      bigint      NOT NULL,
  valid_until timestamptz,                  -- valid while at < valid_until; NULL: always
  used_by     text,                         -- the member it credited (NULL: not used yet)
  used_at     timestamptz,                  -- that credit's business time
  PRIMARY KEY (program_id, code),
  CONSTRAINT code_points_check CHECK (points > 0),
  CONSTRAINT code_used_check CHECK ((used_by IS NULL) = (used_at IS NULL))
);
CREATE TRIGGER code_restore_guard BEFORE INSERT ON loyalty.code
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();
SELECT pg_catalog.pg_extension_config_dump('loyalty.code', '');

CREATE FUNCTION loyalty.add_codes(program text, batch text, codes text[], points bigint,
                                  valid_until timestamptz DEFAULT NULL) RETURNS integer
  AS 'MODULE_PATHNAME', 'loyalty_add_codes'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;
CREATE FUNCTION loyalty.redeem_code(program text, member text, code text,
                                    at timestamptz DEFAULT pg_catalog.now()) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_redeem_code'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

-- Per program and batch: codes added, used (by a redemption dated up to
-- now(), as the other views show the ledger) and the points they credited.
-- Codes are not member-scoped, so the part is not per shard group: on Citus
-- loyalty._citus_code_batches runs it once, on the coordinator, as the
-- extension owner, and Citus spreads it over the code shards
-- (src/citus_views.c).
CREATE VIEW loyalty._part_code_batches AS
SELECT p.code AS program, c.batch, count(*) AS codes,
       count(CASE WHEN c.used_at <= now() THEN 1 END) AS used,
       coalesce(sum(CASE WHEN c.used_at <= now() THEN c.points END), 0)::bigint AS points_credited
FROM loyalty.code c
JOIN loyalty.program p ON p.id = c.program_id
GROUP BY p.code, c.batch;
CREATE VIEW loyalty.code_batches AS
SELECT s.program, s.batch, sum(s.codes)::bigint AS codes, sum(s.used)::bigint AS used,
       sum(s.points_credited)::bigint AS points_credited
FROM loyalty._part_code_batches s
GROUP BY s.program, s.batch;

GRANT EXECUTE ON FUNCTION loyalty.redeem_code(text, text, text, timestamptz) TO loyalty_writer;
GRANT EXECUTE ON FUNCTION loyalty.add_codes(text, text, text[], bigint, timestamptz) TO loyalty_admin;
GRANT SELECT ON loyalty.code_batches TO loyalty_reader;
COMMENT ON TABLE loyalty.code IS 'Single-use codes: one row per code of a program, its batch, points, validity and the member it credited';
COMMENT ON FUNCTION loyalty.add_codes(text,text,text[],bigint,timestamp with time zone) IS 'Add single-use codes to a batch (all or none); returns the number added';
COMMENT ON FUNCTION loyalty.redeem_code(text,text,text,timestamp with time zone) IS 'Credit a single-use code''s points to the first member who uses it; returns the points';
COMMENT ON VIEW loyalty.code_batches IS 'Per program and batch: codes added, codes used and the points they credited';
COMMENT ON VIEW loyalty._part_code_batches IS 'Internal: the rows of loyalty.code_batches (one node; on Citus run once over the code shards)';

REVOKE ALL ON TABLE loyalty.code, loyalty._part_code_batches, loyalty.code_batches FROM PUBLIC;
REVOKE ALL ON FUNCTION loyalty.add_codes(text, text, text[], bigint, timestamptz),
  loyalty.redeem_code(text, text, text, timestamptz) FROM PUBLIC;

-- distribute(): loyalty.code by code (a colocation group of its own) and the
-- view code_batches.  On a Citus cluster, call it again after the update.

CREATE OR REPLACE VIEW loyalty.rule_stats AS
SELECT s.program, s.rule, sum(s.purchases)::bigint AS purchases, sum(s.points)::bigint AS points,
       max(s.budget) AS budget, max(s.spent) AS spent,
       CASE WHEN max(s.budget) IS NOT NULL THEN greatest(max(s.budget) - max(s.spent), 0) END AS remaining
FROM loyalty._part_rule_stats s
GROUP BY s.program, s.rule;

DROP FOREIGN TABLE IF EXISTS loyalty._citus_rule_stats;
COMMENT ON VIEW loyalty.rule_stats IS 'Per rule: purchases it applied to, the points it gave, its budget, spent and remaining';

-- distribute(): rule_budget a reference table, offer by member,
-- member_offers read per shard group, grant_offer delegated by member.
-- (distribute(): the final version is at the end of this script)

-- the final shape of what receipts, codes and campaigns each changed above:
-- distribute() knows code, rule_budget, offer and their views; rule_stats'
-- part counts receipts' category rates and shows budgets
CREATE OR REPLACE FUNCTION loyalty.distribute(shard_count integer DEFAULT NULL)
  RETURNS TABLE(object text, distribution text)
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  t text;
  f regprocedure;
  cfg CONSTANT text[] := ARRAY['program', 'tier', 'rule', 'rule_budget'];
  members CONSTANT text[] := ARRAY['account', 'ledger', 'lot', 'streak', 'tier_change', 'offer'];
  views CONSTANT text[] := ARRAY['member_summary', 'statement', 'expiring_points', 'liability',
                                 'activity_daily', 'tier_distribution', 'tier_history',
                                 'leaderboard', 'rule_stats', 'code_batches', 'member_offers'];
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

  -- 2b. single-use codes are not member-scoped: distributed by code, in a
  -- colocation group of their own (not with account)
  object := 'loyalty.code';
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
             WHERE logicalrelid = 'loyalty.code'::regclass) THEN
    distribution := 'by code (already)';
  ELSE
    DROP TRIGGER IF EXISTS code_restore_guard ON loyalty.code;
    PERFORM pg_catalog.create_distributed_table('loyalty.code'::regclass, 'code',
                                                colocate_with => 'none', shard_count => shard_count);
    distribution := 'by code';
  END IF;
  distribution := distribution || ', ' ||
    (SELECT count(*) FROM pg_catalog.pg_dist_shard
     WHERE logicalrelid = 'loyalty.code'::regclass) || ' shards';
  RETURN NEXT;

  -- 3. the operations on one member run on the node that holds it; those
  -- that may touch a second member (enroll and earn with a referrer,
  -- refund of a referee's purchase, transfer) run on the coordinator,
  -- one member's statements at a time; so do add_codes and redeem_code (a
  -- code's shard and a member's)
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

CREATE OR REPLACE VIEW loyalty._part_rule_stats AS
SELECT p.code AS program, r.code AS rule,
       count(u.id) AS purchases,
       coalesce(sum(u.points), 0)::bigint AS points,
       (r.params ->> 'budget')::bigint AS budget,
       CASE WHEN r.params ? 'budget' THEN coalesce(b.spent, 0) END AS spent
FROM loyalty.rule r
JOIN loyalty.program p ON p.id = r.program_id
LEFT JOIN loyalty.rule_budget b ON b.program_id = r.program_id AND b.rule = r.code
LEFT JOIN LATERAL (
  SELECT e.id, (e.detail -> 'rules' ->> r.code)::bigint AS points
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail -> 'rules' ? r.code AND e.at <= now()
  UNION ALL
  SELECT e.id, (e.detail ->> 'base')::bigint
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail ->> 'rate' = r.code AND e.at <= now()
  UNION ALL
  -- a receipt's lines at a category rate: their base points
  SELECT e.id, (e.detail -> 'rates' ->> r.code)::bigint
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail -> 'rates' ? r.code AND e.at <= now()) u ON true
GROUP BY p.code, r.program_id, r.code, r.id, b.spent;

-- Order-lines tables the app already has (src/order_lines.c; README "Order
-- lines tables").  track_order_lines / untrack_order_lines run as their
-- caller, who must own the lines table; loyalty._order_lines_trigger() is put
-- on it as a deferred row constraint trigger (one receipt per order when the
-- transaction's lines are complete) and three statement triggers (AFTER
-- UPDATE / DELETE with transition tables, BEFORE TRUNCATE).  It is not
-- SECURITY DEFINER: the app's tables are read as the role that fires it.
CREATE TABLE loyalty.tracked_lines_table (
  relid                regclass PRIMARY KEY,
  program_id           integer  NOT NULL,
  order_column         text     NOT NULL,
  line_column          text     NOT NULL,
  amount_column        text     NOT NULL,
  category_column      text,
  member_column        text,                 -- on the lines table, or
  at_column            text,                 -- on orders_relid when given
  refund_column        text,
  orders_ref_column    text,
  orders_member_column text,
  orders_relid         regclass,             -- ... the orders table holding the member
  CHECK ((member_column IS NULL) = (orders_relid IS NOT NULL))
);
CREATE TRIGGER tracked_lines_table_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.tracked_lines_table
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._config_changed();
SELECT pg_catalog.pg_extension_config_dump('loyalty.tracked_lines_table', '');
CREATE TRIGGER tracked_lines_table_restore_guard BEFORE INSERT ON loyalty.tracked_lines_table
  FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard();
CREATE VIEW loyalty.tracked_order_lines AS
SELECT t.relid, loyalty._program_code(t.program_id) AS program, t.order_column, t.line_column,
       t.amount_column, t.category_column, t.member_column, t.orders_relid AS orders,
       t.orders_ref_column, t.orders_member_column, t.at_column, t.refund_column
FROM loyalty.tracked_lines_table t;

CREATE FUNCTION loyalty._order_lines_trigger() RETURNS trigger
  AS 'MODULE_PATHNAME', 'loyalty_order_lines_trigger'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION loyalty.track_order_lines(lines regclass, program text,
                                          order_column name, line_column name, amount_column name,
                                          category_column name DEFAULT NULL,
                                          member_column name DEFAULT NULL,
                                          orders regclass DEFAULT NULL,
                                          orders_ref_column name DEFAULT NULL,
                                          orders_member_column name DEFAULT NULL,
                                          at_column name DEFAULT NULL,
                                          refund_column name DEFAULT NULL,
                                          backfill boolean DEFAULT false) RETURNS void
  AS 'MODULE_PATHNAME', 'loyalty_track_order_lines'
  LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION loyalty.untrack_order_lines(lines regclass) RETURNS void
  AS 'MODULE_PATHNAME', 'loyalty_untrack_order_lines'
  LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION loyalty._order_lines_dropped() RETURNS event_trigger
  AS 'MODULE_PATHNAME', 'loyalty_order_lines_dropped'
  LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE EVENT TRIGGER loyalty_order_lines_dropped ON sql_drop
  EXECUTE FUNCTION loyalty._order_lines_dropped();
REVOKE ALL ON FUNCTION loyalty._order_lines_trigger(),
  loyalty.track_order_lines(regclass, text, name, name, name, name, name, regclass, name, name,
                            name, name, boolean),
  loyalty.untrack_order_lines(regclass),
  loyalty._order_lines_dropped() FROM PUBLIC;
REVOKE ALL ON loyalty.tracked_lines_table, loyalty.tracked_order_lines FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  loyalty.track_order_lines(regclass, text, name, name, name, name, name, regclass, name, name,
                            name, name, boolean),
  loyalty.untrack_order_lines(regclass),
  loyalty._order_lines_trigger()   -- track_order_lines creates the triggers as the table's owner
  TO loyalty_admin;
GRANT SELECT ON loyalty.tracked_order_lines TO loyalty_admin;
COMMENT ON TABLE loyalty.tracked_lines_table IS 'Order-lines tables of the app that earn one receipt per order through track_order_lines';
COMMENT ON VIEW loyalty.tracked_order_lines IS 'The tracked order-lines tables and their column mapping';
COMMENT ON FUNCTION loyalty.track_order_lines(regclass,text,name,name,name,name,name,regclass,name,name,name,name,boolean) IS 'Earn one receipt per order from an order-lines table of the app (when the transaction''s lines are complete), optionally backfilling it';
COMMENT ON FUNCTION loyalty.untrack_order_lines(regclass) IS 'Stop earning from an order-lines table';
