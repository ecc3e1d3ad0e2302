-- loyalty 0.2.0 -> 0.3.0: business time (SPEC §3), hardening.
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.3.0'" to load this file. \quit

-- As in every update: the account table first, for the whole update, so live
-- operations wait here instead of deadlocking with the index builds below.
LOCK TABLE loyalty.account IN EXCLUSIVE MODE;

-- ledger: the part of a row's points that counts only from pending_until (a
-- pending credit; a refund that cancels pending points).  Rows written by
-- 0.2.0 for credits still pending at their time get it from their lot; a
-- 0.2.0 refund of pending points is not split (balance() of an instant
-- inside such a pending period may differ from 0.3.0's by that refund).
ALTER TABLE loyalty.ledger ADD COLUMN pending_points bigint, ADD COLUMN pending_until timestamptz;
ALTER TABLE loyalty.ledger DISABLE TRIGGER ledger_append_only;
UPDATE loyalty.ledger e SET pending_points = e.points, pending_until = l.available_at
FROM loyalty.lot l
WHERE l.program_id = e.program_id AND l.member = e.member AND l.id = e.lot_id
  AND e.kind IN ('earn', 'event', 'referral') AND e.points > 0 AND l.available_at > e.at;
ALTER TABLE loyalty.ledger ENABLE TRIGGER ledger_append_only;

-- lot.repaid: debt a lot repaid (counted from its available_at).  0.2.0
-- lots repaid debt at once and kept no record: 0 for the lots already
-- available (history before their availability may differ by it).
ALTER TABLE loyalty.lot ADD COLUMN repaid bigint NOT NULL DEFAULT 0;
-- A lot still pending now can only have lost points to refunds (its own:
-- clawed_back; other orders': 0.2.0 took them from pending lots) and to debt
-- 0.2.0 repaid at once: in 0.3.0 terms all but its own clawback is repaid
-- debt, which counts only from its available_at.
UPDATE loyalty.lot SET repaid = points - remaining - expired - clawed_back
WHERE available_at > pg_catalog.now() AND points - remaining - expired - clawed_back > 0;
ALTER TABLE loyalty.lot ADD CONSTRAINT lot_parts_check
  CHECK (expired >= 0 AND repaid >= 0 AND remaining + expired + repaid <= points);
-- spending order with the age tie-break in the index; lots swept or that
-- repaid debt, for operations dated before their expiry / availability
DROP INDEX loyalty.lot_open_idx;
CREATE INDEX lot_open_idx ON loyalty.lot (program_id, member, expires_at, earned_at, id)
  WHERE remaining > 0;
CREATE INDEX lot_swept_idx ON loyalty.lot (program_id, member, expires_at, earned_at, id)
  WHERE expired > 0;
CREATE INDEX lot_repaid_idx ON loyalty.lot (program_id, member, available_at)
  WHERE repaid > 0;

-- tier_change.by_evaluation: the rows evaluations wrote; the tier is
-- recomputed from the others (operations' upgrades) and the ledger when a
-- back-dated row changes a judged window.  0.2.0's evaluation rows: its
-- downgrades (its upgrades came from operations, bar rare raises).
ALTER TABLE loyalty.tier_change ADD COLUMN by_evaluation boolean NOT NULL DEFAULT false;
ALTER TABLE loyalty.tier_change DISABLE TRIGGER tier_change_append_only;
UPDATE loyalty.tier_change SET by_evaluation = true WHERE reason = 'downgrade';
ALTER TABLE loyalty.tier_change ENABLE TRIGGER tier_change_append_only;

-- account.last_activity_at: the latest business time of the member's
-- operations (expiry excluded), so an operation knows whether it is the
-- member's latest.
UPDATE loyalty.account a SET last_activity_at = s.last_at
FROM (SELECT program_id, member, max(at) AS last_at FROM loyalty.ledger
      WHERE kind <> 'expire' GROUP BY program_id, member) s
WHERE a.program_id = s.program_id AND a.member = s.member;

-- create_program: every setting defaults to NULL (keep / the documented default)
DROP FUNCTION loyalty.create_program(text, text, text, numeric, numeric, text, text, numeric, numeric,
                                     text, interval, text, interval, text, text, text, text);
CREATE FUNCTION loyalty.create_program(
  code             text,
  -- NULL (or not given): a new program gets the default in the comment, an
  -- existing one keeps its setting (SPEC §2)
  name             text     DEFAULT NULL,
  currency         text     DEFAULT NULL,  -- 'CNY'
  points_per_unit  numeric  DEFAULT NULL,  -- 1
  unit             numeric  DEFAULT NULL,  -- 1
  rounding         text     DEFAULT NULL,  -- 'floor'
  stacking         text     DEFAULT NULL,  -- 'multiply'
  max_multiplier   numeric  DEFAULT NULL,  -- none; 'infinity' removes a cap
  points_per_value numeric  DEFAULT NULL,  -- 100
  expiry           text     DEFAULT NULL,  -- 'none'
  expiry_after     interval DEFAULT NULL,  -- none
  expiry_period    text     DEFAULT NULL,  -- 'year'
  pending_for      interval DEFAULT NULL,  -- '0'
  tier_basis       text     DEFAULT NULL,  -- 'points'
  tier_window      text     DEFAULT NULL,  -- 'calendar_year'
  downgrade        text     DEFAULT NULL,  -- 'to_qualified'
  timezone         text     DEFAULT NULL   -- 'UTC'
) RETURNS integer
  AS 'MODULE_PATHNAME', 'loyalty_create_program'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION
  loyalty.create_program(text, text, text, numeric, numeric, text, text, numeric, numeric,
                         text, interval, text, interval, text, text, text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  loyalty.create_program(text, text, text, numeric, numeric, text, text, numeric, numeric,
                         text, interval, text, interval, text, text, text, text)
  TO loyalty_admin;

-- tier_of(program, member, at): the tier in force at an instant
DROP FUNCTION loyalty.tier_of(text, text);
CREATE FUNCTION loyalty.tier_of(program text, member text, at timestamptz DEFAULT pg_catalog.now())
  RETURNS text
  AS 'MODULE_PATHNAME', 'loyalty_tier_of'
  LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;
REVOKE ALL ON FUNCTION loyalty.tier_of(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loyalty.tier_of(text, text, timestamptz) TO loyalty_writer;

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
                            OR remaining + expired + repaid > points) AS bad_lots
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
      ('lot remaining + expired + repaid outside 0..points', 0::bigint, m.bad_lots, m.bad_lots > 0),
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
  UNION ALL
  -- rows of a program that does not exist (a restore refused half-way)
  SELECT NULL, o.member, 'rows of a program that does not exist', o.program_id::bigint, NULL::bigint
  FROM (SELECT program_id, member FROM loyalty.account
        UNION SELECT program_id, member FROM loyalty.ledger
        UNION SELECT program_id, member FROM loyalty.lot) o
  WHERE NOT EXISTS (SELECT 1 FROM loyalty.program p WHERE p.id = o.program_id)
  UNION ALL
  -- an identity sequence behind its table would give ids already used (a
  -- dump's sequence values restored into a database that had more rows)
  SELECT NULL, NULL, 'loyalty.' || s.t || ' id sequence behind the table', s.max_id, s.last
  FROM (SELECT 'ledger' AS t, (SELECT max(id) FROM loyalty.ledger) AS max_id,
               (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM loyalty.ledger_id_seq) AS last
        UNION ALL
        SELECT 'lot', (SELECT max(id) FROM loyalty.lot),
               (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM loyalty.lot_id_seq)
        UNION ALL
        SELECT 'tier_change', (SELECT max(id) FROM loyalty.tier_change),
               (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM loyalty.tier_change_id_seq)) s
  WHERE s.max_id > s.last
$$;


-- views: state as of now(), business-time order, tiers at now(); the days and
-- months of activity_daily and leaderboard found by a skip scan
CREATE INDEX ledger_refund_qual_idx ON loyalty.ledger (program_id, qual_at) WHERE kind = 'refund';

-- The tier a member holds at now(), as tier_of(program, member) says: the
-- history's state at now() (the account's latest one, or the tier_change row
-- in force when a later one is dated in the future), and when its period
-- ended by now() and was not evaluated yet, that period evaluated at its end
-- exactly as evaluate_tiers would (src/tiers.c): the qualifying value of the
-- last complete window before the end gives the qualified tier; at or above
-- the current it renews or raises it, below it to_qualified / one_step /
-- never; the result holds one more window (the lowest tier for ever), and a
-- period that also ended is evaluated again.  So the views do not depend on
-- whether the nightly job ran.
CREATE VIEW loyalty._tier_now AS
SELECT a.program_id, a.member,
       coalesce(CASE WHEN h.until <= now() THEN (
                  WITH RECURSIVE tiers AS (
                    SELECT t.code, t.threshold,
                           (row_number() OVER (ORDER BY t.threshold, t.code) - 1)::int AS idx
                    FROM loyalty.tier t WHERE t.program_id = a.program_id
                  ), ev(tier, until, n) AS (
                    SELECT h.tier, h.until, 0
                    UNION ALL
                    SELECT nx.tier, nx.until, ev.n + 1
                    FROM ev
                    -- the period's end, local, and the current tier's rank
                    CROSS JOIN LATERAL (
                      SELECT ev.until AT TIME ZONE p.timezone AS e_local,
                             coalesce((SELECT x.idx FROM tiers x WHERE x.code = ev.tier), 0) AS cur) e
                    -- the qualifying value of the last complete window before it
                    CROSS JOIN LATERAL (
                      SELECT coalesce(CASE p.tier_basis WHEN 'points' THEN sum(l.qual_points)::numeric
                                                        WHEN 'spend' THEN sum(l.qual_spend)
                                                        ELSE sum(l.qual_orders)::numeric END, 0) AS value
                      FROM loyalty.ledger l
                      WHERE l.program_id = a.program_id AND l.member = a.member
                        AND l.qual_at >= CASE p.tier_window
                              WHEN 'calendar_year'
                                THEN (date_trunc('year', e.e_local) - interval '1 year') AT TIME ZONE p.timezone
                              WHEN 'rolling_year' THEN (e.e_local - interval '365 days') AT TIME ZONE p.timezone
                              ELSE '-infinity'::timestamptz END
                        AND l.qual_at < CASE p.tier_window
                              WHEN 'calendar_year' THEN date_trunc('year', e.e_local) AT TIME ZONE p.timezone
                              WHEN 'rolling_year' THEN ev.until
                              ELSE 'infinity'::timestamptz END) v
                    -- the tier it qualifies for, and the policy
                    CROSS JOIN LATERAL (
                      SELECT CASE WHEN q.idx >= e.cur THEN q.idx
                                  WHEN p.downgrade = 'to_qualified' THEN q.idx
                                  WHEN p.downgrade = 'one_step' THEN e.cur - 1
                                  ELSE e.cur END AS idx
                      FROM (SELECT coalesce(max(x.idx), 0) AS idx FROM tiers x
                            WHERE v.value >= x.threshold) q) nt
                    -- which holds one more window (the lowest tier for ever)
                    CROSS JOIN LATERAL (
                      SELECT (SELECT x.code FROM tiers x WHERE x.idx = nt.idx) AS tier,
                             CASE WHEN nt.idx = 0 OR p.tier_window = 'lifetime' THEN NULL
                                  WHEN p.tier_window = 'calendar_year'
                                    THEN (date_trunc('year', e.e_local) + interval '1 year') AT TIME ZONE p.timezone
                                  ELSE (e.e_local + interval '12 months') AT TIME ZONE p.timezone END AS until) nx
                    WHERE ev.until <= now() AND ev.n < 10000
                  )
                  SELECT ev.tier FROM ev ORDER BY ev.n DESC LIMIT 1)
                ELSE h.tier END,
                (SELECT t.code FROM loyalty.tier t WHERE t.program_id = a.program_id
                 ORDER BY t.threshold, t.code LIMIT 1)) AS tier
FROM loyalty.account a
JOIN loyalty.program p ON p.id = a.program_id
-- the history's state at now()
CROSS JOIN LATERAL (
  SELECT CASE WHEN a.tier_since IS NULL OR a.tier_since <= now() THEN a.tier ELSE c.to_tier END AS tier,
         CASE WHEN a.tier_since IS NULL OR a.tier_since <= now() THEN a.tier_until ELSE c.valid_until END AS until
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT c.to_tier, c.valid_until FROM loyalty.tier_change c
                     WHERE c.program_id = a.program_id AND c.member = a.member AND c.at <= now()
                       AND a.tier_since > now()
                     ORDER BY c.at DESC, c.id DESC LIMIT 1) c ON true) h;
REVOKE ALL ON loyalty._tier_now FROM PUBLIC;

CREATE OR REPLACE VIEW loyalty.member_summary AS
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
  FROM (SELECT CASE WHEN y.expires_at IS NULL OR y.expires_at > now() THEN y.remaining ELSE 0 END AS c,
               CASE WHEN y.expires_at IS NULL OR y.expires_at > now() THEN y.repaid ELSE 0 END AS rp,
               CASE WHEN y.expires_at <= now() THEN y.remaining ELSE 0 END AS unswept,
               y.available_at, y.expires_at
        FROM loyalty.lot y
        WHERE y.program_id = a.program_id AND y.member = a.member AND y.remaining > 0
        UNION ALL
        SELECT y.expired, y.repaid, 0, y.available_at, y.expires_at
        FROM loyalty.lot y
        WHERE y.program_id = a.program_id AND y.member = a.member AND y.expired > 0
          AND y.remaining = 0 AND y.expires_at > now()
        UNION ALL
        SELECT 0, y.repaid, 0, y.available_at, y.expires_at
        FROM loyalty.lot y
        WHERE y.program_id = a.program_id AND y.member = a.member AND y.repaid > 0
          AND y.remaining = 0 AND y.expired = 0 AND y.available_at > now()
          AND (y.expires_at IS NULL OR y.expires_at > now())) x) l
LEFT JOIN LATERAL (
  SELECT sum(CASE WHEN y.remaining > 0 THEN y.remaining ELSE y.expired END)::bigint AS points
  FROM loyalty.lot y
  WHERE y.program_id = a.program_id AND y.member = a.member AND y.expires_at = l.next_expiry_at
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
CREATE OR REPLACE VIEW loyalty.statement AS
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

CREATE OR REPLACE VIEW loyalty.expiring_points AS
SELECT p.code AS program, l.member, l.expires_at,
       sum(CASE WHEN l.remaining > 0 THEN l.remaining ELSE l.expired END)::bigint AS points
FROM loyalty.lot l
JOIN loyalty.program p ON p.id = l.program_id
WHERE (l.remaining > 0 OR l.expired > 0) AND l.expires_at > now()
GROUP BY p.code, l.member, l.expires_at;

CREATE OR REPLACE VIEW loyalty.liability AS
SELECT p.code AS program,
       coalesce(m.outstanding, 0)::bigint AS outstanding_points,
       coalesce(m.value, 0)::numeric(20, 2) AS outstanding_value,
       coalesce(g.earned, 0)::bigint AS earned,
       coalesce(g.redeemed, 0)::bigint AS redeemed,
       (coalesce(g.expired, 0) + coalesce(m.unswept, 0))::bigint AS expired,
       CASE WHEN coalesce(g.earned, 0) > 0
            THEN round((coalesce(g.expired, 0) + coalesce(m.unswept, 0))::numeric / g.earned, 4)
            ELSE 0 END AS breakage_rate
FROM loyalty.program p
LEFT JOIN LATERAL (
  SELECT sum(b.points) AS outstanding, sum(b.points / b.rate) AS value, sum(b.unswept) AS unswept
  FROM (SELECT coalesce(x.live, 0) - a.debt AS points,
               coalesce(x.unswept, 0) AS unswept,
               coalesce(t.points_per_value, p.points_per_value) AS rate
        FROM loyalty.account a
        LEFT JOIN (SELECT l.member,
                          sum(CASE WHEN l.remaining > 0 THEN l.remaining ELSE l.expired END)
                            FILTER (WHERE l.expires_at IS NULL OR l.expires_at > now()) AS live,
                          sum(l.remaining) FILTER (WHERE l.expires_at <= now()) AS unswept
                   FROM loyalty.lot l
                   WHERE l.program_id = p.id AND (l.remaining > 0 OR l.expired > 0)
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

CREATE OR REPLACE VIEW loyalty.activity_daily AS
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
    WHERE l.program_id = p.id AND l.remaining > 0 AND l.expires_at <= now()
    UNION ALL
    SELECT (SELECT (min(l.expires_at) AT TIME ZONE p.timezone)::date FROM loyalty.lot l
            WHERE l.program_id = p.id AND l.remaining > 0 AND l.expires_at <= now()
              AND l.expires_at >= (xd.day + 1)::timestamp AT TIME ZONE p.timezone)
    FROM xd WHERE xd.day IS NOT NULL
  )
  SELECT ld.day FROM ld WHERE ld.day IS NOT NULL
  UNION SELECT jd.day FROM jd WHERE jd.day IS NOT NULL
  UNION SELECT xd.day FROM xd WHERE xd.day IS NOT NULL) d
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
  SELECT sum(l.remaining) AS unswept FROM loyalty.lot l
  WHERE l.program_id = p.id AND l.remaining > 0 AND l.expires_at <= now()
    AND l.expires_at >= d.day::timestamp AT TIME ZONE p.timezone
    AND l.expires_at < (d.day + 1)::timestamp AT TIME ZONE p.timezone) u
WHERE e.n > 0 OR n.new_members > 0 OR u.unswept > 0;

CREATE OR REPLACE VIEW loyalty.tier_distribution AS
SELECT p.code AS program, t.code AS tier, count(tn.member) AS members
FROM loyalty.program p
JOIN loyalty.tier t ON t.program_id = p.id
LEFT JOIN loyalty._tier_now tn ON tn.program_id = p.id AND tn.tier = t.code
GROUP BY p.code, t.code, t.threshold;

CREATE OR REPLACE VIEW loyalty.tier_history AS
SELECT p.code AS program, c.member, c.at, c.from_tier, c.to_tier, c.reason, c.valid_until
FROM loyalty.tier_change c
JOIN loyalty.program p ON p.id = c.program_id
WHERE c.at <= now();

-- Points earned in each local month (earn, events, referral), net of what
-- refunds of those purchases clawed back, whenever they were refunded.
CREATE OR REPLACE VIEW loyalty.leaderboard AS
SELECT p.code AS program, m.month, r.rank, r.member, r.points
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
  SELECT row_number() OVER (ORDER BY sum(e.points) DESC, e.member) AS rank,
         e.member, sum(e.points)::bigint AS points
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

CREATE OR REPLACE VIEW loyalty.rule_stats AS
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

-- unschedule_maintenance(), and DROP EXTENSION removes the pg_cron job
CREATE FUNCTION loyalty.unschedule_maintenance() RETURNS boolean
  AS 'MODULE_PATHNAME', 'loyalty_unschedule_maintenance'
  LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
-- DROP EXTENSION loyalty removes the pg_cron job first (SPEC §4).
CREATE FUNCTION loyalty._on_drop_extension() RETURNS event_trigger
  AS 'MODULE_PATHNAME', 'loyalty_on_drop_extension'
  LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE EVENT TRIGGER loyalty_drop_extension ON ddl_command_start
  WHEN TAG IN ('DROP EXTENSION') EXECUTE FUNCTION loyalty._on_drop_extension();
REVOKE ALL ON FUNCTION loyalty.unschedule_maintenance() FROM PUBLIC;
REVOKE ALL ON FUNCTION loyalty._on_drop_extension() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loyalty.unschedule_maintenance() TO loyalty_admin;

-------------------------------------------------------------------------------
-- Orders tables the app already has: statement triggers with transition
-- tables, values converted in C, track/untrack as the caller, event
-- triggers for partitions, DDL and drops.  Between installing the 0.3.0
-- library and this update, the 0.2.0 row triggers fail with 55000 instead of
-- earning: run the update right after installing the library.
-------------------------------------------------------------------------------
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

-- 7. A dump restores only into a database where loyalty is new (README
-- "Backup and restore"): plain INSERT / COPY into a table that holds rows is
-- refused.  New programs get ids from a random point, so that the rows of two
-- databases never share a program id (the ids given so far stay).
CREATE FUNCTION loyalty._restore_guard() RETURNS trigger
  AS 'MODULE_PATHNAME', 'loyalty_restore_guard' LANGUAGE C;
REVOKE ALL ON FUNCTION loyalty._restore_guard() FROM PUBLIC;
DO $guards$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['program', 'tier', 'rule', 'account', 'ledger', 'lot', 'streak',
                           'tier_change', 'tracked_table'] LOOP
    EXECUTE pg_catalog.format('CREATE TRIGGER %I BEFORE INSERT ON loyalty.%I '
                              'FOR EACH STATEMENT EXECUTE FUNCTION loyalty._restore_guard()',
                              t || '_restore_guard', t);
  END LOOP;
END
$guards$;
SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('loyalty.program', 'id'),
                         greatest((SELECT pg_catalog.max(id) FROM loyalty.program), 0)
                         + 1 + (pg_catalog.random() * 1000000000)::integer, false);
