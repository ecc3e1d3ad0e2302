# shellcheck shell=bash
# bench/suite_lots.sh — does an operation's cost depend on how many lots the
# member holds?  (issue #9: earn for a rolling-expiry member holding 10,000
# lots beside one holding 10; redeem with 10,000 open lots beside 10.)
#
# lots_setup.sql makes programs `roll` (rolling expiry) and `fix` (fixed
# expiry), each with member `big` (BENCH_LOTS lots) and `small` (10 lots),
# through loyalty.earn (bench/loader.sql load_calls).
# Phases alternate small/big for each operation, one pgbench client (one
# member's operations are serialised by its row lock anyway), -M prepared:
#   earn   loyalty.earn(roll, member, 10, ...) at now(): pushes the rolling expiry
#   redeem loyalty.redeem(fix, member, 1, ...) at now()
# and the report prints big_tps / small_tps per operation (1.0: the lot count
# costs nothing).  The tables are not reset between phases: big gains a lot
# per earn, which changes nothing at this scale.
#
# Environment (defaults): BENCH_DB (loyalty_lots), BENCH_LOTS (10000),
# BENCH_SECONDS (15), BENCH_ROUNDS (2).  Sourced by bench.sh: bench/bench.sh lots.
DB=${BENCH_DB:-loyalty_lots}
LOTS=${BENCH_LOTS:-10000}
SECS=${BENCH_SECONDS:-15}
ROUNDS=${BENCH_ROUNDS:-2}
t0=$(date +%s)
say "== lots: database $DB on port $PORT (loyalty $AVAIL), big holds $LOTS lots, logs in $OUT"
recreate_db "$DB"
"$PSQL" -X -q -At -v ON_ERROR_STOP=1 -v lots="$LOTS" -d "$DB" -f "$HERE/lots_setup.sql" | grep '^ '
RESULTS="$OUT/results.tsv"
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
	for op in earn:roll redeem:fix; do
		for member in small big; do
			kind=${op%%:*} prog=${op##*:}
			log="$OUT/$round-$kind-$member.log"
			"$PGBENCH" -n -M prepared -c 1 -j 1 -T "$SECS" -D prog="$prog" -D member="$member" \
				-f "$HERE/lots_$kind.pgbench" "$DB" >"$log" 2>&1 || { tail -5 "$log" >&2; die "pgbench failed, see $log"; }
			tps=$(pgbench_field "$log" tps)
			lat=$(pgbench_field "$log" latency)
			printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$kind" "$member" "$tps" "$lat" >>"$RESULTS"
			printf '   round %d %-6s %-5s tps %9.1f  latency %7.3f ms\n' "$round" "$kind" "$member" "$tps" "$lat"
		done
	done
done
echo "== result (big holds $LOTS lots, small 10)"
awk -F'\t' '{ s[$2 " " $3] += $4; n[$2 " " $3]++ }
	END { for (i = 1; i <= 2; i++) { k = (i == 1 ? "earn" : "redeem")
	        printf "   %-6s small %8.1f tps  big %8.1f tps  ratio big/small = %.3f\n", k,
	               s[k " small"] / n[k " small"], s[k " big"] / n[k " big"],
	               (s[k " big"] / n[k " big"]) / (s[k " small"] / n[k " small"]) } }' "$RESULTS"
"$PSQL" -X -q -At -d "$DB" -c "SELECT format('   verify(): %s problems', count(*)) FROM loyalty.verify()"
psql_pg -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
echo "== lots done in $(($(date +%s) - t0))s"
