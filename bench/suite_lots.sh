#!/usr/bin/env bash
# bench/lots.sh — does an operation's cost depend on how many lots the
# member holds?  (issue #9: earn for a rolling-expiry member holding 10,000
# lots beside one holding 10; redeem with 10,000 open lots beside 10.)
#
# lots_setup.sql makes programs `roll` (rolling expiry) and `fix` (fixed
# expiry), each with member `big` (BENCH_LOTS lots) and `small` (10 lots).
# Phases alternate small/big for each operation, one pgbench client (one
# member's operations are serialised by its row lock anyway), -M prepared:
#   earn   loyalty.earn(roll, member, 10, ...) at now(): pushes the rolling expiry
#   redeem loyalty.redeem(fix, member, 1, ...) at now()
# and the report prints big_tps / small_tps per operation (1.0: the lot count
# costs nothing).  The tables are not reset between phases: big gains a lot
# per earn, which changes nothing at this scale.
#
# Environment (defaults): BENCH_PORT (PGPORT or 5499), BENCH_DB (loyalty_lots),
# BENCH_LOTS (10000), BENCH_SECONDS (15), BENCH_ROUNDS (2), BENCH_OUT (mktemp -d).
# Run as root, it re-runs itself as the postgres OS user.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$(id -u)" = 0 ] && [ -z "${PGUSER:-}" ] && id postgres >/dev/null 2>&1; then
	exec runuser -u postgres -- bash "$HERE/lots.sh" "$@"
fi
PORT=${BENCH_PORT:-${PGPORT:-5499}}
DB=${BENCH_DB:-loyalty_lots}
LOTS=${BENCH_LOTS:-10000}
SECS=${BENCH_SECONDS:-15}
ROUNDS=${BENCH_ROUNDS:-2}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/loyalty-lots.XXXXXX)}
BINDIR=$(pg_config --bindir 2>/dev/null || true)
bin() { if [ -n "$BINDIR" ] && [ -x "$BINDIR/$1" ]; then echo "$BINDIR/$1"; else echo "$1"; fi; }
PSQL=$(bin psql)
PGBENCH=$(bin pgbench)
export PGPORT=$PORT
# the set-up writes lot and ledger rows directly (README "Backup and restore")
export PGOPTIONS="${PGOPTIONS:-} -c loyalty.maintenance=on"
t0=$(date +%s)
VERSION=$("$PSQL" -X -Atq -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'loyalty'")
echo "== setup: database $DB on port $PORT (loyalty $VERSION), big holds $LOTS lots"
"$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null
"$PSQL" -X -q -d postgres -c "CREATE DATABASE $DB"
"$PSQL" -X -q -At -v ON_ERROR_STOP=1 -v lots="$LOTS" -d "$DB" -f "$HERE/lots_setup.sql" | grep '^ '
RESULTS="$OUT/results.tsv"
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
	for op in earn:roll redeem:fix; do
		for member in small big; do
			kind=${op%%:*} prog=${op##*:}
			log="$OUT/$round-$kind-$member.log"
			"$PGBENCH" -n -M prepared -c 1 -j 1 -T "$SECS" -D prog="$prog" -D member="$member" \
				-f "$HERE/lots_$kind.pgbench" "$DB" >"$log" 2>&1 || { tail -5 "$log" >&2; exit 1; }
			tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log")
			lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$log")
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
echo "== done in $(($(date +%s) - t0))s; logs in $OUT"
