-- bench/maint_tiers_floor.sql — "the floor" of evaluate_tiers: ONE bare
-- set-based statement doing the same writes as CALL loyalty.evaluate_tiers
-- for the bench program (tier basis points, calendar year, to_qualified):
-- for every member whose tier period ended by :as_of, the sum of qual_points
-- over the last calendar year [:win_start, :win_end) picks the tier
-- (thresholds of the bench program, inlined); the account gets it
-- (tier_since = :as_of: since 0.3.0 a renewal dates the tier too;
-- tier_until = :until, NULL for the lowest tier), and every change is a
-- tier_change row written by the evaluation (by_evaluation).  No locks, no
-- batches, no per-program logic.  (psql variables set by suite_maintenance.sh)
WITH q AS (
  SELECT a.program_id, a.member, a.tier AS cur, coalesce(sum(l.qual_points), 0) AS v
  FROM loyalty.account a
  LEFT JOIN loyalty.ledger l
         ON l.program_id = a.program_id AND l.member = a.member
        AND l.qual_at >= :'win_start' AND l.qual_at < :'win_end'
  WHERE a.tier_until <= :'as_of'
  GROUP BY a.program_id, a.member, a.tier),
n AS (
  SELECT program_id, member, cur,
         CASE WHEN v >= 9000 THEN 'platinum' WHEN v >= 3000 THEN 'gold' ELSE 'silver' END AS nxt
  FROM q),
u AS (
  UPDATE loyalty.account a
     SET tier_since = :'as_of'::timestamptz,
         tier = n.nxt,
         tier_until = CASE WHEN n.nxt = 'silver' THEN NULL ELSE :'until'::timestamptz END
    FROM n
   WHERE a.program_id = n.program_id AND a.member = n.member)
INSERT INTO loyalty.tier_change (program_id, member, id, at, from_tier, to_tier, reason, valid_until,
                                 by_evaluation)
SELECT program_id, member,
       (SELECT coalesce(max(c.id), 0) + 1 FROM loyalty.tier_change c   -- the member's sequence (0.4.0)
         WHERE c.program_id = n.program_id AND c.member = n.member),
       :'as_of', cur, nxt,
       CASE WHEN array_position('{silver,gold,platinum}'::text[], nxt)
                 < array_position('{silver,gold,platinum}'::text[], cur)
            THEN 'downgrade' ELSE 'upgrade' END,
       CASE WHEN nxt = 'silver' THEN NULL ELSE :'until'::timestamptz END, true
FROM n
WHERE nxt IS DISTINCT FROM cur;
