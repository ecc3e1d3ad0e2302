# shellcheck shell=bash
# bench/suite_receipts.sh — what a receipt of 5 lines costs (issue #12):
# loyalty.earn_order with 5 lines (receipts_order.pgbench) beside the same 5
# lines as 5 one-line loyalty.earn calls in one transaction
# (receipts_five.pgbench), alternating, same members, same clients.  The
# report prints receipt_tps / five_tps: how many receipts go through per
# transaction of five earns (> 1: the receipt is cheaper than its lines as
# separate purchases; it also writes one ledger row and one lot, not five).
#
# Environment (defaults): BENCH_DB (loyalty_receipts), BENCH_MEMBERS (20000),
# BENCH_CLIENTS (2), BENCH_SECONDS (15), BENCH_ROUNDS (2).
# Sourced by bench.sh: bench/bench.sh receipts.
DB=${BENCH_DB:-loyalty_receipts}
MEMBERS=${BENCH_MEMBERS:-20000}
CLIENTS=${BENCH_CLIENTS:-2}
SECS=${BENCH_SECONDS:-15}
ROUNDS=${BENCH_ROUNDS:-2}
t0=$(date +%s)
say "== receipts: database $DB on port $PORT (loyalty $AVAIL), $MEMBERS members, $CLIENTS clients, logs in $OUT"
recreate_db "$DB"
"$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c 'CREATE EXTENSION loyalty' \
	-v members="$MEMBERS" -f "$HERE/receipts_setup.sql" | sed 's/^/   /'
alternate "$DB" receipts "order five" -D members="$MEMBERS"
echo "== result (a receipt of 5 lines / 5 one-line earns in one transaction)"
ratio order five "earn_order(5 lines) / 5 x earn"
"$PSQL" -X -q -At -d "$DB" -c "SELECT format('   verify(): %s problems', count(*)) FROM loyalty.verify()"
psql_pg -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
echo "== receipts done in $(($(date +%s) - t0))s"
