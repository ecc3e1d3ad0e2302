-- Single-use codes (SPEC §8, issue #12): add_codes, redeem_code, code_batches.
-- A code credits its points once in the whole program, to the first member
-- who uses it; the same member again gets the first answer; another member
-- LY008; unknown or expired LY009; adding a code that exists LY007.  Every
-- error path writes nothing (the counts before and after are compared).
\i test/sql/preamble.psql

-- what a failed call could have written in this file's programs: codes
-- (and their use), ledger, lots, accounts
CREATE FUNCTION pg_temp.written() RETURNS text LANGUAGE sql AS $f$
  WITH p AS (SELECT id FROM loyalty.program WHERE code IN ('caps', 'other'))
  SELECT format('codes=%s used=%s ledger=%s lots=%s accounts=%s',
                (SELECT count(*) FROM loyalty.code WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(used_by) FROM loyalty.code WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.ledger WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.lot WHERE program_id IN (SELECT id FROM p)),
                (SELECT count(*) FROM loyalty.account WHERE program_id IN (SELECT id FROM p)))
$f$;
-- err(q) and whether it wrote anything
CREATE FUNCTION pg_temp.fails(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  before text := pg_temp.written();
  r text := pg_temp.err(q);
BEGIN
  RETURN r || CASE WHEN pg_temp.written() = before THEN ' | nothing written'
                   ELSE ' | WROTE: ' || before || ' -> ' || pg_temp.written() END;
END $f$;

-- caps: rolling expiry of 30 days, tiers by points, a signup event
SELECT loyalty.create_program('caps', expiry => 'rolling', expiry_after => '30 days',
                              timezone => 'Asia/Shanghai') > 0 AS ok;
SELECT loyalty.add_tier('caps', 'silver', 0);
SELECT loyalty.add_tier('caps', 'gold', 100, 2);
SELECT loyalty.add_rule('caps', 'welcome', 'event', '{"event": "signup", "points": 20}');
SELECT loyalty.create_program('other') > 0 AS ok;

-- a batch of five codes valid until July; the same batch again with two more
-- (a batch is a label: its codes may have their own points and validity)
SELECT loyalty.add_codes('caps', 'summer', ARRAY['A1', 'A2', 'A3', 'A4', 'A5'], 50, '2025-07-01 00:00+08') AS added;
SELECT loyalty.add_codes('caps', 'summer', ARRAY['B1', 'B2'], 80) AS added_later;
SELECT loyalty.add_codes('caps', 'winter', ARRAY['a1', 'A1 ', 'W1'], 10) AS case_and_spaces_count;
-- codes are per program: the same text in another program is another code
SELECT loyalty.add_codes('other', 'summer', ARRAY['A1'], 7) AS other_program;
SELECT * FROM loyalty.code_batches WHERE program IN ('caps', 'other') ORDER BY program, batch;
SELECT pg_temp.written();

-- add_codes: every bad argument is an error that adds nothing
SELECT pg_temp.fails($$SELECT loyalty.add_codes(NULL, 'x', ARRAY['Z1'], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('nope', 'x', ARRAY['Z1'], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', NULL, ARRAY['Z1'], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', '', ARRAY['Z1'], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', repeat('b', 201), ARRAY['Z1'], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', NULL, 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY[]::text[], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY[['Z1', 'Z2'], ['Z3', 'Z4']], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1', NULL, 'Z3'], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1', ''], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1', repeat('é', 201)], 5)$$);
SELECT loyalty.add_codes('caps', 'long', ARRAY[repeat('é', 200)], 5) AS two_hundred_characters_ok;
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1'], NULL)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1'], 0)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1'], -5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1'], 5, 'infinity')$$);
-- a code that exists (in this program), or one given twice: LY007 naming it, none added
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1', 'A3', 'Z2', 'A2'], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'x', ARRAY['Z1', 'Z2', 'Z3', 'Z2', 'Z1'], 5)$$);
SELECT pg_temp.fails($$SELECT loyalty.add_codes('caps', 'summer', ARRAY['B1'], 80)$$);
SELECT count(*) AS z_codes FROM loyalty.code c JOIN loyalty.program p ON p.id = c.program_id
WHERE p.code = 'caps' AND c.code LIKE 'Z%';

-- redeem_code: the first member gets the points, as an event of the batch
SELECT loyalty.enroll('caps', 'ann', '2025-01-01 09:00+08');
SELECT loyalty.redeem_code('caps', 'ann', 'A1', '2025-01-10 10:00+08') AS ann_a1;
SELECT loyalty.balance('caps', 'ann', '2025-01-11') AS ann_balance;
SELECT member, kind, points, balance_after, ref, detail FROM loyalty.statement
WHERE program = 'caps' AND member = 'ann' ORDER BY at, id;
-- the same member again, even after the code expired: the first answer, nothing written
SELECT pg_temp.written();
SELECT loyalty.redeem_code('caps', 'ann', 'A1', '2025-09-01 10:00+08') AS ann_a1_again;
SELECT pg_temp.written();
-- another member: LY008, nothing written (bob is not even enrolled)
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'bob', 'A1', '2025-01-12 10:00+08')$$);
-- an unknown code (case counts; another program's code is unknown here): LY009
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'bob', 'ZZ', '2025-01-12 10:00+08')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'bob', 'b1', '2025-01-12 10:00+08')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('other', 'bob', 'A2', '2025-01-12 10:00+08')$$);
-- expired: valid while at < valid_until (2025-07-01 00:00 Shanghai time)
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'bob', 'A2', '2025-07-01 00:00+08')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'bob', 'A2', '2025-08-01 00:00+08')$$);
-- the detail names both instants (the validity and the redemption's at)
DO $$BEGIN PERFORM loyalty.redeem_code('caps', 'bob', 'A2', '2025-08-01 00:00+08');
EXCEPTION WHEN OTHERS THEN
  DECLARE d text; BEGIN GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL; RAISE WARNING '%: %', SQLSTATE, d; END;
END$$;
SELECT count(*) AS bob_accounts FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
WHERE p.code = 'caps' AND a.member = 'bob';
-- an unknown member is enrolled (with its signup points), as earn does
SELECT loyalty.redeem_code('caps', 'bob', 'A2', '2025-06-30 23:59:59+08') AS bob_a2_last_second;
SELECT loyalty.balance('caps', 'bob', '2025-07-01') AS bob_signup_and_code;
SELECT member, kind, points, ref, detail FROM loyalty.statement
WHERE program = 'caps' AND member = 'bob' ORDER BY at, id;
-- the same code text in the other program is that program's code
SELECT loyalty.redeem_code('other', 'bob', 'A1', '2025-07-02') AS other_a1;

-- redeem_code's own argument errors: 22023, LY002; nothing written
SELECT pg_temp.fails($$SELECT loyalty.redeem_code(NULL, 'cat', 'A3', '2025-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('nope', 'cat', 'A3', '2025-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', NULL, 'A3', '2025-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', '', 'A3', '2025-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', repeat('m', 201), 'A3', '2025-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'cat', NULL, '2025-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'cat', '', '2025-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'cat', repeat('c', 201), '2025-02-01')$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'cat', 'A3', NULL)$$);
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'cat', 'A3', 'infinity')$$);
-- the credit's ref is 'code:' || code: taken by another operation of the member, LY005
SELECT loyalty.earn('caps', 'dan', 10, 'code:A3', '2025-02-01') AS dan_earn;
SELECT pg_temp.fails($$SELECT loyalty.redeem_code('caps', 'dan', 'A3', '2025-02-02')$$);
-- ... and the code is still there for another member
SELECT loyalty.redeem_code('caps', 'cat', 'A3', '2025-02-03 10:00+08') AS cat_a3;

-- it counts for tiers: 50 + 80 = 130 points crosses gold (100) inside the call
SELECT loyalty.tier_of('caps', 'ann', '2025-02-01') AS ann_before;
SELECT loyalty.redeem_code('caps', 'ann', 'B1', '2025-02-10 10:00+08') AS ann_b1;
SELECT loyalty.tier_of('caps', 'ann', '2025-02-11') AS ann_after,
       loyalty.balance('caps', 'ann', '2025-02-11') AS ann_balance;
SELECT member, from_tier, to_tier, reason FROM loyalty.tier_history WHERE program = 'caps' ORDER BY member, at;

-- it pushes rolling expiry: fay's code of 5 Feb keeps her signup and her
-- purchase of 1 Feb alive until 7 March 10:00 (5 Feb + 30 days), not 3 March
SELECT loyalty.earn('caps', 'fay', 40, 'o1', '2025-02-01 10:00+08') AS fay_earn;
SELECT loyalty.balance('caps', 'fay', '2025-03-02 10:00+08') AS fay_on_2_march;
SELECT loyalty.redeem_code('caps', 'fay', 'A4', '2025-02-05 10:00+08') AS fay_a4;
SELECT loyalty.balance('caps', 'fay', '2025-03-04 10:00+08') AS fay_on_4_march,
       loyalty.balance('caps', 'fay', '2025-03-07 09:59+08') AS fay_7_march_0959,
       loyalty.balance('caps', 'fay', '2025-03-07 10:00+08') AS fay_7_march_1000;

-- it repays debt first: eve spends, then her purchase is refunded
SELECT loyalty.earn('caps', 'eve', 100, 'e1', '2025-03-01 10:00+08') AS eve_earn;
SELECT loyalty.redeem('caps', 'eve', 100, 'e2', '2025-03-01 11:00+08') AS eve_left;
SELECT loyalty.refund('caps', 'eve', 'e1', 100, 'e3', '2025-03-01 12:00+08') AS eve_clawed_back;
SELECT loyalty.balance('caps', 'eve', '2025-03-01 13:00+08') AS eve_in_debt;
SELECT loyalty.redeem_code('caps', 'eve', 'B2', '2025-03-02 10:00+08') AS eve_b2;
SELECT loyalty.balance('caps', 'eve', '2025-03-02 11:00+08') AS eve_after_b2;
SELECT member, available, debt, lifetime_earned FROM loyalty.member_summary
WHERE program = 'caps' ORDER BY member;

-- the codes and the batches
SELECT quote_literal(c.code) AS code, c.batch, c.points, c.valid_until, c.used_by, c.used_at FROM loyalty.code c
JOIN loyalty.program p ON p.id = c.program_id
WHERE p.code = 'caps' AND length(c.code) < 10 ORDER BY c.code COLLATE "C";
SELECT * FROM loyalty.code_batches WHERE program IN ('caps', 'other') ORDER BY program, batch;
-- every code credit in the ledger: kind event, the batch as event, ref code:<code>
SELECT p.code AS program, l.member, l.kind, l.event, l.points, l.ref, l.qual_points
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code IN ('caps', 'other') AND l.ref LIKE 'code:%' AND l.kind = 'event' ORDER BY 1, 2, l.id;
SELECT * FROM loyalty.verify() WHERE program IN ('caps', 'other');

-- who may do what
SELECT has_function_privilege('loyalty_writer', 'loyalty.redeem_code(text, text, text, timestamptz)', 'EXECUTE') AS writer_redeems,
       has_function_privilege('loyalty_writer', 'loyalty.add_codes(text, text, text[], bigint, timestamptz)', 'EXECUTE') AS writer_adds,
       has_function_privilege('loyalty_admin', 'loyalty.add_codes(text, text, text[], bigint, timestamptz)', 'EXECUTE') AS admin_adds,
       has_function_privilege('loyalty_reader', 'loyalty.redeem_code(text, text, text, timestamptz)', 'EXECUTE') AS reader_redeems,
       has_table_privilege('loyalty_reader', 'loyalty.code_batches', 'SELECT') AS reader_batches,
       has_table_privilege('loyalty_writer', 'loyalty.code', 'SELECT') AS writer_reads_codes,
       has_table_privilege('loyalty_admin', 'loyalty.code', 'INSERT') AS admin_inserts_codes;
