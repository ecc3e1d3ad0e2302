# shellcheck shell=bash
# bench/suite_codes.sh — what a bottle cap costs (issue #12): loading a batch
# of BENCH_CODES codes with one add_codes call (timed once), then
# loyalty.redeem_code of the next unused code by a random member
# (codes_redeem.pgbench) beside loyalty.record_event crediting the same 25
# points with a fresh ref (codes_event.pgbench), alternating, same clients.
# The report prints redeem_tps / event_tps: a code is an event credit plus
# one code row read, locked and marked used.
#
# Environment (defaults): BENCH_DB (loyalty_codes), BENCH_MEMBERS (20000),
# BENCH_CODES (1000000), BENCH_CLIENTS (2), BENCH_SECONDS (15), BENCH_ROUNDS (2).
# Sourced by bench.sh: bench/bench.sh codes.
DB=${BENCH_DB:-loyalty_codes}
MEMBERS=${BENCH_MEMBERS:-20000}
CODES=${BENCH_CODES:-1000000}
CLIENTS=${BENCH_CLIENTS:-2}
SECS=${BENCH_SECONDS:-15}
ROUNDS=${BENCH_ROUNDS:-2}
t0=$(date +%s)
say "== codes: database $DB on port $PORT (loyalty $AVAIL), $MEMBERS members, $CODES codes, $CLIENTS clients, logs in $OUT"
recreate_db "$DB"
"$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c 'CREATE EXTENSION loyalty' \
	-v members="$MEMBERS" -v codes="$CODES" -f "$HERE/codes_setup.sql" | sed 's/^/   /'
alternate "$DB" codes "redeem event" -D members="$MEMBERS"
echo "== result (redeem_code of a fresh code / record_event of the same points)"
ratio redeem event "redeem_code / record_event"
"$PSQL" -X -q -At -d "$DB" -c "SELECT format('   codes used: %s of %s; verify(): %s problems', used, codes, (SELECT count(*) FROM loyalty.verify())) FROM loyalty.code_batches"
psql_pg -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
echo "== codes done in $(($(date +%s) - t0))s"
