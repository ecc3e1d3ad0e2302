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
RESULTS="$OUT/results.tsv"
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
	for kind in order five; do
		log="$OUT/$round-$kind.log"
		"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -D members="$MEMBERS" \
			-f "$HERE/receipts_$kind.pgbench" "$DB" >"$log" 2>&1 || { tail -5 "$log" >&2; die "pgbench failed, see $log"; }
		tps=$(pgbench_field "$log" tps)
		lat=$(pgbench_field "$log" latency)
		printf '%s\t%s\t%s\t%s\n' "$round" "$kind" "$tps" "$lat" >>"$RESULTS"
		printf '   round %d %-6s tps %9.1f  latency %7.3f ms\n' "$round" "$kind" "$tps" "$lat"
	done
done
echo "== result (a receipt of 5 lines / 5 one-line earns in one transaction)"
awk -F'\t' '{ s[$2] += $3; n[$2]++ }
	END { printf "   earn_order(5 lines) %8.1f tps  5 x earn %8.1f tps  ratio = %.3f\n",
	             s["order"] / n["order"], s["five"] / n["five"], (s["order"] / n["order"]) / (s["five"] / n["five"]) }' "$RESULTS"
"$PSQL" -X -q -At -d "$DB" -c "SELECT format('   verify(): %s problems', count(*)) FROM loyalty.verify()"
psql_pg -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
echo "== receipts done in $(($(date +%s) - t0))s"
