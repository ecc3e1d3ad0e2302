#!/usr/bin/env bash
# fuzz.sh — the loyalty fuzzer (issue 8): random statement sequences through
# the SQL API and against tracked orders tables, random back-dated
# operations, sweeps at random as_of.  Per seed two databases run the same
# statements: fuzz_a also runs the scheduled procedures, fuzz_b (the twin)
# never does.  Checked: no server crash; no internal error (class XX) or
# hang; loyalty.verify() empty; fuzz_a and fuzz_b agree on every statement's
# SQLSTATE and result and, at every check, on balances at many instants,
# tiers and the ledger (without the expiry rows).  See test/fuzz/README.md.
#
# Runs against the server in the environment (PGHOST, PGPORT, PGUSER as
# pg_virtualenv sets them); creates fuzz_gen, fuzz_a and fuzz_b (dropped at
# the end unless FUZZ_KEEP=1).  Prints TAP; exits non-zero on a failure.
#
#   FUZZ_SEED=7 | FUZZ_SEED=3,9   the seeds (default 1,2,...,9)
#   FUZZ_ITERATIONS=200           that many seeds from the first one
#   FUZZ_STEPS=150                operations per seed
#   FUZZ_CHECK_EVERY=25           a check every that many operations
#   FUZZ_NOW='2026-01-01 00:00:00+00'  the seed's "now" (reproducers)
#   FUZZ_SKIP_ORDERS=1            no orders tables
#   FUZZ_SKIP_SWEEPS=1            no scheduled procedures in fuzz_a either
#   FUZZ_SHRINK=0                 do not minimise the failing sequences
#   FUZZ_SHRINK_SECONDS=12        time for minimising one failure (of each
#                                 kind the one with the shortest prefix),
#                                 FUZZ_SHRINK_TOTAL=40 in all
#   FUZZ_OUT=dir                  where reproducers go (default test/fuzz/out),
#                                 and findings.tsv: every finding of the run
#   FUZZ_KEEP=1                   keep the databases
set -u
cd "$(dirname "$0")/.."
FZ=test/fuzz

seeds=${FUZZ_SEED:-1,2,3,4,5,6,7,8,9}
seeds=${seeds//,/ }
if [ -n "${FUZZ_ITERATIONS:-}" ]; then
	first=${seeds%% *}
	seeds=$(seq "$first" $((first + FUZZ_ITERATIONS - 1)))
fi
STEPS=${FUZZ_STEPS:-150}
CHECK_EVERY=${FUZZ_CHECK_EVERY:-25}
SKIP_ORDERS=false; [ "${FUZZ_SKIP_ORDERS:-0}" = 1 ] && SKIP_ORDERS=true
SKIP_SWEEPS=false; [ "${FUZZ_SKIP_SWEEPS:-0}" = 1 ] && SKIP_SWEEPS=true
SHRINK=${FUZZ_SHRINK:-1}
SHRINK_SECONDS=${FUZZ_SHRINK_SECONDS:-12}
SHRINK_TOTAL=${FUZZ_SHRINK_TOTAL:-40}
MAX_CRASHES=${FUZZ_MAX_CRASHES:-3}
OUT=${FUZZ_OUT:-$FZ/out}
KEEP=${FUZZ_KEEP:-0}
ADMIN=${FUZZ_ADMIN_DB:-${PGDATABASE:-postgres}}
TESTS_PER_SEED=6

W=$(mktemp -d)
T0=$SECONDS
n=0
failed=0
cleanup() {
	if [ "$KEEP" != 1 ]; then
		psql -X -q -d "$ADMIN" -c "DROP DATABASE IF EXISTS fuzz_a WITH (FORCE)" \
			-c "DROP DATABASE IF EXISTS fuzz_b WITH (FORCE)" -c "DROP DATABASE IF EXISTS fuzz_gen WITH (FORCE)" >/dev/null 2>&1
	fi
	if [ "$KEEP" = 1 ]; then echo "# work files: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag() { sed 's/^/# /' <<<"$*"; }
bail() { echo "Bail out! $*"; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

wait_server() {
	local i
	for i in $(seq 1 240); do
		if pg_isready -q -d "$ADMIN" 2>/dev/null && psql -X -Atq -d "$ADMIN" -c "SELECT 1" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.25
	done
	return 1
}

# make_db NAME: a fresh database with the extension and the harness
make_db() {
	q -d "$ADMIN" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
		-c "CREATE DATABASE $1" >/dev/null || return 1
	q -d "$1" -c "SET client_min_messages = warning" -c "CREATE EXTENSION loyalty" -f $FZ/harness.sql >/dev/null
}

# ---------------------------------------------------------------------------
# running a step list in one database
# ---------------------------------------------------------------------------
# run_db DB TARGET(a|b) TAG [KEEPFILE]: runs the current seed's steps,
# resuming after a crash (at most MAX_CRASHES times); leaves $W/TAG.res
run_db() {
	local db=$1 target=$2 tag=$3 keep=${4:-} part=0 crashes=0 after="" rc last parts=""
	: >"$W/$tag.out"
	while :; do
		awk -v target="$target" -v keep="$keep" -v after="$after" -v tz="$SESSION_TZ" \
			-f $FZ/script.awk "$W/steps" >"$W/$tag.$part.sql"
		psql -X -q -At -v ON_ERROR_STOP=0 -d "$db" -f "$W/$tag.$part.sql" >>"$W/$tag.out" 2>"$W/$tag.$part.err"
		rc=$?
		parts="$parts $W/$tag.$part.sql $W/$tag.$part.err"
		[ $rc -eq 0 ] && break
		[ -n "${NO_RESUME:-}" ] && break
		# the step that was running when the connection went away
		last=$(awk '/^@@step /{s=substr($0, 8)} /^@@state /{s=""} END{print s}' "$W/$tag.out")
		wait_server || bail "the server did not come back after a crash (seed $SEED, $db)"
		if [ -z "$last" ]; then
			RUN_NOTE="psql on $db failed outside a statement: $(head -c 300 "$W/$tag.$part.err")"
			break
		fi
		crashes=$((crashes + 1))
		if [ $crashes -gt "$MAX_CRASHES" ]; then
			RUN_NOTE="$db: stopped after $MAX_CRASHES crashes, at step $last (FUZZ_MAX_CRASHES)"
			break
		fi
		after=$last
		part=$((part + 1))
	done
	awk -v parts="$parts" -f $FZ/parse.awk "$W/$tag.out" >"$W/$tag.res"
}

# the kinds of the steps ("n kind op"), restricted to a keep file
kinds() {
	if [ -n "${1:-}" ]; then
		awk 'NR == FNR { k[$1] = 1; next } /^--@@ / && ($2 in k) { print $2, $3, $4 }' "$1" "$W/steps"
	else
		awk '/^--@@ / { print $2, $3, $4 }' "$W/steps"
	fi
}

# the SQL of step N
step_sql() { awk -v n="$1" '/^--@@ /{on = ($2 == n); next} on' "$W/steps"; }

# ---------------------------------------------------------------------------
# minimising a failure: drop chunks of steps while the same failure (same
# type, same step, same database) still happens
# ---------------------------------------------------------------------------
# reset_db NAME: the extension and the harness anew in a used database
# (cheaper than a new database)
reset_db() {
	q -d "$1" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS app CASCADE" \
		-c "DROP EXTENSION IF EXISTS loyalty CASCADE" -c "DROP SCHEMA IF EXISTS fuzz CASCADE" \
		-c "CREATE EXTENSION loyalty" -f $FZ/harness.sql >/dev/null 2>&1 || make_db "$1"
}

# still_fails TYPE STEP DB KEEPFILE: does the step list still fail this way?
# (the same type at the same step, in the same database)
still_fails() {
	local type=$1 step=$2 db=$3 keep=$4
	wait_server || bail "the server is down while minimising"
	case $type in
	diverge|mismatch)
		# both databases, side by side; a crash on the way spoils the run
		reset_db fuzz_a & reset_db fuzz_b & wait
		NO_RESUME=1 run_db fuzz_a a sa "$keep" &
		NO_RESUME=1 run_db fuzz_b b sb "$keep" &
		wait
		if grep -q $'\tCRASH\t' "$W/sa.res" "$W/sb.res"; then
			wait_server
			return 1
		fi
		kinds "$keep" >"$W/sk"
		awk -f $FZ/compare.awk "$W/sk" "$W/sa.res" "$W/sb.res" ;;
	*)
		reset_db "$db"
		run_db "$db" "${db#fuzz_}" s "$keep"
		kinds "$keep" >"$W/sk"
		if [ "$db" = fuzz_a ]; then
			awk -f $FZ/compare.awk "$W/sk" "$W/s.res" /dev/null
		else
			awk -f $FZ/compare.awk "$W/sk" /dev/null "$W/s.res"
		fi ;;
	esac | awk -F'\t' -v t="$type" -v s="$step" -v d="$db" \
		'$1 == t && $2 == s && ($3 == "both" || $3 == d) { print $4; f = 1; exit } END { exit !f }' >"$W/sf.detail" \
		|| return 1
	# a check must still differ first on the same kind of line for the same member
	[ -z "$MUST" ] || [ "$(first_diff_line "$W/sf.detail")" = "$MUST" ]
}

# the first differing check line's kind and member ("fuzz_a only: bal|103|")
first_diff_line() { grep -oE 'fuzz_[ab] only: [a-z]+\|[^|]*\|' "$1" | head -1; }

# slice STEP DETAIL: the steps that may matter to the failure: the members
# the failing statement (or the differing check lines) names, the sweeps,
# configuration, and all orders statements when the failure is about one
slice() {
	local step=$1 detail=$2 sql members orders=0
	sql=$(step_sql "$step")
	members=$(printf '%s\n%s\n' "$sql" "$detail" | grep -oE "['|]1[0-9][0-9]['|]" | tr -d "'|" | sort -u | tr '\n' ' ')
	grep -q 'app\.' <<<"$sql" && orders=1
	awk -v s="$step" -v members="$members" -v orders=$orders '
		BEGIN { nm = split(members, m, " ") }
		/^--@@ / { if (n != "") decide(); n = $2; kind = $3; op = $4; body = ""; next }
		{ body = body $0 "\n" }
		END { if (n != "") decide() }
		function decide(   i, keep) {
			if (n + 0 >= s + 0 || kind == "check") return
			keep = (kind == "setup" || kind == "sweep" || op == "config" || op == "txn" || (orders && op ~ /^o_/))
			for (i = 1; i <= nm && !keep; i++) if (index(body, "\047" m[i] "\047")) keep = 1
			if (keep) print n
		}' "$W/steps"
}

# inert: the steps that changed nothing in the first run: failed (or
# crashed) in both databases, outside a transaction block, or only read
# (balance, tier_of, quote); their removal is tried first, in one run
inert() {
	awk -F'\t' -v s="$1" '
		FILENAME == ARGV[1] { if ($0 ~ /^--@@ /) { split($0, h, " "); n = h[2]; tag[n] = h[4]; getline
		                        if ($0 ~ /^BEGIN;?$/) depth = 1; intx[n] = depth; if ($0 ~ /^(COMMIT|ROLLBACK);?$/) depth = 0 }
		                      next }
		FILENAME == ARGV[2] { a[$1] = $2; next }
		{ b[$1] = $2 }
		END {
			for (n in tag) {
				if (n + 0 >= s + 0) continue
				if (tag[n] == "balance" || tag[n] == "tier_of" || tag[n] == "quote" ||
				    (!intx[n] && (n in a) && a[n] != "00000" && (!(n in b) || b[n] != "00000")))
					print n
			}
		}' "$W/steps" "$W/a.res" "$W/b.res"
}

# shrink TYPE STEP DB DETAIL: writes the kept step numbers to $W/keep.min
shrink() {
	local type=$1 step=$2 db=$3 detail=$4 budget=$SHRINK_SECONDS chunk i j len t_end
	[ "$budget" -gt "$SHRINK_TOTAL" ] && budget=$SHRINK_TOTAL
	t_end=$((SECONDS + budget))
	local -a setup cand try
	# kept: the schema, the program and its lowest tier; the other set-up
	# steps (tiers, rules) and the prefix up to the failing step (without the
	# other checks: they only read) are candidates for removal
	mapfile -t setup < <(awk '/^--@@ / && $3 == "setup" && ++k <= 3 { print $2 }' "$W/steps")
	mapfile -t cand < <(awk -v s="$step" '/^--@@ / && $3 == "setup" && ++k > 3 { print $2 }
	                                      /^--@@ / && $3 != "setup" && $3 != "check" && $2 + 0 < s + 0 { print $2 }' "$W/steps")
	printf '%s\n' "${setup[@]}" "${cand[@]}" "$step" >"$W/keep.min"
	[ "$SHRINK" = 1 ] && [ "$budget" -gt 0 ] || return 0
	SHRINK_RUNS=0
	MUST=
	[ "$type" = mismatch ] && MUST=$(first_diff_line <(echo "$detail"))
	# first without the inert steps, then the slice: one run each, often
	# most of the way
	inert "$step" | sort -n >"$W/inert"
	mapfile -t try < <(printf '%s\n' "${cand[@]}" | grep -vxFf "$W/inert")
	if [ -s "$W/inert" ] && [ ${#try[@]} -lt ${#cand[@]} ]; then
		printf '%s\n' "${setup[@]}" "${try[@]}" "$step" >"$W/keep.try"
		SHRINK_RUNS=$((SHRINK_RUNS + 1))
		if still_fails "$type" "$step" "$db" "$W/keep.try"; then
			cand=("${try[@]}")
			cp "$W/keep.try" "$W/keep.min"
			cp "$W/sf.detail" "$W/min.detail"
		fi
	fi
	mapfile -t try < <(slice "$step" "$detail" | grep -xFf <(printf '%s\n' "${cand[@]}"))
	if [ ${#try[@]} -lt ${#cand[@]} ]; then
		printf '%s\n' "${setup[@]}" "${try[@]}" "$step" >"$W/keep.try"
		SHRINK_RUNS=$((SHRINK_RUNS + 1))
		if still_fails "$type" "$step" "$db" "$W/keep.try"; then
			cand=("${try[@]}")
			cp "$W/keep.try" "$W/keep.min"
			cp "$W/sf.detail" "$W/min.detail"
		fi
	fi
	len=${#cand[@]}
	chunk=$(((len + 1) / 2))
	while [ "$chunk" -ge 1 ] && [ $SECONDS -lt $t_end ]; do
		i=0
		while [ $i -lt ${#cand[@]} ] && [ $SECONDS -lt $t_end ]; do
			try=("${cand[@]:0:$i}" "${cand[@]:$((i + chunk))}")
			printf '%s\n' "${setup[@]}" "${try[@]}" "$step" >"$W/keep.try"
			SHRINK_RUNS=$((SHRINK_RUNS + 1))
			if still_fails "$type" "$step" "$db" "$W/keep.try"; then
				cand=("${try[@]}")
				cp "$W/keep.try" "$W/keep.min"
				cp "$W/sf.detail" "$W/min.detail"
			else
				i=$((i + chunk))
			fi
		done
		[ "$chunk" -eq 1 ] && break
		chunk=$(((chunk + 1) / 2))
		[ "$chunk" -gt ${#cand[@]} ] && chunk=${#cand[@]}
	done
	SHRUNK_FULLY=0
	[ $SECONDS -lt $t_end ] && SHRUNK_FULLY=1
	SHRINK_TOTAL=$((SHRINK_TOTAL - budget + (t_end > SECONDS ? t_end - SECONDS : 0)))
	return 0
}

# write_repro KEEPFILE BASE TYPE STEP DB: the reproducer files
write_repro() {
	local keep=$1 base=$2 type=$3 step=$4 db=$5
	awk -v target=ra -v keep="$keep" -v tz="$SESSION_TZ" -f $FZ/script.awk "$W/steps" >"$W/repro"
	{
		echo "-- loyalty fuzz reproducer: seed $SEED, $type at step $step ($db)"
		echo "-- FUZZ_SEED=$SEED FUZZ_NOW='$NOW0'; in a fresh database: createdb x && psql -d x -f <this file>"
		echo "CREATE EXTENSION IF NOT EXISTS loyalty;"
		cat $FZ/harness.sql
		cat "$W/repro"
	} >"$base.sql"
	if [ "$type" = diverge ] || [ "$type" = mismatch ]; then
		awk -v target=rb -v keep="$keep" -v tz="$SESSION_TZ" -f $FZ/script.awk "$W/steps" >"$W/repro_b"
		{
			echo "-- loyalty fuzz reproducer, the twin (fuzz_b: no scheduled procedures): seed $SEED, step $step"
			echo "CREATE EXTENSION IF NOT EXISTS loyalty;"
			cat $FZ/harness.sql
			cat "$W/repro_b"
		} >"$base.twin.sql"
	fi
}

# show_repro FILE COUNT [ALL]: the statements of a reproducer, as TAP comments
show_repro() {
	if [ "$2" -le 45 ] || [ -n "${3:-}" ]; then
		awk '/^-- step /{on = 1} on' "$1" | sed 's/^/#   /'
	else
		diag "(the last 12 of its $2 statements)"
		awk -v from=$(($2 - 11)) '/^-- step /{k++} k >= from' "$1" | sed 's/^/#   /'
	fi
}

reproduce_cmd() {
	echo "FUZZ_SEED=$SEED FUZZ_NOW='$NOW0' FUZZ_STEPS=$STEPS FUZZ_CHECK_EVERY=$CHECK_EVERY$( \
		[ "$SKIP_ORDERS" = true ] && echo ' FUZZ_SKIP_ORDERS=1')$([ "$SKIP_SWEEPS" = true ] && echo ' FUZZ_SKIP_SWEEPS=1') bash test/fuzz.sh"
}

# report TYPE STEP DB DETAIL: a failure, at once: what, where, the command
# that reruns the seed, the sequence up to it (a file, and its tail here).
# Of each kind, the failure with the shortest prefix is minimised at the end.
declare -A QUEUED QSTEP
report() {
	local type=$1 step=$2 db=$3 detail=$4 base cnt
	diag "seed $SEED: $type at step $step ($db): $detail"
	diag "statement: $(step_sql "$step" | head -c 600)"
	diag "reproduce: $(reproduce_cmd)"
	base="$OUT/seed$SEED-$type-step$step"
	awk -v s="$step" '/^--@@ / && $2 + 0 <= s + 0 && ($3 != "check" || $2 == s) { print $2 }' "$W/steps" >"$W/keep.full"
	cnt=$(wc -l <"$W/keep.full")
	write_repro "$W/keep.full" "$base" "$type" "$step" "$db"
	diag "the sequence up to it: $base.sql$([ -f "$base.twin.sql" ] && echo " (fuzz_a), $base.twin.sql (fuzz_b)")"
	# the failure of each kind with the shortest prefix is minimised at the end
	if [ "$SHRINK" = 1 ] && { [ -z "${QUEUED[$type]:-}" ] || [ "$step" -lt "${QSTEP[$type]}" ]; }; then
		QUEUED[$type]="$SEED"$'\t'"$step"$'\t'"$db"$'\t'"$detail"$'\t'"$NOW0"$'\t'"$SESSION_TZ"
		QSTEP[$type]=$step
		mkdir -p "$W/ctx.$SEED"
		cp "$W/steps" "$W/a.res" "$W/b.res" "$W/ctx.$SEED/"
	fi
	show_repro "$W/repro" "$cnt"
}

# minimise: the queued failures, crashes first, within FUZZ_SHRINK_TOTAL;
# a seed's context (steps, results) was saved when it was queued
minimise() {
	local type step db detail cnt t base
	for type in crash internal integrity verify setup diverge mismatch; do
		[ -n "${QUEUED[$type]:-}" ] || continue
		IFS=$'\t' read -r SEED step db detail NOW0 SESSION_TZ <<<"${QUEUED[$type]}"
		cp "$W/ctx.$SEED/steps" "$W/ctx.$SEED/a.res" "$W/ctx.$SEED/b.res" "$W/"
		diag ""
		diag "minimising seed $SEED: $type at step $step ($db): $(cut -c1-300 <<<"$detail")"
		t=$SECONDS
		SHRINK_RUNS=0 SHRUNK_FULLY=0
		: >"$W/min.detail"
		shrink "$type" "$step" "$db" "$detail"
		cnt=$(wc -l <"$W/keep.min")
		base="$OUT/seed$SEED-$type-step$step.min"
		write_repro "$W/keep.min" "$base" "$type" "$step" "$db"
		if [ "$SHRINK_RUNS" -gt 0 ]; then
			diag "$cnt statements after $SHRINK_RUNS runs in $((SECONDS - t)) s$([ "$SHRUNK_FULLY" = 1 ] || echo ' (stopped by the time limit)')"
			[ -s "$W/min.detail" ] && diag "they give: $(head -c 1000 "$W/min.detail")"
		fi
		diag "reproducer: $base.sql$([ -f "$base.twin.sql" ] && echo " (fuzz_a), $base.twin.sql (fuzz_b, no sweeps)"); reproduce: $(reproduce_cmd)"
		diag "its statements (after CREATE EXTENSION loyalty, harness.sql and the SET lines of the file):"
		show_repro "$W/repro" "$cnt" all
	done
}

# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
wait_server || bail "no server (PGHOST=${PGHOST:-} PGPORT=${PGPORT:-})"
nseeds=$(wc -w <<<"$seeds")
echo "1..$((nseeds * TESTS_PER_SEED))"
rm -rf "$OUT"
mkdir -p "$OUT"
q -d "$ADMIN" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS fuzz_gen WITH (FORCE)" \
	-c "CREATE DATABASE fuzz_gen" >/dev/null || bail "cannot create database fuzz_gen"
q -d fuzz_gen -f $FZ/gen.sql >/dev/null || bail "loading test/fuzz/gen.sql failed"
declare -A STATES

for SEED in $seeds; do
	ts=$SECONDS
	make_db fuzz_a || bail "cannot create fuzz_a with the extension"
	make_db fuzz_b || bail "cannot create fuzz_b with the extension"
	NOW0=${FUZZ_NOW:-$(q -d "$ADMIN" -c "SET TimeZone = 'UTC'" -c "SELECT to_char(date_trunc('second', now()), 'YYYY-MM-DD HH24:MI:SS+00')")}
	funcs=$(q -d fuzz_a -c "SELECT string_agg(DISTINCT proname, ',' ORDER BY proname)
	                          || CASE WHEN to_regprocedure('loyalty.tier_of(text,text,timestamptz)') IS NULL THEN ''
	                                  ELSE ',tier_of/3' END
	                        FROM pg_proc WHERE pronamespace = 'loyalty'::regnamespace")
	q -d fuzz_gen -c "SELECT fg.generate($SEED, $STEPS, '$NOW0', $CHECK_EVERY, $SKIP_ORDERS, $SKIP_SWEEPS, '$funcs')" >/dev/null \
		|| bail "the generator failed for seed $SEED"
	q -d fuzz_gen -c "SELECT fg.steps_text()" >"$W/steps"
	SESSION_TZ=$(q -d fuzz_gen -c "SELECT fg.o('session_tz')")
	RUN_NOTE=
	run_db fuzz_a a a
	note_a=$RUN_NOTE RUN_NOTE=
	run_db fuzz_b b b
	note_b=$RUN_NOTE
	wait_server || bail "the server is down after seed $SEED"
	kinds >"$W/kinds"
	# every statement ran (or the crash limit stopped the run: said below)
	for x in a b; do
		[ "$(wc -l <"$W/$x.res")" -eq "$(wc -l <"$W/kinds")" ] && continue
		case $x in a) note=$note_a ;; b) note=$note_b ;; esac
		case $note in *"crashes, at step"*) ;; *) bail "seed $SEED: fuzz_$x ran $(wc -l <"$W/$x.res") of $(wc -l <"$W/kinds") statements: $note" ;; esac
	done
	awk -f $FZ/compare.awk "$W/kinds" "$W/a.res" "$W/b.res" >"$W/findings"
	# every finding of the run, one a line: seed, type, step, db, statement, detail
	awk -F'\t' -v seed="$SEED" 'NR == FNR { if ($0 ~ /^--@@ /) { split($0, h, " "); cur = h[2]; getline; sql[cur] = substr($0, 1, 200) } next }
	     { printf "%s\t%s\t%s\t%s\t%s\t%s\n", seed, $1, $2, $3, sql[$2], substr($4, 1, 300) }' "$W/steps" "$W/findings" >>"$OUT/findings.tsv"
	nsteps=$(wc -l <"$W/kinds")
	nsweeps=$(grep -c ' sweep ' "$W/kinds")
	norders=$(awk '$3 ~ /^o_/' "$W/kinds" | wc -l)
	label="seed $SEED ($nsteps statements: $norders on orders tables, $nsweeps sweeps in fuzz_a; $((SECONDS - ts)) s)"
	for note in "$note_a" "$note_b"; do [ -n "$note" ] && diag "seed $SEED: $note"; done
	# SQLSTATE counts over both databases (coverage, for the log)
	while read -r st c; do STATES[$st]=$(( ${STATES[$st]:-0} + c )); done < <(cut -f2 "$W/a.res" "$W/b.res" | sort | uniq -c | awk '{print $2, $1}')

	first() { awk -F'\t' -v t="$1" '$1 == t { print; exit }' "$W/findings"; }
	count() { awk -F'\t' -v t="$1" '$1 == t' "$W/findings" | wc -l; }
	for t in crash internal integrity verify diverge mismatch; do
		case $t in
		crash) what="no server crash" ;;
		internal) what="no internal error (XX000, class XX) or hang" ;;
		integrity) what="no row refused by one of loyalty's own constraints (class 23)" ;;
		verify) what="loyalty.verify() empty at every check" ;;
		diverge) what="every statement: same SQLSTATE and result in fuzz_a (swept) and fuzz_b (never swept)" ;;
		mismatch) what="every check: same balances, tiers, ledger and member_summary in fuzz_a and fuzz_b" ;;
		esac
		f=$(first $t)
		c=$(count $t)
		# a failed set-up makes the seed meaningless: it fails the diverge test
		if [ $t = diverge ] && [ -n "$(first setup)" ]; then f=$(first setup); c=$((c + $(count setup))); fi
		if [ -z "$f" ]; then
			ok "$label: $what"
			continue
		fi
		not_ok "$label: $what"
		IFS=$'\t' read -r ftype fstep fdb fdetail <<<"$f"
		report "$ftype" "$fstep" "$fdb" "$fdetail"
		if [ "$c" -gt 1 ]; then
			diag "$c findings of this kind in seed $SEED; the next ones (up to 6):"
			awk -F'\t' -v t="$t" -v s="$fstep" -v d="$fdb" '($1 == t || (t == "diverge" && $1 == "setup")) && !($2 == s && $3 == d)' "$W/findings" \
				| head -6 | while IFS=$'\t' read -r _ s d x; do
				diag "  step $s ($d): $(step_sql "$s" | head -1 | cut -c1-160) -> $(cut -c1-200 <<<"$x")"
			done
		fi
	done
done

minimise
diag ""
diag "SQLSTATEs seen (both databases): $(for k in "${!STATES[@]}"; do echo "$k=${STATES[$k]}"; done | sort | tr '\n' ' ')"
diag "$n tests, $failed failed, $((SECONDS - T0)) s"
[ "$failed" -eq 0 ]
