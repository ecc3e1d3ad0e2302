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
        AND x.cfg NOT IN (pg_catalog.pg_get_serial_sequence('loyalty.ledger', 'id')::regclass,
                          pg_catalog.pg_get_serial_sequence('loyalty.lot', 'id')::regclass,
                          pg_catalog.pg_get_serial_sequence('loyalty.tier_change', 'id')::regclass)) k
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
