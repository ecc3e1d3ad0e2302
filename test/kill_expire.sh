#!/usr/bin/env bash
# kill_expire.sh — crash/cancel test of CALL loyalty.expire_points.
#
# SPEC §4: the scheduled procedures "commit per batch when called at top
# level", "are idempotent", "resume cleanly after a crash or cancel in the
# middle"; "Expiring writes one expire ledger row per expired lot".  §7:
# verify() returns no rows.
#
# Uses the running server given by the environment (PGHOST, PGPORT, PGUSER,
# PGDATABASE, as pg_virtualenv sets them); creates (and at the end drops) its
# own database.  Two programs of 20000 members x 5 purchases = 100000 lots
# each, made with loyalty.earn:
#   kill_a: lots expire in 2025 -> round 1 expires them as of 2026-01-01;
#   kill_b: lots expire in 2027 -> round 2 expires them as of 2028-01-01.
# Round 1 (cancel): another session holds the account lock of a member in
#   the middle of the expiry order, so the run commits the batches before it
#   and then waits; pg_terminate_backend (SIGTERM) ends it there.
# Round 2 (crash): the run is left alone until some lots are expired, then
#   its backend gets kill -9 (the postmaster restarts the whole server; we
#   wait for pg_isready).  Without the right to signal the backend (a remote
#   server, another OS user) it falls back to pg_terminate_backend.
# After each kill: the committed batches are still there and consistent, a
# rerun with the same as_of expires every lot exactly once, verify() is
# empty, and another rerun changes nothing.
#
# Prints TAP; exits non-zero when a test fails.  KILL_EXPIRE_DB names the
# database (default loyalty_kill_expire); KILL_EXPIRE_KEEP=1 keeps it.
set -u

DB=${KILL_EXPIRE_DB:-loyalty_kill_expire}
MEMBERS=20000
PURCHASES=5
LOTS=$((MEMBERS * PURCHASES))
BATCH=1000
RUN_APP=loyalty_kill_expire_run
BLOCK_APP=loyalty_kill_expire_blocker
SENTINEL_APP=loyalty_kill_expire_sentinel
TMP=$(mktemp -d)
T0=$SECONDS
n=0
failed=0

echo "1..19"

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag() { sed 's/^/# /' <<<"$*"; }
bail() { echo "Bail out! $*"; cleanup_bg; exit 1; }

# psql on the test database: one value per line, errors are fatal to the call
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

# check DESCRIPTION SQL: the SQL returns one boolean
check() {
	local got
	got=$(q "$2" 2>&1)
	if [ "$got" = "t" ]; then ok "$1"; else not_ok "$1"; diag "$2"; diag "got: $got"; fi
}

bg_pids=()
cleanup_bg() {
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	bg_pids=()
}
trap 'cleanup_bg; rm -rf "$TMP"' EXIT

wait_ready() {
	local i
	for i in $(seq 1 120); do
		if pg_isready -q -d "$DB" && q "SELECT 1" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	return 1
}

# the pid of the backend of the session with application_name $1 (empty if none)
backend_of() {
	q "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND datname = current_database()" 2>/dev/null | head -1
}

# ---------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null \
	|| bail "cannot create database $DB (is a server running? PGHOST=${PGHOST:-} PGPORT=${PGPORT:-})"
q "CREATE EXTENSION loyalty" >/dev/null || bail "CREATE EXTENSION loyalty failed"

t=$SECONDS
q "SET client_min_messages = warning;
   SELECT loyalty.create_program('kill_a', expiry => 'fixed', expiry_after => '1 year');
   SELECT loyalty.add_tier('kill_a', 'base', 0);
   SELECT loyalty.create_program('kill_b', expiry => 'fixed', expiry_after => '1 year');
   SELECT loyalty.add_tier('kill_b', 'base', 0);" >/dev/null || bail "creating the programs failed"
# member g's purchases are k seconds after its minute g, so in expiry order
# each member's 5 lots come together and a batch of 1000 lots is 200 members.
# The two programs are filled by two sessions at once.
earn_pids=()
for prog in kill_a:2024 kill_b:2026; do
	code=${prog%%:*}
	year=${prog##*:}
	q "SELECT count(loyalty.earn('$code', 'm' || g, 10 + k, 'o' || k,
	          timestamptz '$year-01-01 00:00+00' + g * interval '1 minute' + k * interval '1 second'))
	   FROM generate_series(1, $MEMBERS) g, generate_series(1, $PURCHASES) k" >"$TMP/earn_$code.log" 2>&1 &
	earn_pids+=($!)
done
for p in "${earn_pids[@]}"; do wait "$p" || bail "earn failed: $(cat "$TMP"/earn_*.log)"; done
for code in kill_a kill_b; do
	[ "$(cat "$TMP/earn_$code.log")" = "$LOTS" ] || bail "earn for $code: $(cat "$TMP/earn_$code.log")"
done
q "ANALYZE" >/dev/null
check "setup: 2 programs x $LOTS lots earned with loyalty.earn in $((SECONDS - t)) s, verify() empty" \
	"SELECT (SELECT count(*) FROM loyalty.lot) = 2 * $LOTS
	    AND (SELECT count(*) FROM loyalty.lot WHERE expires_at IS NULL) = 0
	    AND NOT EXISTS (SELECT FROM loyalty.verify())"

# ---------------------------------------------------------------------------
# the assertions after a kill: program $1, as_of $2, round name $3
# ---------------------------------------------------------------------------
expire_count() {
	q "SELECT count(*) FROM loyalty.ledger g JOIN loyalty.program p ON p.id = g.program_id
	   WHERE p.code = '$1' AND g.kind = 'expire'"
}

check_partial() {
	local prog=$1 round=$3 done_
	done_=$(expire_count "$prog")
	if [ -n "$done_" ] && [ "$done_" -gt 0 ] && [ "$done_" -lt "$LOTS" ]; then
		ok "$round: the killed run left $done_ of $LOTS lots expired (committed batches kept)"
	else
		not_ok "$round: the killed run left some but not all lots expired"
		diag "expire rows of $prog after the kill: '$done_'"
	fi
	check "$round: after the kill no lot has two expire rows, expired lots are empty, verify() empty" \
		"SELECT NOT EXISTS (SELECT FROM loyalty.ledger WHERE kind = 'expire'
		                     GROUP BY program_id, member, lot_id HAVING count(*) > 1)
		    AND NOT EXISTS (SELECT FROM loyalty.ledger g JOIN loyalty.lot l
		                      ON l.program_id = g.program_id AND l.member = g.member AND l.id = g.lot_id
		                    WHERE g.kind = 'expire' AND l.remaining <> 0)
		    AND NOT EXISTS (SELECT FROM loyalty.verify())"
}

check_rerun() {
	local prog=$1 as_of=$2 round=$3 t out
	t=$SECONDS
	if out=$(q "CALL loyalty.expire_points('$as_of', $BATCH)" 2>&1); then
		ok "$round: rerun CALL loyalty.expire_points('$as_of', $BATCH) finished in $((SECONDS - t)) s"
	else
		not_ok "$round: rerun CALL loyalty.expire_points('$as_of', $BATCH)"
		diag "$out"
	fi
	check "$round: $LOTS expire rows for $prog" \
		"SELECT count(*) = $LOTS FROM loyalty.ledger g JOIN loyalty.program p ON p.id = g.program_id
		 WHERE p.code = '$prog' AND g.kind = 'expire'"
	check "$round: no lot with remaining > 0 and expires_at <= as_of" \
		"SELECT NOT EXISTS (SELECT FROM loyalty.lot WHERE remaining > 0 AND expires_at <= '$as_of')"
	check "$round: no lot has two expire rows; each expire row takes its whole lot at its expires_at" \
		"SELECT NOT EXISTS (SELECT FROM loyalty.ledger WHERE kind = 'expire'
		                     GROUP BY program_id, member, lot_id HAVING count(*) > 1)
		    AND NOT EXISTS (SELECT FROM loyalty.ledger g JOIN loyalty.program p ON p.id = g.program_id
		                    LEFT JOIN loyalty.lot l
		                      ON l.program_id = g.program_id AND l.member = g.member AND l.id = g.lot_id
		                    WHERE p.code = '$prog' AND g.kind = 'expire'
		                      AND (l.id IS NULL OR g.points <> -l.points OR g.at <> l.expires_at))
		    AND (SELECT count(DISTINCT (g.member, g.lot_id)) FROM loyalty.ledger g
		           JOIN loyalty.program p ON p.id = g.program_id
		          WHERE p.code = '$prog' AND g.kind = 'expire') = $LOTS"
	check "$round: verify() empty, every $prog member's balance 0 as of $as_of" \
		"SELECT NOT EXISTS (SELECT FROM loyalty.verify())
		    AND (SELECT count(*) FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
		          WHERE p.code = '$prog' AND loyalty.balance('$prog', a.member, '$as_of') = 0) = $MEMBERS"
	q "CALL loyalty.expire_points('$as_of', $BATCH)" >/dev/null 2>&1
	check "$round: another rerun with the same as_of changes nothing" \
		"SELECT count(*) = $LOTS FROM loyalty.ledger g JOIN loyalty.program p ON p.id = g.program_id
		 WHERE p.code = '$prog' AND g.kind = 'expire'"
}

# start the run in the background; sets run_bg (psql pid) and run_pid (backend pid)
start_run() {
	local as_of=$1 i
	PGAPPNAME=$RUN_APP psql -X -q -v ON_ERROR_STOP=1 -d "$DB" \
		-c "CALL loyalty.expire_points('$as_of', $BATCH)" >"$TMP/run.log" 2>&1 &
	run_bg=$!
	bg_pids+=("$run_bg")
	run_pid=
	for i in $(seq 1 200); do
		run_pid=$(backend_of "$RUN_APP")
		[ -n "$run_pid" ] && return 0
		kill -0 "$run_bg" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

echo "# setup done at $((SECONDS - T0)) s"

# ---------------------------------------------------------------------------
# round 1: cancel (pg_terminate_backend) while the run waits in the middle
# ---------------------------------------------------------------------------
AS_OF1='2026-01-01 00:00+00'
round="SIGTERM"
# m10000's lots are lots 49996..50000 in expiry order: hold its account lock
PGAPPNAME=$BLOCK_APP psql -X -q -d "$DB" \
	-c "BEGIN" \
	-c "SELECT 1 FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
	    WHERE p.code = 'kill_a' AND a.member = 'm10000' FOR UPDATE OF a" \
	-c "SELECT pg_sleep(120)" -c "COMMIT" >"$TMP/blocker.log" 2>&1 &
blk_bg=$!
bg_pids+=("$blk_bg")
for i in $(seq 1 200); do
	[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$BLOCK_APP'
	        AND query LIKE 'SELECT pg_sleep%'")" = 1 ] && break
	sleep 0.05
done

t=$SECONDS
start_run "$AS_OF1" || bail "$round: the expire_points session did not start: $(cat "$TMP/run.log")"
# wait until the run is blocked on the held lock (the batches before it committed)
blocked=
for i in $(seq 1 1200); do
	if [ "$(q "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $run_pid")" = "Lock" ]; then
		blocked=1
		break
	fi
	kill -0 "$run_bg" 2>/dev/null || break
	sleep 0.05
done
before=$(expire_count kill_a)
killed=$(q "SELECT pg_terminate_backend($run_pid)")
wait "$run_bg"
rc=$?
if [ -n "$blocked" ] && [ "$killed" = "t" ] && [ "$rc" -ne 0 ]; then
	ok "$round: run blocked mid-run after $((SECONDS - t)) s with $before lots expired; pg_terminate_backend ended it (psql exit $rc)"
else
	not_ok "$round: run blocked mid-run and pg_terminate_backend ended it"
	diag "blocked='$blocked' terminated='$killed' psql exit=$rc expired=$before"
	diag "$(cat "$TMP/run.log")"
fi
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$BLOCK_APP'" >/dev/null
wait "$blk_bg" 2>/dev/null
bg_pids=()
check_partial kill_a "$AS_OF1" "$round"
check_rerun kill_a "$AS_OF1" "$round"

echo "# round 1 done at $((SECONDS - T0)) s"

# ---------------------------------------------------------------------------
# round 2: kill -9 of the backend while it expires
# ---------------------------------------------------------------------------
AS_OF2='2028-01-01 00:00+00'
round="kill -9"
# a sentinel session: the postmaster ends it too when it restarts after the
# crash; its backend also tells whether we may signal the server's processes
PGAPPNAME=$SENTINEL_APP psql -X -q -d "$DB" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
sentinel_bg=$!
bg_pids+=("$sentinel_bg")
sentinel_pid=
for i in $(seq 1 200); do
	sentinel_pid=$(backend_of "$SENTINEL_APP")
	[ -n "$sentinel_pid" ] && break
	sleep 0.05
done
can_kill=
if [ -n "$sentinel_pid" ] && kill -0 "$sentinel_pid" 2>/dev/null \
	&& grep -q postgres "/proc/$sentinel_pid/cmdline" 2>/dev/null; then
	can_kill=1
else
	round="SIGTERM (cannot kill -9 the server's processes from here)"
	q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$SENTINEL_APP'" >/dev/null
fi
t=$SECONDS
start_run "$AS_OF2" || bail "$round: the expire_points session did not start: $(cat "$TMP/run.log")"
# let it commit a good share of batches, then kill it
seen=0
for i in $(seq 1 2000); do
	seen=$(expire_count kill_b)
	[ "${seen:-0}" -ge $((LOTS / 5)) ] && break
	kill -0 "$run_bg" 2>/dev/null || break
	sleep 0.01
done
if [ -n "$can_kill" ]; then
	kill -9 "$run_pid"
	killrc=$?
else
	[ "$(q "SELECT pg_terminate_backend($run_pid)")" = t ]
	killrc=$?
fi
wait "$run_bg"
rc=$?
tk=$SECONDS
restarted=1
if [ -n "$can_kill" ]; then
	# the whole server restarts: wait until the sentinel's backend is gone too
	restarted=
	for i in $(seq 1 600); do
		kill -0 "$sentinel_bg" 2>/dev/null || { restarted=1; break; }
		sleep 0.05
	done
fi
bg_pids=()
if [ -n "$restarted" ] && wait_ready; then
	if [ "$killrc" -eq 0 ] && [ "$rc" -ne 0 ]; then
		ok "$round: killed the run's backend after $((tk - t)) s with >= $seen lots expired (psql exit $rc); server accepting connections again after $((SECONDS - tk)) s"
	else
		not_ok "$round: killed the run's backend mid-run"
		diag "kill exit=$killrc psql exit=$rc expired when killed=$seen"
		diag "$(cat "$TMP/run.log")"
	fi
else
	not_ok "$round: server restarted and back after the kill"
	bail "server did not restart and come back within 60 s"
fi
check_partial kill_b "$AS_OF2" "$round"
check_rerun kill_b "$AS_OF2" "$round"

if [ "${KILL_EXPIRE_KEEP:-0}" != 1 ]; then
	psql -X -q -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
fi
echo "# $n tests, $failed failed, $((SECONDS - T0)) s"
[ "$n" -eq 19 ] || { echo "# planned 19 tests, ran $n"; exit 1; }
[ "$failed" -eq 0 ]
