# shellcheck shell=bash
# bench/suite_maintenance.sh — CALL loyalty.expire_points / loyalty.evaluate_tiers
# against "the floor": ONE bare set-based SQL statement doing the same writes
# (maint_expire_floor.sql, maint_tiers_floor.sql).
#
# Each part builds a template database once (bench/loader.sql: load_bulk's
# rows, exactly what earn() writes, or through loyalty.earn for small sizes;
# VACUUM FREEZE ANALYZE; kept and reused while its inputs are unchanged), then runs floor, proc, floor, proc, ... each on a fresh
# copy (CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY), timing the
# statement in the server and sampling the backend's memory from
# /proc/<pid>/status.  The report prints floor_time / proc_time, checks that
# floor and procedure wrote the same thing (digest), runs loyalty.verify(),
# and (BENCH_PROFILE=1) traces every statement the batch functions run with
# auto_explain (LOADed in that session only) next to EXPLAIN ANALYZE of the
# floor.  Other sessions on the server are waited for (BENCH_QUIET_WAIT) and
# their activity during each run is reported ("others busy").
#
# Sourced by bench.sh (bench/bench.sh maintenance); creates and drops only
# databases named $BENCH_DB_PREFIX*; never changes the cluster configuration.
#
# Environment (defaults):
#   BENCH_DB_PREFIX   (loyalty_maint)   databases <prefix>_{exp,exps,tier}_tpl, <prefix>_run
#   BENCH_PARTS       ("expire tiers")  which parts to run
#   BENCH_EXP_MEMBERS (200000)          members with expired lots (1M lots)
#   BENCH_EXP_LOTS    (5)               expired lots per member (2022 purchases)
#   BENCH_EXP_LIVE    (1)               unexpired lots per member (2025 purchases)
#   BENCH_EXP_SMALL   (20000)           members of the small expire template
#                                       (100k lots; memory comparison); 0 = skip
#   BENCH_TIER_MEMBERS (1000000)        members whose tier period ended
#   BENCH_TIER_HISTORY (2)              2025 purchases per member
#   BENCH_BATCH       (10000)           batch_size passed to the procedures
#   BENCH_PAIRS       (2)               floor+proc pairs per part (big size)
#   BENCH_LAYOUT      (time)            heap order of lots/ledger: time | member
#   BENCH_PROFILE     (1)               1: auto_explain trace of one CALL per part
#   BENCH_VERIFY      (1)               1: loyalty.verify() after expire (the loader
#                                       always checks the templates)
#   BENCH_REUSE       (1)               0: rebuild templates even if unchanged
#   BENCH_CLEAN       (0)               1: drop all <prefix>_* databases at the end
#   BENCH_QUIET_WAIT  (15)              seconds to wait for other sessions to go idle before a run
# The memory sampling reads /proc/<backend pid>/status, so it must run on the
# database host as the server's OS user or root.
PREFIX=${BENCH_DB_PREFIX:-loyalty_maint}
PARTS=${BENCH_PARTS:-expire tiers}
EXP_MEMBERS=${BENCH_EXP_MEMBERS:-200000}
EXP_LOTS=${BENCH_EXP_LOTS:-5}
EXP_LIVE=${BENCH_EXP_LIVE:-1}
EXP_SMALL=${BENCH_EXP_SMALL:-20000}
TIER_MEMBERS=${BENCH_TIER_MEMBERS:-1000000}
TIER_HISTORY=${BENCH_TIER_HISTORY:-2}
BATCH=${BENCH_BATCH:-10000}
PAIRS=${BENCH_PAIRS:-2}
LAYOUT=${BENCH_LAYOUT:-time}
PROFILE=${BENCH_PROFILE:-1}
VERIFY=${BENCH_VERIFY:-1}
REUSE=${BENCH_REUSE:-1}
CLEAN=${BENCH_CLEAN:-0}
QUIET_WAIT=${BENCH_QUIET_WAIT:-15}

# The business times: the nightly job of 2026-01-01 (Asia/Shanghai).
AS_OF='2026-01-01 00:05+08'
WIN_START='2025-01-01 00:00+08'
WIN_END='2026-01-01 00:00+08'
UNTIL='2027-01-01 00:00+08'

case "$LAYOUT" in time | member) ;; *) die "BENCH_LAYOUT must be time or member" ;; esac
export PGTZ=Asia/Shanghai
RUN_DB=${PREFIX}_run
t0=$(date +%s)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir 2>/dev/null || echo /nonexistent)
so_md5() { md5sum <"$PKGLIBDIR/loyalty.so" 2>/dev/null | cut -c1-12; }
SQL_MD5=$(ext_md5)
SETTINGS=$("$PSQL" -X -Atq -d postgres -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name)
	FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'max_wal_size', 'jit',
	                                'synchronous_commit', 'autovacuum', 'random_page_cost')")
echo "== maintenance bench on port $PORT (PostgreSQL $SERVER, loyalty $AVAIL, $(nproc) CPUs)"
echo "   $SETTINGS"
echo "   as_of $AS_OF, batch_size $BATCH, layout $LAYOUT, loyalty.so md5 $(so_md5), logs in $OUT"

# ---- one timed run ------------------------------------------------------------
# Samples the backend's /proc/<pid>/status every 50 ms: peak RssAnon (the
# backend's private memory: palloc'd contexts, sort/hash space) and VmHWM
# (peak resident set, which also counts the shared_buffers pages it touched).
sample_mem() { # sample_mem PIDFILE STOPFILE OUTFILE
	local pid="" anon=0 shm=0 hwm=0 a s h
	while [ ! -e "$2" ]; do
		pid=$(cat "$1" 2>/dev/null || true)
		[[ "$pid" =~ ^[0-9]+$ ]] && break
		sleep 0.02
	done
	while [ ! -e "$2" ] && [ -r "/proc/$pid/status" ]; do
		read -r a s h < <(awk '/^RssAnon:/ { a = $2 } /^RssShmem:/ { s = $2 } /^VmHWM:/ { h = $2 }
			END { print a + 0, s + 0, h + 0 }' "/proc/$pid/status" 2>/dev/null || echo "0 0 0")
		[ "$a" -gt "$anon" ] && anon=$a
		[ "$s" -gt "$shm" ] && shm=$s
		[ "$h" -gt "$hwm" ] && hwm=$h
		sleep 0.05
	done
	echo "$anon $shm $hwm" >"$3"
}

# Other sessions on the server (other databases' benchmarks and tests) take
# CPU and I/O from a 2-core machine.  Before each timed run wait (up to
# BENCH_QUIET_WAIT seconds) until no other backend has been active for 3 s;
# during the run, count every second whether one was, and report that share.
others_active() {
	"$PSQL" -X -Atq -d postgres -c "SELECT count(*) FROM pg_stat_activity
		WHERE backend_type IN ('client backend', 'parallel worker', 'autovacuum worker')
		  AND state IS DISTINCT FROM 'idle' AND pid <> pg_backend_pid()
		  AND datname IS DISTINCT FROM '$RUN_DB'" 2>/dev/null || echo 0
}
wait_quiet() {
	local waited=0 calm=0
	[ "$QUIET_WAIT" -gt 0 ] || return 0
	while [ "$calm" -lt 3 ] && [ "$waited" -lt "$QUIET_WAIT" ]; do
		if [ "$(others_active)" = 0 ]; then calm=$((calm + 1)); else calm=0; fi
		[ "$calm" -lt 3 ] && sleep 1 && waited=$((waited + 1))
	done
	if [ "$waited" -ge "$QUIET_WAIT" ]; then
		echo "   (other sessions still busy after ${QUIET_WAIT}s; running anyway)"
	elif [ "$waited" -gt 3 ]; then
		echo "   (waited ${waited}s for other sessions to finish)"
	fi
}
watch_others() { # watch_others STOPFILE OUTFILE
	while [ ! -e "$1" ]; do
		others_active >>"$2"
		sleep 1
	done
}

RESULTS="$OUT/results.tsv"
: >"$RESULTS"
run=0
# timed PART SIZE KIND TEMPLATE STMTFILE DIGESTFILE
timed() {
	local part=$1 size=$2 kind=$3 tpl=$4 stmt=$5 digest=$6
	run=$((run + 1))
	local tag="$OUT/run$run-$part-$size-$kind"
	fresh_copy "$tpl" "$RUN_DB"
	wait_quiet
	rm -f "$tag.pid" "$tag.stop" "$tag.others"
	sample_mem "$tag.pid" "$tag.stop" "$tag.mem" &
	local sampler=$!
	watch_others "$tag.stop" "$tag.others" &
	local watcher=$!
	if ! "$PSQL" -X -Atq -d "$RUN_DB" -v pidfile="$tag.pid" -v stmt="$HERE/$stmt" \
		-v as_of="$AS_OF" -v batch="$BATCH" -v win_start="$WIN_START" -v win_end="$WIN_END" \
		-v until="$UNTIL" -f "$HERE/maint_timed.sql" >"$tag.log" 2>&1; then
		touch "$tag.stop"
		wait "$sampler" "$watcher" || true
		# another session's pg_terminate_backend (the shared dev cluster runs
		# other people's crash tests): run it again once, on a fresh copy
		if grep -q 'administrator command' "$tag.log" && [ -z "${RETRYING:-}" ]; then
			echo "   (run $run: the session was terminated by another session; repeating it)"
			mv "$tag.log" "$tag.terminated.log"
			run=$((run - 1))
			RETRYING=1 timed "$@"
			return
		fi
		tail -5 "$tag.log" >&2
		die "run $run ($part $kind) failed, see $tag.log"
	fi
	touch "$tag.stop"
	wait "$sampler" "$watcher"
	local busy
	busy=$(awk '{ n++; if ($1 > 0) b++ } END { printf "%d", n ? 100 * b / n : 0 }' "$tag.others" 2>/dev/null || echo 0)
	# Someone may `make install` while this runs: a new install script means
	# the templates no longer match the schema (stop); a new loyalty.so only
	# changes the code later runs load (noted per run, warned in the report).
	if [ "$(ext_md5)" != "$SQL_MD5" ]; then
		die "the installed extension script changed during the run (make install); start again"
	fi
	local so
	so=$(so_md5)
	local res secs wal ckpt ctx anon shm hwm dig
	res=$(grep '^RESULT' "$tag.log")
	secs=$(sed -n 's/.* secs=\([0-9.]*\).*/\1/p' <<<"$res")
	wal=$(sed -n 's/.* wal_mb=\([0-9]*\).*/\1/p' <<<"$res")
	ckpt=$(sed -n 's/.* checkpoints=\([0-9]*\).*/\1/p' <<<"$res")
	ctx=$(sed -n 's/.* ctx_kb=\([0-9]*\).*/\1/p' <<<"$res")
	read -r anon shm hwm <"$tag.mem"
	dig=$("$PSQL" -X -Atq -d "$RUN_DB" -v as_of="$AS_OF" -v until="$UNTIL" -f "$HERE/$digest")
	local av
	av=$("$PSQL" -X -Atq -d "$RUN_DB" -c "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0)
		FROM pg_stat_user_tables WHERE schemaname = 'loyalty'")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$part" "$size" "$kind" \
		"$secs" "$wal" "$ckpt" "$anon" "$hwm" "$ctx" "$av" "$dig" "$so" "$busy" >>"$RESULTS"
	printf '   run %2d %-6s %8s %-5s %8.2f s  WAL %5d MB  ckpt %s  peak RssAnon %6.1f MB  VmHWM %6.1f MB  contexts after %5d kB  autovac %s  others busy %s%%\n' \
		"$run" "$part" "$size" "$kind" "$secs" "$wal" "$ckpt" "$(awk -v k="$anon" 'BEGIN { print k / 1024 }')" \
		"$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$ctx" "$av" "$busy"
	echo "          $dig"
	if [ "$VERIFY" = 1 ] && [ "$part" = expire ] && [ "$kind" = proc ]; then
		echo "          verify(): $("$PSQL" -X -Atq -d "$RUN_DB" -c 'SELECT count(*) FROM loyalty.verify()') problems"
	fi
}

# ---- profile: every statement of every batch, with auto_explain ---------------
# Sum of the actual total time of every Update/Insert node in a trace or plan
# (the writes), per target table.
write_nodes() {
	awk '/(Update|Insert) on [a-z_]+ / {
			x = $0; sub(/^.*(Update|Insert) on /, "", x); sub(/ .*/, "", x)
			k = ($0 ~ /Update on/ ? "UPDATE " : "INSERT ") x
			if (match($0, /actual time=[0-9.]+\.\.[0-9.]+/)) {
				t = substr($0, RSTART + 12, RLENGTH - 12); sub(/^[0-9.]+\.\./, "", t); s[k] += t; n[k]++
			}
		}
		END { for (k in s) printf "%s %.0f ms (%d statements)\n", k, s[k], n[k] }' "$1" | sort
}

# profile PART TEMPLATE PROCFILE FLOORFILE
profile() {
	local part=$1 tpl=$2 stmt=$3 floor=$4
	local tag="$OUT/profile-$part"
	fresh_copy "$tpl" "$RUN_DB"
	wait_quiet
	{
		echo "LOAD 'auto_explain';"
		echo "SET auto_explain.log_min_duration = 0;"
		echo "SET auto_explain.log_nested_statements = on;"
		echo "SET auto_explain.log_analyze = on;"
		echo "SET auto_explain.log_buffers = on;"
		echo "SET auto_explain.log_level = notice;"
		echo "CHECKPOINT;"
		echo "SELECT clock_timestamp() AS t0 \\gset"
		echo "\\i $HERE/$stmt"
		echo "SELECT format('PROFILE_TOTAL %s', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);"
	} >"$tag.sql"
	"$PSQL" -X -Atq -v ON_ERROR_STOP=1 -d "$RUN_DB" -v as_of="$AS_OF" -v batch="$BATCH" \
		-f "$tag.sql" >"$tag.out" 2>"$tag.trace"
	local total
	total=$(sed -n 's/^PROFILE_TOTAL //p' "$tag.out")
	echo "== profile: $part, one CALL traced with auto_explain (log_analyze: adds timing overhead)"
	printf '   %-44s %6s %10s %9s %9s %9s  %s\n' statement calls 'total ms' first last max 'scans (first plan -> last plan)'
	awk -v total="$total" '
		function label(q) {
			# by fragments, so small rewordings of the SQL in src/maintenance.c still match
			if (q ~ /_expire_batch|_evaluate_batch/) return "0 batch call (whole batch)"
			if (q ~ /FROM loyalty.lot l WHERE l.remaining > 0/ && q ~ /FOR UPDATE/) return "1 pick lots + lock their members"
			if (q ~ /FROM loyalty.lot l WHERE l.remaining > 0/) return "1 pick lots (expiry queue)"
			if (q ~ /^WITH m AS/ && q ~ /UPDATE loyalty.lot/) return "3 expire: UPDATE lot + account + INSERT ledger"
			if (q ~ /FROM loyalty.account WHERE tier_until/ && q ~ /FOR UPDATE/) return "1 lock members (tier queue)"
			if (q ~ /sum\(l.qual_points\)/) return "2 qualifying sums"
			if (q ~ /^UPDATE loyalty.account a SET/) return "3 UPDATE account tiers"
			if (q ~ /INSERT INTO loyalty.tier_change/) return "4 INSERT tier_change"
			if (q ~ /loyalty.program|loyalty.tier |loyalty.rule /) return "9 config load"
			if (q ~ /extversion|to_regclass/) return "9 version / distribution check"
			if (q ~ /clock_timestamp|PROFILE_TOTAL/) return ""
			return "8 other: " substr(q, 1, 30)
		}
		function flush() {
			if (have && (l = label(q)) != "") {
				n[l]++; t[l] += d
				if (n[l] == 1) first[l] = d
				last[l] = d
				if (d > mx[l]) mx[l] = d
				if (!(l in scan)) scan[l] = s
				lastscan[l] = s
			}
			have = 0; s = ""
		}
		/NOTICE:  duration: / { flush(); match($0, /duration: [0-9.]+/); d = substr($0, RSTART + 10, RLENGTH - 10) + 0; have = 1; next }
		/^Query Text: / { q = $0; sub(/^Query Text: /, "", q); next }
		/Seq Scan on / { x = $0; sub(/^.*Seq Scan on /, "", x); sub(/ .*/, "", x); x = "Seq Scan " x; if (index(s, x) == 0) s = s (s ? ", " : "") x }
		/Index (Only )?Scan using / { x = $0; sub(/^.*Scan using /, "", x); sub(/ .*/, "", x); if (index(s, x) == 0) s = s (s ? ", " : "") x }
		END {
			flush()
			for (k in n) printf "%s\t   %-44s %6d %10.0f %9.1f %9.1f %9.1f  %s%s\n", k, substr(k, 3), n[k], t[k], first[k], last[k], mx[k], scan[k], (lastscan[k] != scan[k] ? "  -> last: " lastscan[k] : "")
		}' "$tag.trace" | sort | cut -f2-
	printf '   %-44s %6s %10.0f   (the CALL, with its commits; auto_explain adds overhead)\n' "total" "" "$total"
	echo "   write nodes (inclusive of the joins and CTEs they read), proc: $(write_nodes "$tag.trace" | paste -sd';' | sed 's/;/; /g')"
	# the floor's own plan, for comparison
	fresh_copy "$tpl" "$RUN_DB"
	wait_quiet
	{
		echo "CHECKPOINT;"
		echo "EXPLAIN (ANALYZE, BUFFERS)"
		grep -v '^--' "$HERE/$floor"
	} >"$tag-floor.sql"
	"$PSQL" -X -Atq -v ON_ERROR_STOP=1 -d "$RUN_DB" -v as_of="$AS_OF" -v win_start="$WIN_START" \
		-v win_end="$WIN_END" -v until="$UNTIL" -f "$tag-floor.sql" >"$tag-floor.plan" 2>&1
	echo "   write nodes, floor (EXPLAIN ANALYZE): $(write_nodes "$tag-floor.plan" | paste -sd';' | sed 's/;/; /g');" \
		"$(sed -n 's/^Execution Time: /total /p' "$tag-floor.plan")"
	echo "   full plans: $tag.trace, $tag-floor.plan"
}

# ---- part 1: expire_points ------------------------------------------------------
if [[ " $PARTS " == *" expire "* ]]; then
	NLOTS=$((EXP_MEMBERS * EXP_LOTS))
	echo "== expire_points: $NLOTS expired lots ($EXP_MEMBERS members x $EXP_LOTS, + $EXP_LIVE live lot(s) each)"
	template "${PREFIX}_exp_tpl" maint_expire_setup.sql members="$EXP_MEMBERS" lots="$EXP_LOTS" live="$EXP_LIVE" layout="$LAYOUT"
	if [ "$EXP_SMALL" -gt 0 ]; then
		template "${PREFIX}_exps_tpl" maint_expire_setup.sql members="$EXP_SMALL" lots="$EXP_LOTS" live="$EXP_LIVE" layout="$LAYOUT"
		for kind in floor proc; do
			timed expire $((EXP_SMALL * EXP_LOTS)) "$kind" "${PREFIX}_exps_tpl" \
				"maint_expire_$kind.sql" maint_expire_digest.sql
		done
	fi
	for p in $(seq 1 "$PAIRS"); do
		for kind in floor proc; do
			timed expire "$NLOTS" "$kind" "${PREFIX}_exp_tpl" "maint_expire_$kind.sql" maint_expire_digest.sql
		done
	done
	[ "$PROFILE" = 1 ] && profile expire "${PREFIX}_exp_tpl" maint_expire_proc.sql maint_expire_floor.sql
fi

# ---- part 2: evaluate_tiers -----------------------------------------------------
if [[ " $PARTS " == *" tiers "* ]]; then
	echo "== evaluate_tiers: $TIER_MEMBERS members due ($TIER_HISTORY purchases each in 2025)"
	template "${PREFIX}_tier_tpl" maint_tiers_setup.sql members="$TIER_MEMBERS" history="$TIER_HISTORY"
	for p in $(seq 1 "$PAIRS"); do
		for kind in floor proc; do
			timed tiers "$TIER_MEMBERS" "$kind" "${PREFIX}_tier_tpl" "maint_tiers_$kind.sql" maint_tiers_digest.sql
		done
	done
	[ "$PROFILE" = 1 ] && profile tiers "${PREFIX}_tier_tpl" maint_tiers_proc.sql maint_tiers_floor.sql
fi

# ---- report -------------------------------------------------------------------
echo "== result (seconds: mean over runs; ratio = floor_time / proc_time, target >= 0.9)"
awk -F'\t' '
	{
		k = $2 " " $3
		if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
		s[k, $4] += $5; c[k, $4]++
		if ($8 > anon[k, $4]) anon[k, $4] = $8
		if ($9 > hwm[k, $4]) hwm[k, $4] = $9
		if (!((k, $4) in dig)) dig[k, $4] = $12
		else if (dig[k, $4] != $12) bad[k] = 1
	}
	END {
		for (i = 1; i <= nk; i++) {
			k = order[i]
			f = s[k, "floor"] / c[k, "floor"]; p = s[k, "proc"] / c[k, "proc"]
			printf "   %-16s floor %8.2f s (%d)  proc %8.2f s (%d)  ratio %.3f   peak RssAnon floor %.1f MB, proc %.1f MB;  VmHWM floor %.1f MB, proc %.1f MB\n",
				k, f, c[k, "floor"], p, c[k, "proc"], f / p, anon[k, "floor"] / 1024, anon[k, "proc"] / 1024, hwm[k, "floor"] / 1024, hwm[k, "proc"] / 1024
			printf "   %-16s same writes: %s\n", "", (dig[k, "floor"] == dig[k, "proc"] && !bad[k]) ? "yes (floor and proc digests equal)" : "NO: " dig[k, "floor"] " vs " dig[k, "proc"]
		}
	}' "$RESULTS"
if awk -F'\t' '$14 > 0 { found = 1 } END { exit !found }' "$RESULTS"; then
	echo "   WARNING: other sessions were active during some runs (column 'others busy'); their times are not clean"
fi
for part in $PARTS; do
	if [ "$(awk -F'\t' -v p="$part" '$2 == p && $4 == "proc" { print $13 }' "$RESULTS" | sort -u | wc -l)" -gt 1 ]; then
		echo "   WARNING: loyalty.so was reinstalled during the $part runs; its proc runs used different builds (column 13 of $RESULTS)"
	fi
done
echo "   per-pair ratios:"
awk -F'\t' '
	$4 == "floor" { f[$2 " " $3] = $5 }
	$4 == "proc" && ($2 " " $3) in f { k = $2 " " $3; r[k] = r[k] sprintf(" %.3f", f[k] / $5) }
	END { for (k in r) printf "   %-16s%s\n", k, r[k] }' "$RESULTS" | sort

psql_pg -c "DROP DATABASE IF EXISTS $RUN_DB WITH (FORCE)"
if [ "$CLEAN" = 1 ]; then
	for d in exp exps tier; do drop_template "${PREFIX}_${d}_tpl"; done
fi
echo "== maintenance done in $(($(date +%s) - t0))s"
