-- Points after they are earned: expiry, pending, refunds, debt, transfers,
-- tier evaluation, the scheduled procedures.
\i test/sql/preamble.psql
CREATE FUNCTION pg_temp.lots(prog text)
RETURNS TABLE(member text, ref text, source text, earned_at timestamptz, expires_at timestamptz,
              points bigint, remaining bigint)
LANGUAGE sql AS $f$
  -- a lot that rolls expires at its member's rolling date
  SELECT l.member, l.ref, l.source, l.earned_at,
         CASE WHEN l.rolls THEN a.roll_until ELSE l.expires_at END, l.points, l.remaining
  FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
  LEFT JOIN loyalty.account a ON a.program_id = l.program_id AND a.member = l.member
  WHERE p.code = prog ORDER BY l.member, l.id
$f$;
CREATE FUNCTION pg_temp.ledger(prog text)
RETURNS TABLE(member text, kind text, points bigint, ref text, original_ref text,
              counterparty text, at timestamptz)
LANGUAGE sql AS $f$
  SELECT l.member, l.kind, l.points, l.ref, l.original_ref, l.counterparty, l.at
  FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
  WHERE p.code = prog ORDER BY l.member, l.id
$f$;

------------------------------------------------------------------------------
-- 1. Expiry policies, at the exact boundary instant
------------------------------------------------------------------------------
-- fixed: 3 years from the moment earned (Telunsu)
SELECT loyalty.create_program('fx', timezone => 'Asia/Shanghai', expiry => 'fixed', expiry_after => '3 years') > 0 AS ok;
SELECT loyalty.earn('fx', 'a', 100, 'o1', '2026-03-01 10:00+08');
SELECT expires_at FROM pg_temp.lots('fx');
SELECT loyalty.balance('fx', 'a', '2029-03-01 09:59:59.999999+08') AS just_before,
       loyalty.balance('fx', 'a', '2029-03-01 10:00+08') AS at_expiry;
-- the procedure agrees: not expired a microsecond before, expired at the instant
CALL loyalty.expire_points('2029-03-01 09:59:59.999999+08');
SELECT count(*) AS expire_rows_before FROM pg_temp.ledger('fx') WHERE kind = 'expire';
CALL loyalty.expire_points('2029-03-01 10:00+08');
SELECT member, kind, points, at FROM pg_temp.ledger('fx') WHERE kind = 'expire';
-- balances for earlier instants do not depend on whether the job ran
SELECT loyalty.balance('fx', 'a', '2029-03-01 09:59:59.999999+08') AS just_before_after_sweep,
       loyalty.balance('fx', 'a', '2029-03-01 10:00+08') AS at_expiry_after_sweep;
-- a redeem dated before the expiry may still spend the swept points (SPEC §3
-- job independence): the sweep is corrected by a new row, +1 at the expiry
SELECT pg_temp.err($$SELECT loyalty.redeem('fx', 'a', 1, 'late', '2029-01-01')$$);
SELECT member, kind, points, at FROM pg_temp.ledger('fx') WHERE kind IN ('expire', 'redeem');
SELECT loyalty.balance('fx', 'a', '2029-01-02') AS after_late_redeem,
       loyalty.balance('fx', 'a', '2029-03-01 10:00+08') AS at_expiry;
-- a rerun changes nothing
CALL loyalty.expire_points('2029-03-01 10:00+08');
SELECT count(*) AS expire_rows_after_rerun FROM pg_temp.ledger('fx') WHERE kind = 'expire';

-- end_of_period, year, in Shanghai: points earned in local 2026 expire at 2028-01-01 00:00 local
SELECT loyalty.create_program('eoy', timezone => 'Asia/Shanghai', expiry => 'end_of_period',
                              expiry_after => '1 year', expiry_period => 'year') > 0 AS ok;
SELECT loyalty.earn('eoy', 'a', 100, 'may', '2026-05-01 12:00+08'),
       loyalty.earn('eoy', 'a', 100, 'nye', '2026-12-31 23:30+08'),
       loyalty.earn('eoy', 'a', 100, 'ny', '2027-01-01 00:30+08');
SELECT ref, earned_at, expires_at, expires_at AT TIME ZONE 'Asia/Shanghai' AS local_expiry
FROM pg_temp.lots('eoy');
SELECT loyalty.balance('eoy', 'a', timestamptz '2028-01-01 00:00+08' - interval '1 microsecond') AS before_new_year,
       loyalty.balance('eoy', 'a', '2028-01-01 00:00+08') AS at_new_year;
-- month and quarter periods
SELECT loyalty.create_program('eom', expiry => 'end_of_period', expiry_after => '1 month', expiry_period => 'month') > 0 AS ok;
SELECT loyalty.create_program('eoq', expiry => 'end_of_period', expiry_after => '1 day', expiry_period => 'quarter') > 0 AS ok;
SELECT loyalty.earn('eom', 'a', 10, 'jan31', '2026-01-31 08:00'),
       loyalty.earn('eoq', 'a', 10, 'feb10', '2026-02-10 08:00'),
       loyalty.earn('eoq', 'a', 10, 'mar31', '2026-03-31 08:00');
SELECT ref, expires_at FROM pg_temp.lots('eom') UNION ALL SELECT ref, expires_at FROM pg_temp.lots('eoq');
-- year-end clearing: end_of_period without expiry_after (or '0') ends with the
-- period the points were earned in
SELECT loyalty.create_program('ye', timezone => 'Asia/Shanghai', expiry => 'end_of_period') > 0 AS ok;
SELECT loyalty.create_program('ye0', expiry => 'end_of_period', expiry_after => '0', expiry_period => 'quarter') > 0 AS ok;
SELECT loyalty.earn('ye', 'a', 100, 'may', '2026-05-01 12:00+08'),
       loyalty.earn('ye', 'a', 100, 'nye', '2026-12-31 23:30+08'),
       loyalty.earn('ye', 'a', 100, 'ny', '2027-01-01 00:00+08'),
       loyalty.earn('ye0', 'a', 10, 'feb', '2026-02-10 08:00');
SELECT ref, expires_at AT TIME ZONE 'Asia/Shanghai' AS local_expiry FROM pg_temp.lots('ye')
UNION ALL SELECT ref, expires_at AT TIME ZONE 'UTC' FROM pg_temp.lots('ye0');
SELECT loyalty.balance('ye', 'a', '2026-12-31 23:59+08') AS dec31,
       loyalty.balance('ye', 'a', '2027-01-01 00:00+08') AS jan1;

-- rolling: 180 days, every new earning pushes all living lots out (the gym)
SELECT loyalty.create_program('gym', expiry => 'rolling', expiry_after => '180 days') > 0 AS ok;
SELECT loyalty.earn('gym', 'g', 100, 'mar', '2026-03-01');
SELECT expires_at FROM pg_temp.lots('gym');
SELECT loyalty.earn('gym', 'g', 50, 'may', '2026-05-01');
SELECT ref, expires_at FROM pg_temp.lots('gym');
SELECT loyalty.balance('gym', 'g', '2026-08-29') AS after_first_date,
       loyalty.balance('gym', 'g', '2026-10-27 23:59:59') AS before_pushed_date,
       loyalty.balance('gym', 'g', '2026-10-28') AS at_pushed_date;
-- an already expired lot is not brought back by a later earning
SELECT loyalty.earn('gym', 'g', 10, 'dec', '2026-12-01');
SELECT ref, expires_at FROM pg_temp.lots('gym');
SELECT loyalty.balance('gym', 'g', '2026-12-02') AS only_december;
-- a back-dated earning (older than the member's last) joins the shared date
SELECT loyalty.create_program('gym2', expiry => 'rolling', expiry_after => '180 days') > 0 AS ok;
SELECT loyalty.earn('gym2', 'h', 100, 'mar', '2026-03-01'),
       loyalty.earn('gym2', 'h', 50, 'feb-backfill', '2026-02-01');
SELECT ref, expires_at FROM pg_temp.lots('gym2');
SELECT loyalty.balance('gym2', 'h', '2026-08-01') AS both_alive,
       loyalty.balance('gym2', 'h', '2026-08-28') AS both_expired;
-- ... and does not bring back a lot that died before the last earning, swept or not
SELECT loyalty.create_program('gym3', expiry => 'rolling', expiry_after => '1 year') > 0 AS ok;
SELECT loyalty.earn('gym3', 'k', 100, 'a', '2024-01-01'), loyalty.earn('gym3', 'k', 10, 'b', '2025-06-01'),
       loyalty.earn('gym3', 'k', 5, 'back', '2024-06-01');
SELECT ref, expires_at FROM pg_temp.lots('gym3');
SELECT loyalty.balance('gym3', 'k', '2025-07-01') AS without_a;

------------------------------------------------------------------------------
-- 2. Pending points, and a refund while pending
------------------------------------------------------------------------------
SELECT loyalty.create_program('pd', pending_for => '14 days') > 0 AS ok;
SELECT loyalty.earn('pd', 'p', 100, 'old', '2026-01-01'), loyalty.earn('pd', 'p', 200, 'new', '2026-02-01');
SELECT loyalty.balance('pd', 'p', '2026-02-02') AS available_only_old;
SELECT loyalty.refund('pd', 'p', 'new', 200, 'rf-new', '2026-02-03') AS clawed;
SELECT ref, points, remaining FROM pg_temp.lots('pd');
SELECT loyalty.balance('pd', 'p', '2026-03-01') AS old_untouched;
-- an adjustment is not earned: spendable at once, and adjust returns that balance
SELECT loyalty.adjust('pd', 'p', 25, 'goodwill', 'adj', '2026-03-01') AS adjust_returns,
       loyalty.balance('pd', 'p', '2026-03-01') AS balance_now;
-- a new purchase is pending again
SELECT loyalty.earn('pd', 'p', 40, 'later', '2026-03-01') AS pending_points,
       loyalty.balance('pd', 'p', '2026-03-01') AS available,
       loyalty.balance('pd', 'p', '2026-03-15') AS after_pending_for;

------------------------------------------------------------------------------
-- 3. Refunds: cumulative rounding, own lot first, then FIFO, then debt
------------------------------------------------------------------------------
-- 7 points per 3 yuan: an order of 3 yuan earns 7
SELECT loyalty.create_program('rf3', points_per_unit => 7, unit => 3) > 0 AS ok;
SELECT loyalty.earn('rf3', 'r', 3, 'o', '2026-01-01') AS seven_points;
-- three refunds of 1 yuan: 7/3 each would round to 2+2+2 = 6; cumulative gives 2, 3, 2 = 7
SELECT loyalty.refund('rf3', 'r', 'o', 1, 'r1', '2026-01-02') AS first,
       loyalty.refund('rf3', 'r', 'o', 1, 'r2', '2026-01-02') AS second,
       loyalty.refund('rf3', 'r', 'o', 1, 'r3', '2026-01-02') AS third;
SELECT loyalty.earn('rf3', 'r', 3, 'o2', '2026-01-03') AS again_seven;
SELECT loyalty.refund('rf3', 'r', 'o2', 3, 'full', '2026-01-04') AS one_full_refund;
-- over-refund, unknown order, a ref that is not a purchase, unknown member
SELECT pg_temp.err($$SELECT loyalty.refund('rf3', 'r', 'o', 0.01, 'r4', '2026-01-05')$$);
SELECT pg_temp.err($$SELECT loyalty.refund('rf3', 'r', 'nope', 1, 'r5', '2026-01-05')$$);
SELECT pg_temp.err($$SELECT loyalty.refund('rf3', 'r', 'r1', 1, 'r6', '2026-01-05')$$);
SELECT pg_temp.err($$SELECT loyalty.refund('rf3', 'ghost', 'o', 1, 'r7', '2026-01-05')$$);
SELECT pg_temp.err($$SELECT loyalty.refund('rf3', 'r', 'o', 0, 'r8', '2026-01-05')$$);
-- replay returns the first answer; other arguments are LY005
SELECT loyalty.refund('rf3', 'r', 'o', 1, 'r2', '2026-02-02') AS replay;
SELECT pg_temp.err($$SELECT loyalty.refund('rf3', 'r', 'o2', 1, 'r2', '2026-01-05')$$);

-- debt: the order's points were spent, the refund leaves a debt that later earnings pay first
SELECT loyalty.create_program('dbt', expiry => 'fixed', expiry_after => '1 year') > 0 AS ok;
SELECT loyalty.earn('dbt', 'd', 500, 'big', '2026-01-01'), loyalty.earn('dbt', 'd', 100, 'small', '2026-01-02');
SELECT loyalty.redeem('dbt', 'd', 550, 'spend', '2026-01-03') AS left_50;
SELECT ref, remaining FROM pg_temp.lots('dbt');
SELECT loyalty.refund('dbt', 'd', 'big', 500, 'rf', '2026-01-04') AS clawed_500;
SELECT loyalty.balance('dbt', 'd', '2026-01-05') AS minus_450;
SELECT pg_temp.err($$SELECT loyalty.redeem('dbt', 'd', 1, 'x', '2026-01-05')$$);
SELECT loyalty.earn('dbt', 'd', 300, 'pay1', '2026-01-06') AS credited_300;
SELECT loyalty.balance('dbt', 'd', '2026-01-07') AS minus_150;
SELECT loyalty.earn('dbt', 'd', 400, 'pay2', '2026-01-08') AS credited_400;
SELECT loyalty.balance('dbt', 'd', '2026-01-09') AS plus_250;
SELECT ref, points, remaining FROM pg_temp.lots('dbt');
SELECT debt FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id WHERE p.code = 'dbt';

-- the own lot first even when another lot expires sooner
SELECT loyalty.create_program('own', expiry => 'fixed', expiry_after => '1 year') > 0 AS ok;
SELECT loyalty.earn('own', 'o', 100, 'early', '2026-01-01'), loyalty.earn('own', 'o', 100, 'late', '2026-06-01');
SELECT loyalty.refund('own', 'o', 'late', 50, 'half', '2026-06-02') AS clawed_50;
SELECT ref, remaining FROM pg_temp.lots('own');

------------------------------------------------------------------------------
-- 4. Transfers keep expiry dates
------------------------------------------------------------------------------
SELECT loyalty.create_program('tr', expiry => 'fixed', expiry_after => '1 year') > 0 AS ok;
SELECT loyalty.add_rule('tr', 'signup', 'event', '{"event": "signup", "points": 5}');
SELECT loyalty.earn('tr', 'giver', 100, 'g1', '2026-01-01'), loyalty.earn('tr', 'giver', 100, 'g2', '2026-06-01');
SELECT loyalty.transfer('tr', 'giver', 'taker', 150, 't1', '2026-07-01');
SELECT * FROM pg_temp.lots('tr');
SELECT member, kind, points, ref, counterparty FROM pg_temp.ledger('tr');
SELECT loyalty.balance('tr', 'giver', '2026-07-02') AS giver_55,
       loyalty.balance('tr', 'taker', '2026-07-02') AS taker_5_plus_150,
       loyalty.balance('tr', 'taker', '2027-01-01') AS taker_after_first_expiry;
-- replay, LY005, LY001, LY003, self
SELECT loyalty.transfer('tr', 'giver', 'taker', 150, 't1', '2026-08-01')::text = '' AS replay_ok;
SELECT count(*) AS t1_rows FROM pg_temp.ledger('tr') WHERE ref = 't1';
SELECT pg_temp.err($$SELECT loyalty.transfer('tr', 'giver', 'taker', 10, 't1', '2026-07-01')$$);
SELECT pg_temp.err($$SELECT loyalty.transfer('tr', 'giver', 'taker', 56, 't2', '2026-07-01')$$);
SELECT pg_temp.err($$SELECT loyalty.transfer('tr', 'ghost', 'taker', 1, 't3', '2026-07-01')$$);
SELECT pg_temp.err($$SELECT loyalty.transfer('tr', 'giver', 'giver', 1, 't4', '2026-07-01')$$);
SELECT pg_temp.err($$SELECT loyalty.transfer('tr', 'giver', 'nobody', 0, 't5', '2026-07-01')$$);
SELECT count(*) AS nobody_accounts FROM loyalty.account WHERE member = 'nobody';

------------------------------------------------------------------------------
-- 5. Tier evaluation over two simulated years, each downgrade policy
------------------------------------------------------------------------------
SELECT loyalty.create_program(d, timezone => 'Asia/Shanghai', downgrade => d) > 0 AS ok
FROM unnest(ARRAY['to_qualified', 'one_step', 'never']) AS d;
SELECT loyalty.add_tier(d, 'silver', 0), loyalty.add_tier(d, 'gold', 1000, 1), loyalty.add_tier(d, 'platinum', 5000, 1)
FROM unnest(ARRAY['to_qualified', 'one_step', 'never']) AS d;
-- lapsed: platinum in 2026, nothing after; steady: platinum every year; slipping: gold-level in 2027
SELECT loyalty.earn(d, 'lapsed', 6000, 'a', '2026-03-01'),
       loyalty.earn(d, 'steady', 6000, 'a', '2026-03-01'),
       loyalty.earn(d, 'steady', 6000, 'b', '2027-03-01'),
       loyalty.earn(d, 'slipping', 6000, 'a', '2026-03-01'),
       loyalty.earn(d, 'slipping', 1500, 'b', '2027-03-01')
FROM unnest(ARRAY['to_qualified', 'one_step', 'never']) AS d;
-- nothing to do before the tier period ends (end of the next calendar year, local)
CALL loyalty.evaluate_tiers('2027-12-31 23:59:59+08');
SELECT p.code, a.member, a.tier, a.tier_until FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
WHERE p.code IN ('to_qualified', 'one_step', 'never') ORDER BY p.id, a.member;
CALL loyalty.evaluate_tiers('2028-01-01 00:00+08');
SELECT p.code, a.member, a.tier, a.tier_until FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
WHERE p.code IN ('to_qualified', 'one_step', 'never') ORDER BY p.id, a.member;
-- a rerun changes nothing
SELECT count(*) AS history_rows FROM loyalty.tier_change \gset
CALL loyalty.evaluate_tiers('2028-01-01 00:00+08');
SELECT count(*) - :history_rows AS new_history_rows FROM loyalty.tier_change;
-- the second year: nobody earns in 2028
CALL loyalty.evaluate_tiers('2029-01-01 00:00+08');
SELECT p.code, a.member, a.tier, a.tier_until FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
WHERE p.code IN ('to_qualified', 'one_step', 'never') ORDER BY p.id, a.member;
SELECT p.code, c.member, c.at, c.from_tier, c.to_tier, c.reason, c.valid_until
FROM loyalty.tier_change c JOIN loyalty.program p ON p.id = c.program_id
WHERE p.code IN ('to_qualified', 'one_step', 'never') ORDER BY p.id, c.member, c.id;

-- rolling_year: the tier holds one year after the upgrade; evaluation looks at the 365 days before
SELECT loyalty.create_program('roll', tier_window => 'rolling_year') > 0 AS ok;
SELECT loyalty.add_tier('roll', 'basic', 0), loyalty.add_tier('roll', 'vip', 100);
SELECT loyalty.earn('roll', 'v', 150, 'a', '2026-03-10');
SELECT tier, tier_until FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id WHERE p.code = 'roll';
CALL loyalty.evaluate_tiers('2027-03-10');
SELECT tier, tier_until FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id WHERE p.code = 'roll';
CALL loyalty.evaluate_tiers('2028-03-10');
SELECT tier, tier_until FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id WHERE p.code = 'roll';

-- spend and orders bases; refunds shrink them (counted at the purchase's time)
SELECT loyalty.create_program('bs', tier_basis => 'spend', points_per_unit => 0) > 0 AS ok;
SELECT loyalty.add_tier('bs', 'basic', 0), loyalty.add_tier('bs', 'vip', 1000);
SELECT loyalty.earn('bs', 's', 999.99, 'a', '2026-05-01') AS zero_points, loyalty.tier_of('bs', 's') AS below;
SELECT loyalty.earn('bs', 's', 0.01, 'b', '2026-05-02') AS zero_points;
SELECT loyalty.tier_of('bs', 's') AS reached_1000_spend;
SELECT loyalty.refund('bs', 's', 'a', 500, 'ra', '2027-01-05') AS refund_next_year;
CALL loyalty.evaluate_tiers('2028-01-01');
-- the change is dated 2028-01-01: in force from then on, not before
SELECT loyalty.tier_of('bs', 's', '2028-01-01') AS spend_2026_was_500,
       loyalty.tier_of('bs', 's', '2027-12-31') AS vip_until_then;
SELECT loyalty.create_program('bo', tier_basis => 'orders') > 0 AS ok;
SELECT loyalty.add_tier('bo', 'basic', 0), loyalty.add_tier('bo', 'regular', 3);
SELECT loyalty.earn('bo', 'o', 10, 'a', '2026-05-01'), loyalty.earn('bo', 'o', 10, 'b', '2026-05-02');
SELECT loyalty.refund('bo', 'o', 'a', 10, 'ra', '2026-05-03') AS full_refund;
SELECT loyalty.earn('bo', 'o', 10, 'c', '2026-05-04');
SELECT loyalty.tier_of('bo', 'o') AS two_orders_count;
SELECT loyalty.earn('bo', 'o', 10, 'd', '2026-05-05');
SELECT loyalty.tier_of('bo', 'o') AS three_orders;

------------------------------------------------------------------------------
-- 6. run_maintenance, arguments, pg_cron
------------------------------------------------------------------------------
SELECT loyalty.create_program('rm', expiry => 'fixed', expiry_after => '30 days') > 0 AS ok;
SELECT loyalty.earn('rm', 'm', 10, 'a', '2026-01-01'), loyalty.earn('rm', 'm', 20, 'b', '2026-01-15');
CALL loyalty.run_maintenance('2026-02-05');
SELECT member, kind, points, at FROM pg_temp.ledger('rm') WHERE kind = 'expire';
BEGIN;
CALL loyalty.expire_points('2026-03-01', 1);   -- inside a transaction block: no commits, one transaction
SELECT member, kind, points, at FROM pg_temp.ledger('rm') WHERE kind = 'expire';
ROLLBACK;
SELECT pg_temp.err($$CALL loyalty.expire_points('2026-03-01', 0)$$);
SELECT pg_temp.err($$CALL loyalty.expire_points('infinity')$$);
SELECT pg_temp.err($$CALL loyalty.evaluate_tiers(NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.schedule_maintenance()$$);
SELECT * FROM loyalty.verify();

-- lots whose account was deleted by hand (verify() reports them) do not stop
-- a run: with batches of one lot, c's lot after b's orphan is still expired
SELECT loyalty.create_program('orph', expiry => 'fixed', expiry_after => '1 day') > 0 AS ok;
SELECT loyalty.earn('orph', 'a', 10, 'o', '2026-01-01'), loyalty.earn('orph', 'b', 20, 'o', '2026-01-02'),
       loyalty.earn('orph', 'c', 30, 'o', '2026-01-03');
DELETE FROM loyalty.account WHERE member = 'b' AND program_id = (SELECT id FROM loyalty.program WHERE code = 'orph');
SELECT program, member, problem FROM loyalty.verify();
CALL loyalty.expire_points('2026-02-01', 1);
SELECT member, points, remaining FROM pg_temp.lots('orph') ORDER BY member;
-- put b's account back (as it was: 20 points credited, 20 held); a rerun expires b's lot too.
-- A row inserted by hand is refused (loyalty's tables take plain INSERT / COPY
-- only when empty: a restore), unless a superuser sets loyalty.maintenance
INSERT INTO loyalty.account (program_id, member, joined_at, purchases, last_earn_at, credited, held)
SELECT id, 'b', '2026-01-02', 1, '2026-01-02', 20, 20 FROM loyalty.program WHERE code = 'orph';
SET loyalty.maintenance = on;
INSERT INTO loyalty.account (program_id, member, joined_at, purchases, last_earn_at, credited, held)
SELECT id, 'b', '2026-01-02', 1, '2026-01-02', 20, 20 FROM loyalty.program WHERE code = 'orph';
RESET loyalty.maintenance;
CALL loyalty.expire_points('2026-02-01', 1);
SELECT member, points, remaining FROM pg_temp.lots('orph') ORDER BY member;
SELECT * FROM loyalty.verify();
