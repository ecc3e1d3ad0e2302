# shellcheck shell=bash
# bench/suite_views.sh — latency of the BI / statement views on a big database:
# 1M members, 20M ledger rows (views_setup.sql), then
#   (1) member_summary of one member      pgbench -M prepared, random member
#   (2) statement of one member           pgbench -M prepared, random member
#   (3) liability of one program          pgbench -M prepared, -t runs
#   (4) one program's month of activity_daily and of leaderboard (random month)
# each with median / p95 latency from pgbench's per-transaction log, and
# EXPLAIN (ANALYZE, BUFFERS) of one instance of each saved to
# $OUT/views_plans.txt.  (The candidate rewrites it once compared are the
# extension's views since 0.2.0; the comparison is in git history.)
#
# Sourced by bench.sh (bench/bench.sh views).  Creates (and drops first) only
# the database $BENCH_DB; never changes the cluster configuration.
#
# Environment (defaults):
#   BENCH_DB          (loyalty_views)   database built by this script
#   BENCH_MEMBERS     (1000000)         members (60% in program north, 40% south)
#   BENCH_PER_MEMBER  (20)              mean ledger rows per member (n/2 .. 3n/2)
#   BENCH_SOUTH_EXPIRY (fixed)          expiry of program south: fixed (3 years) |
#                                       end_of_period (1 year / year)
#   BENCH_REUSE       (0)               1: keep an existing, completely built $BENCH_DB
#   BENCH_VERIFY      (1)               1: time loyalty.verify() once after the build
#   BENCH_PREWARM     (1)               1: read account/lot/ledger and their indexes once
#                                       (pg_prewarm 'read': into the OS page cache;
#                                       shared_buffers stays the cluster's 128MB)
#   BENCH_SECONDS     (30)              pgbench length for (1) and (2) (+5 s warm-up)
#   BENCH_CLIENTS     (1)               pgbench clients for (1) and (2)
#   BENCH_SLOW_RUNS   (3)               executions of each original (3) / (4) query
#   BENCH_CLEAN       (0)               1: drop $BENCH_DB at the end
DB=${BENCH_DB:-loyalty_views}
MEMBERS=${BENCH_MEMBERS:-1000000}
PER_MEMBER=${BENCH_PER_MEMBER:-20}
SOUTH_EXPIRY=${BENCH_SOUTH_EXPIRY:-fixed}
REUSE=${BENCH_REUSE:-0}
VERIFY=${BENCH_VERIFY:-1}
PREWARM=${BENCH_PREWARM:-1}
SECS=${BENCH_SECONDS:-30}
CLIENTS=${BENCH_CLIENTS:-1}
SLOW_RUNS=${BENCH_SLOW_RUNS:-3}
CLEAN=${BENCH_CLEAN:-0}
NORTH=$(( MEMBERS * 6 / 10 ))          # members m1..m$NORTH are in north

psql_db() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
REPORT="$OUT/report.txt"
: >"$REPORT"

say "== views benchmark: database $DB on port $PORT (PostgreSQL $SERVER, loyalty $AVAIL), logs in $OUT"
say "   settings: $("$PSQL" -X -Atq -d postgres -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)
   FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather',
                                   'random_page_cost', 'effective_cache_size')")"

# ---- build ------------------------------------------------------------------
built=0
if [ "$REUSE" = 1 ] && "$PSQL" -X -Atq -d "$DB" -c \
	"SELECT 1 FROM bench.build_log WHERE step = 'CHECKPOINT'" 2>/dev/null | grep -q 1; then
	say "== reusing the database built before (BENCH_REUSE=1)"
else
	say "== build: $MEMBERS members x ~$PER_MEMBER ledger rows (south expiry $SOUTH_EXPIRY)"
	recreate_db "$DB"
	b0=$(date +%s)
	psql_db -v members="$MEMBERS" -v per_member="$PER_MEMBER" -v south_expiry="$SOUTH_EXPIRY" -v load="$LOAD" \
		-f "$HERE/views_setup.sql" >"$OUT/setup.log" 2>&1 || { tail -5 "$OUT/setup.log" >&2; die "views setup failed, see $OUT/setup.log"; }
	say "   loaded: $(sed -n 's/.*bench_load: \(.*\)$/\1/p' "$OUT/setup.log") (verify() clean)"
	b1=$(date +%s)
	built=1
	say "   build wall time $((b1 - b0)) s; steps:"
	psql_db -Atc "SELECT format('     %-40s %8s s', step, round(extract(epoch FROM done_at - lag(done_at) OVER (ORDER BY done_at))::numeric, 1))
	              FROM bench.build_log ORDER BY done_at OFFSET 1" | tee -a "$REPORT"
fi

say "== data"
psql_db -Atc "
SELECT format('   %-12s %10s rows  heap %8s  indexes %8s  (%s)', c.relname,
              (SELECT reltuples::bigint FROM pg_class WHERE oid = c.oid),
              pg_size_pretty(pg_table_size(c.oid)), pg_size_pretty(pg_indexes_size(c.oid)),
              (SELECT string_agg(i.relname || ' ' || pg_size_pretty(pg_relation_size(i.oid)), ', ' ORDER BY i.relname)
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'loyalty' AND c.relname IN ('account', 'ledger', 'lot', 'tier_change')
ORDER BY pg_total_relation_size(c.oid) DESC" | tee -a "$REPORT"
psql_db -Atc "
SELECT format('   database %s; %s', pg_size_pretty(pg_database_size(current_database())),
  (SELECT string_agg(format('%s: %s members (%s), %s ledger rows (%s redeems)', p.code,
                            (SELECT count(*) FROM loyalty.account a WHERE a.program_id = p.id),
                            (SELECT string_agg(coalesce(tier, 'silver') || ' ' || n, ', ' ORDER BY tier NULLS FIRST)
                               FROM (SELECT tier, count(*) AS n FROM loyalty.account a
                                      WHERE a.program_id = p.id GROUP BY tier) t),
                            (SELECT count(*) FROM loyalty.ledger e WHERE e.program_id = p.id),
                            (SELECT count(*) FROM loyalty.ledger e WHERE e.program_id = p.id AND e.kind = 'redeem')),
                     '; ' ORDER BY p.code)
     FROM loyalty.program p))" | tee -a "$REPORT"

if [ "$VERIFY" = 1 ] && [ "$built" = 1 ]; then
	v0=$(date +%s.%N)
	problems=$(psql_db -Atc "SET work_mem = '256MB'; SELECT count(*) FROM loyalty.verify()")
	v1=$(date +%s.%N)
	say "   loyalty.verify(): $problems problems ($(printf '%.0f' "$(echo "$v1 - $v0" | bc)") s, work_mem 256MB)"
fi

if [ "$PREWARM" = 1 ]; then
	w0=$(date +%s)
	mb=$(psql_db -Atc "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_prewarm;
	  SELECT (sum(pg_prewarm(c.oid, 'read')) * 8 / 1024)::bigint
	  FROM pg_class c
	  WHERE c.oid IN ('loyalty.account'::regclass, 'loyalty.lot'::regclass, 'loyalty.ledger'::regclass)
	     OR c.oid IN (SELECT indexrelid FROM pg_index
	                  WHERE indrelid IN ('loyalty.account'::regclass, 'loyalty.lot'::regclass, 'loyalty.ledger'::regclass))")
	say "   prewarm (pg_prewarm 'read' into the OS page cache): $mb MB in $(( $(date +%s) - w0 )) s"
fi

# ---- pgbench scripts --------------------------------------------------------
# member-level: a random member m1..mN, its program derived from the number
# (north: m1..m$NORTH); both become parameters ($n) under -M prepared.
write_scripts() {	# $1 = suffix, $2 = summary view, $3 = statement view, $4 liability, $5 activity, $6 leaderboard
	cat >"$OUT/summary$1.pgbench" <<-EOF
	\\set m random(1, $MEMBERS)
	SELECT * FROM $2 WHERE program = CASE WHEN :m <= $NORTH THEN 'north' ELSE 'south' END AND member = 'm' || :m;
	EOF
	cat >"$OUT/statement$1.pgbench" <<-EOF
	\\set m random(1, $MEMBERS)
	SELECT * FROM $3 WHERE program = CASE WHEN :m <= $NORTH THEN 'north' ELSE 'south' END AND member = 'm' || :m ORDER BY id;
	EOF
	cat >"$OUT/liability$1.pgbench" <<-EOF
	SELECT * FROM $4 WHERE program = :prog;
	EOF
	cat >"$OUT/activity$1.pgbench" <<-EOF
	\\set mo random(1, 12)
	SELECT * FROM $5 WHERE program = :prog AND day >= make_date(2026, :mo, 1) AND day < (make_date(2026, :mo, 1) + interval '1 month')::date ORDER BY day;
	EOF
	cat >"$OUT/leaderboard$1.pgbench" <<-EOF
	\\set mo random(1, 12)
	SELECT * FROM $6 WHERE program = :prog AND month = make_date(2026, :mo, 1) ORDER BY rank;
	EOF
}

# latency stats from pgbench -l logs: median, p95, max (ms), transactions
stats() {	# $1 = log prefix
	cat "$1".* | awk '{ print $3 / 1000.0 }' | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "no transactions"; exit }
			i50 = int(0.50 * NR + 0.5); if (i50 < 1) i50 = 1
			i95 = int(0.95 * NR + 0.5); if (i95 < 1) i95 = 1; if (i95 > NR) i95 = NR
			printf "median %9.3f ms  p95 %9.3f ms  max %9.3f ms  (%d xacts)", v[i50], v[i95], v[NR], NR
		}'
}

# $1 label, $2 script, $3.. extra pgbench args
bench_run() {
	local label=$1 script=$2 tag
	shift 2
	tag=$(echo "$label" | tr -c 'a-zA-Z0-9_\n' '_')
	rm -f "$OUT/log_$tag".*
	"$PGBENCH" -n -M prepared -f "$OUT/$script" "$@" -l --log-prefix="$OUT/log_$tag" "$DB" \
		>"$OUT/pgbench_$tag.txt" 2>&1 || die "pgbench failed, see $OUT/pgbench_$tag.txt"
	local tps
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$OUT/pgbench_$tag.txt")
	say "$(printf '   %-44s %s  tps %7.1f  load %s' "$label" "$(stats "$OUT/log_$tag")" "${tps:-0}" "$(cut -d' ' -f1 /proc/loadavg)")"
}

member_phase() {	# $1 = script suffix, $2 = which: "summary statement" (default both)
	local c=$CLIENTS w
	for w in ${2:-summary statement}; do
		local n=$w
		[ "$w" = summary ] && n=member_summary
		"$PGBENCH" -n -M prepared -f "$OUT/$w$1.pgbench" -c "$c" -j "$c" -T 5 "$DB" >/dev/null 2>&1
		bench_run "($([ "$w" = summary ] && echo 1 || echo 2)) $n$1" "$w$1.pgbench" -c "$c" -j "$c" -T "$SECS"
		# the same with -M simple: every execution is parsed, rewritten and planned
		bench_run "($([ "$w" = summary ] && echo 1 || echo 2)) $n$1 -M simple" "$w$1.pgbench" -c "$c" -j "$c" -T "$SECS" -M simple
	done
}

program_phase() {	# $1 = suffix, $2 = runs
	local j=""
	case " ${PGOPTIONS:-} " in *jit=off*) j=" (jit off)" ;; esac
	bench_run "(3) liability$1 north$j" "liability$1.pgbench" -t "$2" -D prog=north
	bench_run "(3) liability$1 south$j" "liability$1.pgbench" -t "$2" -D prog=south
	bench_run "(4) activity_daily$1 north month$j" "activity$1.pgbench" -t "$2" -D prog=north
	bench_run "(4) leaderboard$1 north month$j" "leaderboard$1.pgbench" -t "$2" -D prog=north
}

# EXPLAIN (ANALYZE, BUFFERS) of one instance of each query (the member-level
# ones run once before, so their plans show a warm cache like the pgbench runs).
explain_all() {	# $1 = output file, $2..$6 = views as write_scripts
	local f=$1 m1=m424242 m2=m876543
	{
		echo "-- EXPLAIN (ANALYZE, BUFFERS) on $DB: $MEMBERS members, $(psql_db -Atc "SELECT reltuples::bigint FROM pg_class WHERE oid = 'loyalty.ledger'::regclass") ledger rows"
		echo "-- PostgreSQL $SERVER, $(date -u '+%Y-%m-%d %H:%M UTC'); member-level queries ran once before (warm cache)"
	} >"$f"
	q() {	# $1 query, $2 = warm: run it once before
		[ "${2:-}" != warm ] || psql_db -c "$1" >/dev/null
		{ echo; echo "-- $1"; psql_db -P pager=off -c "EXPLAIN (ANALYZE, BUFFERS) $1"; } >>"$f"
	}
	q "SELECT * FROM $2 WHERE program = 'north' AND member = '$m1'" warm
	q "SELECT * FROM $2 WHERE program = 'south' AND member = '$m2'" warm
	q "SELECT * FROM $3 WHERE program = 'north' AND member = '$m1' ORDER BY id" warm
	# the generic plans pgbench -M prepared settles on after 5 executions
	qg() {
		{ echo; echo "-- generic plan: PREPARE s(text, text) AS $1; EXECUTE s('north', '$m1')"
		  psql_db -P pager=off -f - <<-EOF
			SET plan_cache_mode = force_generic_plan;
			PREPARE s(text, text) AS $1;
			\\o /dev/null
			EXECUTE s('north', '$m1');
			\\o
			EXPLAIN (ANALYZE, BUFFERS) EXECUTE s('north', '$m1');
			EOF
		} >>"$f"
	}
	qg "SELECT * FROM $2 WHERE program = \$1 AND member = \$2"
	qg "SELECT * FROM $3 WHERE program = \$1 AND member = \$2 ORDER BY id"
	q "SELECT * FROM $4 WHERE program = 'north'"
	q "SELECT * FROM $5 WHERE program = 'north' AND day >= '2026-03-01' AND day < '2026-04-01' ORDER BY day"
	q "SELECT * FROM $6 WHERE program = 'north' AND month = '2026-03-01' ORDER BY rank"
}

ORIG=(loyalty.member_summary loyalty.statement loyalty.liability loyalty.activity_daily loyalty.leaderboard)
write_scripts "" "${ORIG[@]}"
say "== extension views ($CLIENTS client(s); (1)/(2) ${SECS} s after 5 s warm-up; (3)/(4) $SLOW_RUNS executions each)"
e0=$(date +%s)
explain_all "$OUT/views_plans.txt" "${ORIG[@]}"
say "   EXPLAIN ANALYZE of all six queries: $(( $(date +%s) - e0 )) s -> views_plans.txt"
member_phase ""
program_phase "" "$SLOW_RUNS"

say "   plans: $OUT/views_plans.txt"

if [ "$CLEAN" = 1 ]; then
	"$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
	say "== dropped $DB"
fi
say "== report in $REPORT"
