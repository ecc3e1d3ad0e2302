-- loyalty 0.3.0 -> 0.3.1: operations cost the same whatever the number of
-- lots a member holds (issue #9 items 5 and 13).
--
-- Rolling expiry: the lots that roll share the member's date
-- (account.roll_until, lot.rolls) instead of each holding a copy that every
-- earning rewrote.  Existing lots keep their own dates (lot.rolls = false):
-- the member's next earning moves the living ones to the shared date once,
-- as 0.3.0 would have moved them.
-- Balances: account.held is the sum of the member's lot.remaining, so a
-- balance reads only the lots that are not spendable at its instant.
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.3.1'" to load this file. \quit

-- As in every update: the account table first, for the whole update.
LOCK TABLE loyalty.account IN EXCLUSIVE MODE;

ALTER TABLE loyalty.account ADD COLUMN roll_until timestamptz;
ALTER TABLE loyalty.account ADD COLUMN held bigint NOT NULL DEFAULT 0;
UPDATE loyalty.account a SET held = s.held
FROM (SELECT program_id, member, sum(remaining)::bigint AS held FROM loyalty.lot
      WHERE remaining > 0 GROUP BY program_id, member) s
WHERE a.program_id = s.program_id AND a.member = s.member;
ALTER TABLE loyalty.lot ADD COLUMN rolls boolean NOT NULL DEFAULT false;
ALTER TABLE loyalty.lot ADD CONSTRAINT lot_rolls_check CHECK (NOT rolls OR (expired = 0 AND expires_at IS NOT NULL));
DROP INDEX loyalty.lot_open_idx;
CREATE INDEX lot_open_idx ON loyalty.lot (program_id, member, expires_at, earned_at, id)
  WHERE remaining > 0 AND NOT rolls;
CREATE INDEX lot_rolls_idx ON loyalty.lot (program_id, member, earned_at, id)
  WHERE remaining > 0 AND rolls;
CREATE INDEX lot_pending_idx ON loyalty.lot (program_id, member, available_at)
  WHERE available_at > earned_at;

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

CREATE OR REPLACE VIEW loyalty.expiring_points AS
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

-- The batch functions take and return their keyset position (no state kept
-- between calls).
DROP FUNCTION loyalty._expire_batch(timestamptz, integer);
DROP FUNCTION loyalty._evaluate_batch(timestamptz, integer);
-- A batch starts after the position given (NULL: from the beginning) and
-- returns where it got to, which the procedure passes to the next batch
-- (keyset paging).  members: the members it locked (0: nothing left to do;
-- _expire_batch -1: the lots it reached belong to busy members or to no
-- account, were stepped over, and the run goes on).
CREATE FUNCTION loyalty._expire_batch(as_of timestamptz, batch_size integer,
                                      after_expires timestamptz DEFAULT NULL,
                                      after_lot bigint DEFAULT NULL,
                                      skip_busy boolean DEFAULT false,
                                      OUT members bigint, OUT last_expires timestamptz,
                                      OUT last_lot bigint)
  AS 'MODULE_PATHNAME', 'loyalty_expire_batch'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;
CREATE FUNCTION loyalty._evaluate_batch(as_of timestamptz, batch_size integer,
                                        after_program integer DEFAULT NULL,
                                        after_member text DEFAULT NULL,
                                        after_tier_until timestamptz DEFAULT NULL,
                                        skip_busy boolean DEFAULT false,
                                        revisit boolean DEFAULT false,
                                        OUT members integer, OUT last_program integer,
                                        OUT last_member text, OUT last_tier_until timestamptz)
  AS 'MODULE_PATHNAME', 'loyalty_evaluate_batch'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

REVOKE ALL ON FUNCTION
  loyalty._expire_batch(timestamptz, integer, timestamptz, bigint, boolean),
  loyalty._evaluate_batch(timestamptz, integer, integer, text, timestamptz, boolean, boolean)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  loyalty._expire_batch(timestamptz, integer, timestamptz, bigint, boolean),
  loyalty._evaluate_batch(timestamptz, integer, integer, text, timestamptz, boolean, boolean)
  TO loyalty_admin;

-------------------------------------------------------------------------------
-- Descriptions (\d+, \df+ and BI tools show them; README has the full contract)
-------------------------------------------------------------------------------
COMMENT ON TABLE loyalty.program IS 'A points program: earning rate, rounding, stacking, expiry, tier basis and window, time zone';
COMMENT ON TABLE loyalty.tier IS 'Tiers of a program: qualifying threshold, earn multiplier, redemption rate';
COMMENT ON TABLE loyalty.rule IS 'Earning rules of a program (multiplier, bonus, category_rate, event, referral, streak...)';
COMMENT ON TABLE loyalty.account IS 'One row per member of a program: tier state, debt and counters (credited, held, rolling date); every operation locks it first';
COMMENT ON COLUMN loyalty.account.held IS 'Points in the member''s lots (sum of lot.remaining), kept by every change to a lot';
COMMENT ON COLUMN loyalty.account.roll_until IS 'Rolling expiry: when the member''s lots that roll expire (last earning + expiry_after)';
COMMENT ON TABLE loyalty.ledger IS 'Append-only history of every movement of points, in business time (at)';
COMMENT ON TABLE loyalty.lot IS 'One lot per credit: points left, expired, repaid debt; spent first-to-expire first';
COMMENT ON COLUMN loyalty.lot.rolls IS 'Expires at the member''s rolling date (account.roll_until); expires_at is then a lower bound';
COMMENT ON TABLE loyalty.streak IS 'Streak rule counters per member';
COMMENT ON TABLE loyalty.tier_change IS 'Tier history: upgrades, renewals and downgrades, dated';
COMMENT ON TABLE loyalty.tracked_table IS 'Orders tables of the app that earn through track_orders';
COMMENT ON VIEW loyalty.tracked_orders IS 'The tracked orders tables and their column mapping';
COMMENT ON VIEW loyalty.member_summary IS 'Per member, as of now(): tier, available, pending, debt, lifetime figures, next tier and next expiry';
COMMENT ON VIEW loyalty.statement IS 'Each member''s ledger in business-time order with the running balance';
COMMENT ON VIEW loyalty.expiring_points IS 'Points still held, by member and expiry instant';
COMMENT ON VIEW loyalty.liability IS 'Per program: outstanding points and their value, earned, redeemed, expired, breakage';
COMMENT ON VIEW loyalty.activity_daily IS 'Per program and local day: earned, redeemed, expired, clawed back, active and new members';
COMMENT ON VIEW loyalty.tier_distribution IS 'Members per tier, as of now()';
COMMENT ON VIEW loyalty.tier_history IS 'Tier changes with program codes';
COMMENT ON VIEW loyalty.leaderboard IS 'Per program and local month: members ranked by points earned, less clawbacks';
COMMENT ON VIEW loyalty.rule_stats IS 'Per rule: purchases it applied to and the points it gave';
COMMENT ON FUNCTION loyalty.create_program(text,text,text,numeric,numeric,text,text,numeric,numeric,text,interval,text,interval,text,text,text,text) IS 'Create a program, or change the settings given (NULL keeps a setting)';
COMMENT ON FUNCTION loyalty.add_tier(text,text,numeric,numeric,numeric,text) IS 'Add or change a tier';
COMMENT ON FUNCTION loyalty.add_rule(text,text,text,jsonb,timestamp with time zone,timestamp with time zone) IS 'Add or change an earning rule';
COMMENT ON FUNCTION loyalty.set_rule_active(text,text,boolean) IS 'Switch a rule on or off';
COMMENT ON FUNCTION loyalty.enroll(text,text,timestamp with time zone,date,text) IS 'Enrol a member (signup points, referrer)';
COMMENT ON FUNCTION loyalty.earn(text,text,numeric,text,timestamp with time zone,text) IS 'Credit a purchase; returns the points earned (idempotent by ref)';
COMMENT ON FUNCTION loyalty.quote(text,text,numeric,timestamp with time zone,text) IS 'What a purchase would earn, line by line, writing nothing';
COMMENT ON FUNCTION loyalty.record_event(text,text,text,text,timestamp with time zone) IS 'Credit an event rule (survey, check-in...); returns the points';
COMMENT ON FUNCTION loyalty.redeem(text,text,bigint,text,timestamp with time zone) IS 'Spend points; returns the balance after';
COMMENT ON FUNCTION loyalty.redeem_value(text,text,numeric,text,timestamp with time zone) IS 'Spend points worth a money value at the member''s tier rate; returns the balance after';
COMMENT ON FUNCTION loyalty.adjust(text,text,bigint,text,text,timestamp with time zone) IS 'Credit or debit points by hand, with a reason; returns the balance after';
COMMENT ON FUNCTION loyalty.refund(text,text,text,numeric,text,timestamp with time zone) IS 'Claw back the points of a refunded amount of a purchase; returns the points clawed back';
COMMENT ON FUNCTION loyalty.transfer(text,text,text,bigint,text,timestamp with time zone) IS 'Move points between two members (they keep their expiry dates)';
COMMENT ON FUNCTION loyalty.balance(text,text,timestamp with time zone) IS 'Spendable points of a member at an instant';
COMMENT ON FUNCTION loyalty.tier_of(text,text,timestamp with time zone) IS 'Tier of a member at an instant';
COMMENT ON FUNCTION loyalty.track_orders(regclass,text,name,name,name,name,name,name,boolean) IS 'Earn from an orders table of the app (statement triggers), optionally backfilling it';
COMMENT ON FUNCTION loyalty.untrack_orders(regclass) IS 'Stop earning from an orders table';
COMMENT ON PROCEDURE loyalty.expire_points(timestamp with time zone,integer) IS 'Write the expiry of lots expired by as_of (batches, one transaction each)';
COMMENT ON PROCEDURE loyalty.evaluate_tiers(timestamp with time zone,integer) IS 'Evaluate the members whose tier period ended by as_of';
COMMENT ON PROCEDURE loyalty.run_maintenance(timestamp with time zone) IS 'expire_points then evaluate_tiers: the nightly job';
COMMENT ON FUNCTION loyalty.schedule_maintenance(text) IS 'Create or change the pg_cron job running run_maintenance';
COMMENT ON FUNCTION loyalty.unschedule_maintenance() IS 'Remove the pg_cron job';
COMMENT ON FUNCTION loyalty.verify() IS 'Integrity problems of the ledger, lots and accounts (empty: all consistent)';
