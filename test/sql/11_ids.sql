-- Ids of a member's rows are the member's own sequence (0.4.0, issue #11):
-- 1, 2, ... in the order the rows were written, whatever other members do in
-- between, for the ledger, the lots and the tier history; a failed call takes
-- no id; the nightly expiry (a batch over many members) and the tier
-- evaluation continue each member's sequence.
\i test/sql/preamble.psql

SELECT loyalty.create_program('ids', expiry => 'fixed', expiry_after => '1 year',
                              tier_window => 'calendar_year') > 0 AS ok;
SELECT loyalty.add_tier('ids', 'basic', 0);
SELECT loyalty.add_tier('ids', 'gold', 500, 2);
SELECT loyalty.add_rule('ids', 'ref', 'referral', '{"referrer_points": 30, "referee_points": 20}');
SELECT loyalty.add_rule('ids', 'hello', 'event', '{"event": "hello", "points": 5}');

-- interleaved operations of three members
SELECT loyalty.enroll('ids', 'ann', '2026-01-01');
SELECT loyalty.enroll('ids', 'bob', '2026-01-01', referred_by => 'ann');
SELECT loyalty.earn('ids', 'ann', 300, 'a1', '2026-01-02');
SELECT loyalty.earn('ids', 'bob', 600, 'b1', '2026-01-03');       -- pays ann, makes bob gold
SELECT loyalty.earn('ids', 'cy', 100, 'c1', '2026-01-03');        -- enrolled by the earning
SELECT loyalty.redeem('ids', 'ann', 10, 'a2', '2026-01-04');
SELECT pg_temp.err($$SELECT loyalty.redeem('ids', 'cy', 10000, 'c2', '2026-01-04')$$);  -- LY001, no id
SELECT loyalty.transfer('ids', 'bob', 'cy', 50, 't1', '2026-01-05');
SELECT loyalty.record_event('ids', 'cy', 'hello', 'c3', '2026-01-05');
SELECT loyalty.refund('ids', 'bob', 'b1', 300, 'b2', '2026-01-06'); -- claws ann's payout too
SELECT loyalty.adjust('ids', 'ann', -5, 'fix', 'a3', '2026-01-07');
SELECT loyalty.earn('ids', 'ann', 300, 'a1', '2026-01-02') AS replay_takes_no_id;
CALL loyalty.expire_points('2027-06-01');
CALL loyalty.evaluate_tiers('2028-01-01');

-- every member's ids are 1..n, in the order written (refs and kinds in id order)
SELECT l.member, array_agg(l.id ORDER BY l.id) AS ids,
       array_agg(l.kind || coalesce(':' || l.ref, '') ORDER BY l.id) AS rows
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'ids' GROUP BY l.member ORDER BY l.member;
SELECT l.member, array_agg(l.id ORDER BY l.id) AS lot_ids,
       array_agg(l.source ORDER BY l.id) AS sources
FROM loyalty.lot l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'ids' GROUP BY l.member ORDER BY l.member;
SELECT c.member, array_agg(c.id ORDER BY c.id) AS change_ids,
       array_agg(c.from_tier || '>' || c.to_tier ORDER BY c.id) AS changes
FROM loyalty.tier_change c JOIN loyalty.program p ON p.id = c.program_id
WHERE p.code = 'ids' GROUP BY c.member ORDER BY c.member;
-- each ledger row's lot is the member's own
SELECT count(*) AS lots_of_others
FROM loyalty.ledger e JOIN loyalty.program p ON p.id = e.program_id
WHERE p.code = 'ids' AND e.lot_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM loyalty.lot l WHERE l.program_id = e.program_id
                  AND l.member = e.member AND l.id = e.lot_id);
SELECT * FROM loyalty.verify();

-- the referrer is read with a fresh snapshot: enrolled and earning in one
-- statement, the referee's first purchase still pays it
SELECT loyalty.enroll('ids', 'dee', '2026-02-01', referred_by => 'ann') IS NULL AS enrolled,
       loyalty.earn('ids', 'dee', 100, 'd1', '2026-02-02') AS earned;
SELECT e.member, e.kind, e.points, e.counterparty, e.reason
FROM loyalty.ledger e JOIN loyalty.program p ON p.id = e.program_id
WHERE p.code = 'ids' AND e.kind = 'referral' AND (e.member = 'dee' OR e.counterparty = 'dee')
ORDER BY e.member, e.id;
