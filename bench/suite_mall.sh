# shellcheck shell=bash
# bench/suite_mall.sh — what a mall redemption costs (issue #13):
# loyalty.redeem_reward of a reward with a limited stock (mall_stock.pgbench:
# the member, then the program's one stock row, locked until commit by every
# client) and of an unlimited one (mall_unlimited.pgbench: no stock row)
# beside loyalty.redeem of the same 25 points (mall_redeem.pgbench),
# alternating, same clients, a fresh ref each.  The report prints
# stock_tps / redeem_tps and unlimited_tps / redeem_tps.
#
# Environment (defaults): BENCH_DB (loyalty_mall), BENCH_MEMBERS (2000),
# BENCH_CLIENTS (2), BENCH_SECONDS (15), BENCH_ROUNDS (2).
# Sourced by bench.sh: bench/bench.sh mall.
DB=${BENCH_DB:-loyalty_mall}
MEMBERS=${BENCH_MEMBERS:-2000}
CLIENTS=${BENCH_CLIENTS:-2}
SECS=${BENCH_SECONDS:-15}
ROUNDS=${BENCH_ROUNDS:-2}
t0=$(date +%s)
say "== mall: database $DB on port $PORT (loyalty $AVAIL), $MEMBERS members, $CLIENTS clients, logs in $OUT"
recreate_db "$DB"
"$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c 'CREATE EXTENSION loyalty' \
	-v members="$MEMBERS" -f "$HERE/mall_setup.sql" | sed 's/^/   /'
alternate "$DB" mall "stock unlimited redeem" -D members="$MEMBERS"
echo "== result (redeem_reward / redeem of the same points)"
ratio stock redeem "redeem_reward, limited stock / redeem"
ratio unlimited redeem "redeem_reward, unlimited / redeem"
"$PSQL" -X -q -At -d "$DB" -c "SELECT format('   glass: %s redeemed, %s left; verify(): %s problems', quantity, stock_left, (SELECT count(*) FROM loyalty.verify())) FROM loyalty.reward_stats WHERE reward = 'glass'"
psql_pg -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
echo "== mall done in $(($(date +%s) - t0))s"
