-- The views and their parts (0.4.0, issue #11): every view combines its part
-- loyalty._part_<view> (one node: one part, the view folds into it); on a
-- Citus coordinator loyalty.distribute() points the views at foreign tables
-- of the loyalty_parts wrapper (test/citus.sh runs that).  Here: the parts
-- and the views agree, filters still reach the tables on one node, and the
-- wrapper refuses what it is not made for.
\i test/sql/preamble.psql

SELECT loyalty.create_program('parts', expiry => 'fixed', expiry_after => '1 year') > 0 AS ok;
SELECT loyalty.add_tier('parts', 'basic', 0);
SELECT loyalty.add_tier('parts', 'gold', 500, 2, 50);
SELECT loyalty.add_rule('parts', 'big', 'bonus', '{"points": 7, "min_amount": 300}');
SELECT loyalty.earn('parts', 'm' || i, 100 * i, 'p' || i, '2026-01-01'::timestamptz + i * interval '1 day')
FROM generate_series(1, 12) i;
SELECT loyalty.redeem('parts', 'm5', 100, 'r5', '2026-02-01');

-- every view has its part, and the program-wide views are the sums of their parts
SELECT v.relname AS view, p.relname IS NOT NULL AS has_part
FROM pg_class v LEFT JOIN pg_class p ON p.relname = '_part_' || v.relname AND p.relnamespace = v.relnamespace
WHERE v.relnamespace = 'loyalty'::regnamespace AND v.relkind = 'v' AND v.relname NOT LIKE '\_%'
ORDER BY 1;
SELECT l.outstanding_points = p.outstanding AND l.earned = p.earned AND l.redeemed = p.redeemed AS liability_adds_up,
       l.outstanding_value, round(p.value, 2) AS part_value
FROM loyalty.liability l JOIN loyalty._part_liability p USING (program) WHERE program = 'parts';
SELECT (SELECT count(*) FROM loyalty.leaderboard WHERE program = 'parts') AS leaderboard_rows,
       (SELECT max(rank) FROM loyalty.leaderboard WHERE program = 'parts') AS max_rank,
       (SELECT string_agg(member, ',' ORDER BY rank) FROM loyalty.leaderboard WHERE program = 'parts') AS ranked;
SELECT * FROM loyalty.rule_stats WHERE program = 'parts';
SELECT * FROM loyalty.tier_distribution WHERE program = 'parts' ORDER BY tier;

-- on one node a member filter still reaches the ledger's index (no scan of everyone)
CREATE FUNCTION pg_temp.plan_lines(q text) RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP RETURN NEXT l; END LOOP;
END $f$;
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE line ~ 'Index') > 0 AS uses_an_index,
       count(*) FILTER (WHERE line ~ 'Seq Scan on ledger') AS ledger_seq_scans
FROM pg_temp.plan_lines($$SELECT * FROM loyalty.statement WHERE program = 'parts' AND member = 'm3'$$) AS line;
RESET enable_seqscan;

-- the wrapper: only a foreign table's part option, naming one of the views
SELECT pg_temp.err($$CREATE FOREIGN TABLE pg_temp.x (a int) SERVER loyalty_parts OPTIONS (part 'ledger')$$);
SELECT pg_temp.err($$CREATE FOREIGN TABLE pg_temp.x (a int) SERVER loyalty_parts OPTIONS (query 'SELECT 1')$$);
SELECT pg_temp.err($$CREATE SERVER loyalty_parts2 FOREIGN DATA WRAPPER loyalty_parts OPTIONS (host 'x')$$);
SELECT pg_temp.err($$CREATE FOREIGN TABLE pg_temp.x (a int) SERVER loyalty_parts$$);
SELECT pg_temp.err($$SELECT * FROM pg_temp.x$$);  -- no part option
DROP FOREIGN TABLE pg_temp.x;
-- a foreign table made by hand on a single node: refused, it serves Citus only
CREATE FOREIGN TABLE pg_temp.y (program text) SERVER loyalty_parts OPTIONS (part 'statement');
SELECT pg_temp.err($$SELECT * FROM pg_temp.y$$);
SELECT pg_temp.err($$EXPLAIN SELECT * FROM pg_temp.y$$);
DROP FOREIGN TABLE pg_temp.y;

-- nobody but the owner may use the wrapper or its server
SELECT has_foreign_data_wrapper_privilege('loyalty_admin', 'loyalty_parts', 'USAGE') AS admin_fdw,
       has_server_privilege('loyalty_admin', 'loyalty_parts', 'USAGE') AS admin_server,
       has_table_privilege('loyalty_reader', 'loyalty._part_statement', 'SELECT') AS reader_part;
