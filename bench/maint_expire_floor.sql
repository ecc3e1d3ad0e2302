-- bench/maint_expire_floor.sql — "the floor" of expire_points: ONE bare
-- set-based statement doing the same writes as CALL loyalty.expire_points:
-- every lot expired at :as_of that still holds points moves its remaining
-- to expired (remaining = 0), and one 'expire' ledger row per lot (points = -remaining, at = expires_at,
-- lot_id = the lot), and each member's account.held less what its lots
-- lost (0.3.1).  No locks, no batches.  (psql variable set by
-- suite_maintenance.sh)
WITH x AS (
  SELECT program_id, member, id, remaining, expires_at
  FROM loyalty.lot
  WHERE remaining > 0 AND expires_at <= :'as_of'),
u AS (
  UPDATE loyalty.lot l SET expired = l.expired + x.remaining, remaining = 0
  FROM x
  WHERE l.program_id = x.program_id AND l.member = x.member AND l.id = x.id),
s AS (
  SELECT program_id, member, sum(remaining) AS moved FROM x GROUP BY program_id, member),
h AS (
  UPDATE loyalty.account a SET held = a.held - s.moved
  FROM s
  WHERE a.program_id = s.program_id AND a.member = s.member),
i AS (
  -- ids: the member's own sequence, max + 1 on (0.4.0), in lot order
  INSERT INTO loyalty.ledger (program_id, member, id, at, kind, points, lot_id)
  SELECT x.program_id, x.member,
         mx.id + row_number() OVER (PARTITION BY x.program_id, x.member ORDER BY x.id),
         x.expires_at, 'expire', -x.remaining, x.id
  FROM x JOIN (SELECT s.program_id, s.member,
                      (SELECT coalesce(max(e.id), 0) FROM loyalty.ledger e
                        WHERE e.program_id = s.program_id AND e.member = s.member) AS id
               FROM s) mx ON mx.program_id = x.program_id AND mx.member = x.member)
SELECT count(*) FROM x;
