-- Rolling expiry at scale (issue #9 item 5): every lot of a member expires
-- at its last earning + expiry_after, and an earning costs the same whatever
-- the number of lots the member holds.  The lots that roll share the
-- member's date (account.roll_until), so an earning writes no lot row but
-- its own; what changes class is written once: the lots of a rolling date
-- that passed (at the next earning, or by expire_points), lots with a date
-- of their own that an earning reaches, and lots the nightly expiry finds
-- by an earlier value of the date.  lots_written() counts the lot rows the
-- current transaction wrote (their xmin).
\i test/sql/preamble.psql
CREATE FUNCTION pg_temp.lots_written() RETURNS bigint LANGUAGE sql AS $f$
  SELECT count(*) FROM loyalty.lot WHERE xmin = pg_current_xact_id()::xid
$f$;
-- the member's lots: points left and when they expire (a lot that rolls at
-- its member's date)
CREATE FUNCTION pg_temp.expiries(prog text, m text)
RETURNS TABLE(expires_at timestamptz, lots bigint, remaining numeric, rolling bigint)
LANGUAGE sql AS $f$
  SELECT CASE WHEN l.rolls THEN a.roll_until ELSE l.expires_at END, count(*), sum(l.remaining),
         count(*) FILTER (WHERE l.rolls)
  FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
  JOIN loyalty.account a ON a.program_id = l.program_id AND a.member = l.member
  WHERE p.code = prog AND l.member = m AND l.remaining > 0
  GROUP BY 1 ORDER BY 1
$f$;

SELECT loyalty.create_program('club', expiry => 'rolling', expiry_after => '90 days') > 0 AS ok;
-- 200 purchases of 10 points, one a day from 1 January: all share one date
SELECT count(loyalty.earn('club', 'big', 10, 'o' || g, timestamptz '2026-01-01' + g * interval '1 day'))
FROM generate_series(1, 200) g;
SELECT * FROM pg_temp.expiries('club', 'big');

-- one more earning moves all 200 to its date and writes no lot but its own
BEGIN;
SELECT loyalty.earn('club', 'big', 10, 'o201', '2026-07-21');
SELECT pg_temp.lots_written();  -- 1: its own
COMMIT;
SELECT * FROM pg_temp.expiries('club', 'big');
SELECT loyalty.balance('club', 'big', '2026-10-18 23:59'), loyalty.balance('club', 'big', '2026-10-19');

-- spending goes oldest first among lots sharing a date: 15 points take o1
-- and half of o2
SELECT loyalty.redeem('club', 'big', 15, 'r1', '2026-07-22');
SELECT l.ref, l.remaining FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'club' AND l.member = 'big' AND l.ref IN ('o1', 'o2', 'o3') ORDER BY l.id;

-- a credit that is not an earning keeps a date of its own (later than the
-- shared one): spent after the rolling lots; the next earning reaches it
-- and it joins them
SELECT loyalty.adjust('club', 'big', 5, 'goodwill', 'g1', '2026-07-25');
SELECT * FROM pg_temp.expiries('club', 'big');
BEGIN;
SELECT loyalty.earn('club', 'big', 10, 'o202', '2026-08-01');
SELECT pg_temp.lots_written();  -- 2: its own, the adjustment's joins
COMMIT;
SELECT * FROM pg_temp.expiries('club', 'big');

-- a back-dated earning joins the shared date (it is not the last earning)
SELECT loyalty.earn('club', 'big', 10, 'late', '2026-06-01');
SELECT * FROM pg_temp.expiries('club', 'big');

-- a gap longer than 90 days: the shared date (30 October) passes; the next
-- earning starts a new date, and the lots of the old one keep 30 October,
-- each written once
SELECT loyalty.balance('club', 'big', '2026-10-29'), loyalty.balance('club', 'big', '2026-10-30');
BEGIN;
SELECT loyalty.earn('club', 'big', 10, 'o203', '2026-11-15');
SELECT pg_temp.lots_written();  -- 204: its own and the 203 living lots of the old date
COMMIT;
SELECT * FROM pg_temp.expiries('club', 'big');
BEGIN;
SELECT loyalty.earn('club', 'big', 10, 'o204', '2026-11-16');
SELECT pg_temp.lots_written();  -- 1 again
COMMIT;
SELECT loyalty.balance('club', 'big', '2026-11-16');
SELECT * FROM loyalty.verify();

-- expire_points: a member whose rolling date passed (no earning since):
-- its lots expire at that date, which becomes their own
SELECT loyalty.earn('club', 'quiet', 40, 'q1', '2026-02-01'), loyalty.earn('club', 'quiet', 60, 'q2', '2026-03-01');
CALL loyalty.expire_points('2026-06-01');
SELECT at, kind, points FROM loyalty.statement WHERE program = 'club' AND member = 'quiet' ORDER BY id;
SELECT * FROM pg_temp.expiries('club', 'quiet');
SELECT l.ref, l.rolls, l.expires_at, l.expired FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'club' AND l.member = 'quiet' ORDER BY l.id;
-- a later earning (after that date) starts anew and revives nothing
SELECT loyalty.earn('club', 'quiet', 10, 'q3', '2026-06-10');
SELECT loyalty.balance('club', 'quiet', '2026-06-10');

-- expire_points with an as_of after the date, then an earning dated before
-- it: the member's date moves on, the swept lots come back (correction rows)
SELECT loyalty.earn('club', 'early', 50, 'e1', '2026-03-01');
CALL loyalty.expire_points('2026-06-15');  -- e1's date: 30 May
SELECT loyalty.earn('club', 'early', 20, 'e2', '2026-05-20');
SELECT at, kind, points, reason FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'club' AND l.member = 'early' ORDER BY l.id;
SELECT * FROM pg_temp.expiries('club', 'early');
SELECT loyalty.balance('club', 'early', '2026-08-17'), loyalty.balance('club', 'early', '2026-08-18');

-- the nightly expiry finds a lot that rolls by an earlier value of its
-- member's date; when the date has moved on, it writes the current one
-- (once: the next run finds nothing)
SELECT loyalty.earn('club', 'busy', 10, 'b' || g, timestamptz '2026-01-01' + g * interval '30 days')
FROM generate_series(0, 6) g;
BEGIN;
CALL loyalty.expire_points('2026-07-01');
SELECT pg_temp.lots_written();  -- 4: b0, b1, b2, b3 were found by their first date
COMMIT;
BEGIN;
CALL loyalty.expire_points('2026-07-01');
SELECT pg_temp.lots_written();  -- 0
COMMIT;
SELECT * FROM pg_temp.expiries('club', 'busy');
SELECT count(*) AS expire_rows FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'club' AND l.member = 'busy' AND l.kind = 'expire';

-- refunds: a purchase of the shared date, and one of a date that passed
SELECT loyalty.refund('club', 'big', 'o204', 10, 'rf1', '2026-11-20');
SELECT loyalty.refund('club', 'big', 'o100', 10, 'rf2', '2026-11-20');  -- expired 30 October: from the expiry
SELECT at, kind, points, reason FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'club' AND l.member = 'big' AND (l.ref IN ('rf1', 'rf2') OR l.reason = 'refund') ORDER BY l.id;
SELECT loyalty.balance('club', 'big', '2026-11-20');

-- a rolling date that passed with no earning and no sweep since: nothing
-- is spendable, whatever reads it (balances read the account's held points
-- less what is not spendable at their instant)
SELECT loyalty.earn('club', 'idle', 30, 'i1', '2026-01-01'), loyalty.earn('club', 'idle', 20, 'i2', '2026-01-02');
SELECT loyalty.balance('club', 'idle', '2026-04-01 23:59'), loyalty.balance('club', 'idle', '2026-04-02');
SELECT pg_temp.err($$SELECT loyalty.redeem('club', 'idle', 10, 'ix', '2026-05-01')$$);
SELECT loyalty.adjust('club', 'idle', 5, 'welcome back', 'ia', '2026-05-01');  -- its own date: 5 spendable
SELECT loyalty.redeem('club', 'idle', 5, 'iy', '2026-05-02');
SELECT available, lifetime_expired FROM loyalty.member_summary WHERE program = 'club' AND member = 'idle';

-- pending points in a rolling program: not spendable until available, and
-- they expire with the member's date
SELECT loyalty.create_program('clubp', expiry => 'rolling', expiry_after => '30 days', pending_for => '7 days') > 0 AS ok;
SELECT loyalty.earn('clubp', 'p', 100, 'p1', '2026-03-01'), loyalty.earn('clubp', 'p', 50, 'p2', '2026-03-20');
SELECT loyalty.balance('clubp', 'p', '2026-03-20'), loyalty.balance('clubp', 'p', '2026-03-27'),
       loyalty.balance('clubp', 'p', '2026-04-18 23:59'), loyalty.balance('clubp', 'p', '2026-04-19');
SELECT pg_temp.err($$SELECT loyalty.redeem('clubp', 'p', 101, 'px', '2026-03-21')$$);
SELECT loyalty.redeem('clubp', 'p', 100, 'py', '2026-03-21');

-- verify() checks the account's counters against its lots
SET loyalty.maintenance = on;
UPDATE loyalty.account SET held = held + 1
WHERE member = 'p' AND program_id = (SELECT id FROM loyalty.program WHERE code = 'clubp');
SELECT program, member, problem, expected, actual FROM loyalty.verify();
UPDATE loyalty.account SET held = held - 1
WHERE member = 'p' AND program_id = (SELECT id FROM loyalty.program WHERE code = 'clubp');
RESET loyalty.maintenance;

-- views: the shared date in expiring_points and member_summary, unswept
-- rolling points counted as expired
SELECT loyalty.create_program('club2', expiry => 'rolling', expiry_after => '30 days') > 0 AS ok;
SELECT loyalty.earn('club2', 'v', 10, 'v' || g, date_trunc('day', now()) - interval '20 days' + g * interval '1 day')
FROM generate_series(1, 3) g;
SELECT loyalty.earn('club2', 'w', 25, 'w1', date_trunc('day', now()) - interval '40 days');
SELECT member, points, expires_at = date_trunc('day', now()) + interval '13 days' AS shared
FROM loyalty.expiring_points WHERE program = 'club2' ORDER BY member;
SELECT member, available, lifetime_expired, next_expiry_points FROM loyalty.member_summary
WHERE program = 'club2' ORDER BY member;
SELECT outstanding_points, expired FROM loyalty.liability WHERE program = 'club2';
SELECT sum(expired) AS expired FROM loyalty.activity_daily WHERE program = 'club2';
SELECT * FROM loyalty.verify();
