-- loyalty 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.2.0'" to load this file. \quit

-- First, and so for the whole update, the account table is locked: every
-- operation locks its member's account row before it touches the ledger or
-- the lots, so live traffic waits here instead of holding ledger locks the
-- index build below would wait for (which would deadlock with this script).
-- Operations wait for the update (index build and backfill); plan it for a
-- quiet moment.
-- account.credited: points ever credited to the member (= the sum of its
-- lots' points), read with the account lock; a credit that would take it past
-- bigint fails with 22003 instead of leaving balances nobody can sum.
ALTER TABLE loyalty.account ADD COLUMN credited bigint NOT NULL DEFAULT 0;
UPDATE loyalty.account a SET credited = s.total
FROM (SELECT program_id, member, least(sum(points), 9223372036854775807)::bigint AS total
      FROM loyalty.lot GROUP BY program_id, member) s
WHERE a.program_id = s.program_id AND a.member = s.member;

-- verify() also checks account.credited against the lots.
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
           count(*) FILTER (WHERE remaining < 0 OR expired < 0
                            OR remaining + expired > points) AS bad_lots
    FROM loyalty.lot GROUP BY program_id, member
  ), m AS (
    SELECT a.program_id, a.member, a.debt, a.credited,
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
      ('lot remaining + expired outside 0..points', 0::bigint, m.bad_lots, m.bad_lots > 0),
      ('account credited differs from its lots'' points',
       least(m.lots_credited, 9223372036854775807)::bigint, m.credited, m.credited <> m.lots_credited)
  ) AS x(problem, expected, actual, bad)
  WHERE x.bad
  UNION ALL
  SELECT p.code, o.member, 'ledger or lots without an account', NULL::bigint, NULL::bigint
  FROM (SELECT program_id, member FROM loyalty.ledger
        UNION SELECT program_id, member FROM loyalty.lot) o
  JOIN loyalty.program p ON p.id = o.program_id
  WHERE NOT EXISTS (SELECT 1 FROM loyalty.account a
                    WHERE a.program_id = o.program_id AND a.member = o.member)
$$;

-- Qualifying values (earn's tier check, evaluate_tiers) come from this index
-- alone (index-only scans).  On a big ledger, build it beforehand with
--   CREATE INDEX CONCURRENTLY ledger_qual_idx ON loyalty.ledger (program_id, member, qual_at)
--     INCLUDE (qual_points, qual_spend, qual_orders) WHERE qual_at IS NOT NULL;
-- the update then keeps it (and refuses an invalid or different one).
DO $check$
DECLARE
  i regclass := pg_catalog.to_regclass('loyalty.ledger_qual_idx');
BEGIN
  IF i IS NOT NULL AND (
       NOT (SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = i)
       OR pg_catalog.regexp_replace(pg_catalog.pg_get_indexdef(i), ' ON (loyalty\.)?ledger ', ' ON ledger ')
          <> 'CREATE INDEX ledger_qual_idx ON ledger USING btree (program_id, member, qual_at) '
             'INCLUDE (qual_points, qual_spend, qual_orders) WHERE (qual_at IS NOT NULL)') THEN
    RAISE EXCEPTION 'index loyalty.ledger_qual_idx exists but is invalid or not the expected one'
      USING HINT = 'DROP INDEX loyalty.ledger_qual_idx; then update again (or build it as the script says).';
  END IF;
END $check$;
CREATE INDEX IF NOT EXISTS ledger_qual_idx ON loyalty.ledger (program_id, member, qual_at)
  INCLUDE (qual_points, qual_spend, qual_orders) WHERE qual_at IS NOT NULL;

-- member_summary.last_activity_at: the member's own last movement; the
-- nightly expiry's rows (dated at the lots' expiry) are not activity.
CREATE OR REPLACE VIEW loyalty.member_summary AS
SELECT p.code AS program, a.member,
       coalesce(a.tier, low.code) AS tier,
       l.available - a.debt AS available,
       l.pending,
       a.debt,
       g.earned AS lifetime_earned,
       g.redeemed AS lifetime_redeemed,
       g.expired + l.expired_unswept AS lifetime_expired,
       q.qualifying,
       nx.code AS next_tier,
       CASE WHEN nx.code IS NOT NULL THEN greatest(nx.threshold - q.qualifying, 0) END AS to_next_tier,
       l.next_expiry_at,
       l.next_expiry_points,
       a.joined_at,
       g.last_activity_at
FROM loyalty.account a
JOIN loyalty.program p ON p.id = a.program_id
LEFT JOIN LATERAL (SELECT t.code, t.threshold FROM loyalty.tier t
                   WHERE t.program_id = a.program_id ORDER BY t.threshold LIMIT 1) low ON true
CROSS JOIN LATERAL (
  SELECT coalesce(sum(x.remaining) FILTER (WHERE x.available_at <= now()
                    AND (x.expires_at IS NULL OR x.expires_at > now())), 0)::bigint AS available,
         coalesce(sum(x.remaining) FILTER (WHERE x.available_at > now()
                    AND (x.expires_at IS NULL OR x.expires_at > now())), 0)::bigint AS pending,
         coalesce(sum(x.remaining) FILTER (WHERE x.expires_at <= now()), 0)::bigint AS expired_unswept,
         min(x.expires_at) FILTER (WHERE x.expires_at > now()) AS next_expiry_at
  FROM loyalty.lot x
  WHERE x.program_id = a.program_id AND x.member = a.member AND x.remaining > 0) l0
CROSS JOIN LATERAL (
  SELECT l0.available, l0.pending, l0.expired_unswept, l0.next_expiry_at,
         (SELECT sum(y.remaining)::bigint FROM loyalty.lot y
          WHERE y.program_id = a.program_id AND y.member = a.member AND y.remaining > 0
            AND y.expires_at = l0.next_expiry_at) AS next_expiry_points) l
CROSS JOIN LATERAL (
  SELECT coalesce(sum(e.points) FILTER (WHERE e.kind IN ('earn', 'event', 'referral')), 0)::bigint AS earned,
         coalesce(-sum(e.points) FILTER (WHERE e.kind = 'redeem'), 0)::bigint AS redeemed,
         coalesce(-sum(e.points) FILTER (WHERE e.kind = 'expire'), 0)::bigint AS expired,
         max(e.at) FILTER (WHERE e.kind <> 'expire') AS last_activity_at
  FROM loyalty.ledger e
  WHERE e.program_id = a.program_id AND e.member = a.member) g
CROSS JOIN LATERAL (
  SELECT coalesce(CASE p.tier_basis WHEN 'points' THEN sum(e.qual_points)::numeric
                                    WHEN 'spend' THEN sum(e.qual_spend)
                                    ELSE sum(e.qual_orders)::numeric END, 0) AS qualifying
  FROM loyalty.ledger e
  WHERE e.program_id = a.program_id AND e.member = a.member
    AND e.qual_at <= now()
    AND e.qual_at >= CASE p.tier_window
          WHEN 'calendar_year' THEN date_trunc('year', now() AT TIME ZONE p.timezone) AT TIME ZONE p.timezone
          WHEN 'rolling_year' THEN now() - interval '365 days'
          ELSE '-infinity'::timestamptz END) q
LEFT JOIN LATERAL (SELECT t.code, t.threshold FROM loyalty.tier t
                   WHERE t.program_id = a.program_id
                     AND t.threshold > coalesce((SELECT c.threshold FROM loyalty.tier c
                                                 WHERE c.program_id = a.program_id
                                                   AND c.code = coalesce(a.tier, low.code)), 0)
                   ORDER BY t.threshold LIMIT 1) nx ON true;

-- loyalty_reader: the views and nothing else (SPEC §7).  balance, tier_of,
-- quote and the configuration tables move to loyalty_writer.
REVOKE EXECUTE ON FUNCTION
  loyalty.balance(text, text, timestamptz),
  loyalty.tier_of(text, text),
  loyalty.quote(text, text, numeric, timestamptz, text)
  FROM loyalty_reader;
REVOKE SELECT ON loyalty.program, loyalty.tier, loyalty.rule FROM loyalty_reader;
GRANT EXECUTE ON FUNCTION
  loyalty.balance(text, text, timestamptz),
  loyalty.tier_of(text, text),
  loyalty.quote(text, text, numeric, timestamptz, text)
  TO loyalty_writer;
GRANT SELECT ON loyalty.program, loyalty.tier, loyalty.rule TO loyalty_writer;

-- activity_daily: points whose expiry passed count as expired on their
-- expiry day whether or not expire_points has swept them yet.
CREATE OR REPLACE VIEW loyalty.activity_daily AS
SELECT p.code AS program, d.day,
       coalesce(e.earned, 0)::bigint AS earned,
       coalesce(e.redeemed, 0)::bigint AS redeemed,
       (coalesce(e.expired, 0) + coalesce(u.unswept, 0))::bigint AS expired,
       coalesce(e.clawed_back, 0)::bigint AS clawed_back,
       e.active_members,
       n.new_members
FROM loyalty.program p
CROSS JOIN LATERAL (
  SELECT (least((SELECT min(x.at) FROM loyalty.ledger x WHERE x.program_id = p.id),
                (SELECT min(a.joined_at) FROM loyalty.account a WHERE a.program_id = p.id))
            AT TIME ZONE p.timezone)::date AS first_day,
         (greatest((SELECT max(x.at) FROM loyalty.ledger x WHERE x.program_id = p.id),
                   (SELECT max(a.joined_at) FROM loyalty.account a WHERE a.program_id = p.id),
                   (SELECT max(l.expires_at) FROM loyalty.lot l
                    WHERE l.program_id = p.id AND l.remaining > 0 AND l.expires_at <= now()))
            AT TIME ZONE p.timezone)::date AS last_day) b
CROSS JOIN LATERAL generate_series(b.first_day::timestamp, b.last_day::timestamp, interval '1 day') AS s(ts)
CROSS JOIN LATERAL (SELECT s.ts::date AS day) d
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
    AND x.at < (d.day + 1)::timestamp AT TIME ZONE p.timezone) e
CROSS JOIN LATERAL (
  SELECT count(*) AS new_members FROM loyalty.account a
  WHERE a.program_id = p.id
    AND a.joined_at >= d.day::timestamp AT TIME ZONE p.timezone
    AND a.joined_at < (d.day + 1)::timestamp AT TIME ZONE p.timezone) n
-- points whose expiry passed but that expire_points has not swept yet count
-- as expired on their expiry day, as in balance() and the other views
CROSS JOIN LATERAL (
  SELECT sum(l.remaining) AS unswept FROM loyalty.lot l
  WHERE l.program_id = p.id AND l.remaining > 0 AND l.expires_at <= now()
    AND l.expires_at >= d.day::timestamp AT TIME ZONE p.timezone
    AND l.expires_at < (d.day + 1)::timestamp AT TIME ZONE p.timezone) u
WHERE e.n > 0 OR n.new_members > 0 OR u.unswept > 0;
