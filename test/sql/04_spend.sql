-- Spending, balances, idempotency, every error code, append-only history.
\i test/sql/preamble.psql
CREATE VIEW pg_temp.rows AS
  SELECT (SELECT count(*) FROM loyalty.ledger) AS ledger,
         (SELECT count(*) FROM loyalty.lot) AS lots,
         (SELECT count(*) FROM loyalty.account) AS accounts,
         (SELECT coalesce(sum(remaining), 0) FROM loyalty.lot) AS remaining;

-- lots: 1-year expiry for the first two, then never-expiring ones
SELECT loyalty.create_program('sp', expiry => 'fixed', expiry_after => '1 year') > 0 AS ok;
SELECT loyalty.earn('sp', 'm', 100, 'e1', '2026-03-01');
SELECT loyalty.earn('sp', 'm', 200, 'e2', '2026-02-01');
SELECT loyalty.create_program('sp', expiry => 'none') > 0 AS ok;
SELECT loyalty.earn('sp', 'm', 400, 'e3', '2026-01-01');
SELECT loyalty.balance('sp', 'm', '2026-04-01') AS balance_700;
-- first-to-expire first: e2 (expires 2027-02-01), then e1, never-expiring last
SELECT loyalty.redeem('sp', 'm', 250, 'r1', '2026-04-02') AS after_250;
SELECT ref, expires_at, points, remaining FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'sp' ORDER BY l.id;
-- retry: same answer, nothing written; other arguments: LY005
SELECT * FROM pg_temp.rows \gset before_
SELECT loyalty.redeem('sp', 'm', 250, 'r1', '2026-05-01') AS retry_same_answer;
SELECT pg_temp.err($$SELECT loyalty.redeem('sp', 'm', 251, 'r1', '2026-04-02')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 250, 'r1', '2026-04-02')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 101, 'e1', '2026-03-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 100, 'e1', '2026-03-01', 'food')$$);
SELECT loyalty.earn('sp', 'm', 100.00, 'e1', '2026-09-09') AS earn_retry_numeric_equal;
-- LY001: more than available; pending and expired points don't count
SELECT pg_temp.err($$SELECT loyalty.redeem('sp', 'm', 451, 'r2', '2026-04-02')$$);
SELECT pg_temp.err($$SELECT loyalty.adjust('sp', 'm', -451, 'fraud', 'a0', '2026-04-02')$$);
SELECT ledger = :before_ledger AND lots = :before_lots AND accounts = :before_accounts
       AND remaining = :before_remaining AS nothing_written FROM pg_temp.rows;
-- the expiry boundary: expired at exactly expires_at, with or without the nightly job
SELECT loyalty.balance('sp', 'm', '2027-02-28 23:59:59.999999') AS before_e1_expiry,
       loyalty.balance('sp', 'm', '2027-03-01 00:00:00') AS at_e1_expiry;

-- adjust: credit and debit with a reason; returns the new balance
SELECT loyalty.adjust('sp', 'm', 50, 'goodwill', 'a1', '2026-04-03') AS after_credit;
-- a credit that would push the balance past bigint: 22003, nothing written
SELECT pg_temp.err($$SELECT loyalty.adjust('sp', 'm', 9223372036854775807, 'huge', 'a5', '2026-04-03')$$);
SELECT count(*) AS no_a5 FROM loyalty.ledger WHERE ref = 'a5';
SELECT loyalty.adjust('sp', 'm', -500, 'fraud', 'a2', '2026-04-03') AS after_debit_to_zero;
SELECT pg_temp.err($$SELECT loyalty.adjust('sp', 'm', -1, 'fraud', 'a3', '2026-04-03')$$);
SELECT pg_temp.err($$SELECT loyalty.adjust('sp', 'm', 0, 'nothing', 'a4', '2026-04-03')$$);
SELECT pg_temp.err($$SELECT loyalty.adjust('sp', 'm', 5, NULL, 'a4', '2026-04-03')$$);
SELECT pg_temp.err($$SELECT loyalty.adjust('sp', 'm', 50, 'other reason', 'a1', '2026-04-03')$$);

-- pending points: spendable only after pending_for
SELECT loyalty.create_program('pend', pending_for => '7 days') > 0 AS ok;
SELECT loyalty.earn('pend', 'p', 100, 'o1', '2026-05-01 10:00');
SELECT loyalty.balance('pend', 'p', '2026-05-08 09:59:59') AS still_pending,
       loyalty.balance('pend', 'p', '2026-05-08 10:00') AS available;
SELECT pg_temp.err($$SELECT loyalty.redeem('pend', 'p', 1, 'r1', '2026-05-02')$$);
SELECT loyalty.redeem('pend', 'p', 100, 'r2', '2026-05-09') AS spent_after_maturity;

-- redeem_value: ceil(value x the tier's points per yuan)
SELECT loyalty.create_program('val', points_per_value => 150) > 0 AS ok;
SELECT loyalty.add_tier('val', 'ordinary', 0);
SELECT loyalty.add_tier('val', 'silver', 1000, 1, 130);
SELECT loyalty.add_tier('val', 'gold', 5000, 1, 100);
SELECT loyalty.earn('val', 'v', 2000, 'o1', '2026-01-10');
SELECT loyalty.tier_of('val', 'v');
SELECT loyalty.redeem_value('val', 'v', 10.01, 'rv1', '2026-01-11') AS points_for_10_01_yuan;
SELECT loyalty.balance('val', 'v', '2026-01-12') AS left_after;

-- errors, each with nothing written
SELECT * FROM pg_temp.rows \gset before_
SELECT pg_temp.err($$SELECT loyalty.earn('nope', 'm', 10, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.balance('nope', 'm')$$);
SELECT pg_temp.err($$SELECT loyalty.redeem('sp', 'ghost', 10, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.adjust('sp', 'ghost', 10, 'why', 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.redeem_value('sp', 'ghost', 10, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 0, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', -5, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 'NaN', 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', NULL, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', NULL, 10, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', '', 10, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 10, '', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 10, NULL, '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 10, 'x', 'infinity')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 10, 'x', NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.redeem('sp', 'm', 0, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.redeem('sp', 'm', -3, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.record_event('sp', 'm', NULL, 'x', '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.quote('sp', 'm', -1, '2026-01-01')$$);
SELECT pg_temp.err($$SELECT loyalty.earn('sp', 'm', 1e30, 'x', '2026-01-01')$$);
SELECT loyalty.create_program('far', expiry => 'fixed', expiry_after => '3 years') > 0 AS ok;
SELECT * FROM pg_temp.rows \gset before_
SELECT pg_temp.err($$SELECT loyalty.earn('far', 'm', 10, 'x', '294275-06-01')$$);
SELECT ledger = :before_ledger AND lots = :before_lots AND accounts = :before_accounts
       AND remaining = :before_remaining AS nothing_written FROM pg_temp.rows;

-- balances that would pass bigint: every credit (earn, event, transfer in,
-- adjust) fails with 22003 and writes nothing; balances stay summable
SELECT loyalty.create_program('ov') > 0 AS ok;
SELECT loyalty.add_rule('ov', 'ev', 'event', '{"event": "ev", "points": 1000}');
SELECT loyalty.earn('ov', 'big', 9223372036854775000, 'o1', '2026-03-01') AS huge_earn,
       loyalty.earn('ov', 'big2', 9223372036854775000, 'o1', '2026-03-01') AS huge_earn2;
SELECT * FROM pg_temp.rows \gset before_
SELECT pg_temp.err($$SELECT loyalty.earn('ov', 'big', 1000, 'o2', '2026-03-02')$$);
SELECT pg_temp.err($$SELECT loyalty.record_event('ov', 'big', 'ev', 'e1', '2026-03-02')$$);
SELECT pg_temp.err($$SELECT loyalty.adjust('ov', 'big', 1000, 'why', 'a1', '2026-03-02')$$);
SELECT pg_temp.err($$SELECT loyalty.transfer('ov', 'big2', 'big', 9223372036854775000, 't1', '2026-03-02')$$);
SELECT ledger = :before_ledger AND lots = :before_lots AND accounts = :before_accounts
       AND remaining = :before_remaining AS nothing_written FROM pg_temp.rows;
SELECT loyalty.balance('ov', 'big', '2026-03-03') AS big, loyalty.balance('ov', 'big2', '2026-03-03') AS big2;
-- a smaller amount still fits
SELECT loyalty.earn('ov', 'big', 800, 'o3', '2026-03-02') AS fits,
       loyalty.balance('ov', 'big', '2026-03-03') AS big_now;

-- the ledger is append-only
SELECT pg_temp.err($$UPDATE loyalty.ledger SET points = points + 1$$);
SELECT pg_temp.err($$DELETE FROM loyalty.ledger$$);
SELECT pg_temp.err($$TRUNCATE loyalty.ledger$$);
SELECT pg_temp.err($$UPDATE loyalty.tier_change SET to_tier = 'x'$$);
SELECT * FROM loyalty.verify();
-- verify() notices an account whose credited total disagrees with its lots
UPDATE loyalty.account SET credited = credited + 1
WHERE member = 'm' AND program_id = (SELECT id FROM loyalty.program WHERE code = 'sp');
SELECT * FROM loyalty.verify();
UPDATE loyalty.account SET credited = credited - 1
WHERE member = 'm' AND program_id = (SELECT id FROM loyalty.program WHERE code = 'sp');
SELECT count(*) AS problems FROM loyalty.verify();
