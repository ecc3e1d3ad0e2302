-- bench/maint_expire_floor.sql — "the floor" of expire_points: ONE bare
-- set-based statement doing the same writes as CALL loyalty.expire_points:
-- every lot expired at :as_of that still holds points moves its remaining
-- to expired (remaining = 0), and one 'expire' ledger row per lot (points = -remaining, at = expires_at,
-- lot_id = the lot), and each member's account.held less what its lots
-- lost (0.3.1).  No locks, no batches.  (psql variable set by
-- maintenance.sh)
WITH x AS (
  SELECT program_id, member, id, remaining, expires_at
  FROM loyalty.lot
  WHERE remaining > 0 AND expires_at <= :'as_of'),
u AS (
  UPDATE loyalty.lot l SET expired = l.expired + x.remaining, remaining = 0
  FROM x
  WHERE l.program_id = x.program_id AND l.member = x.member AND l.id = x.id),
h AS (
  UPDATE loyalty.account a SET held = a.held - s.moved
  FROM (SELECT program_id, member, sum(remaining) AS moved FROM x GROUP BY program_id, member) s
  WHERE a.program_id = s.program_id AND a.member = s.member),
i AS (
  INSERT INTO loyalty.ledger (program_id, member, at, kind, points, lot_id)
  SELECT program_id, member, expires_at, 'expire', -remaining, id FROM x)
SELECT count(*) FROM x;
