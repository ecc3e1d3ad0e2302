# shellcheck shell=bash
# bench/suite_earn.sh — loyalty.earn() throughput against "the floor"
# (sourced by bench.sh in a subshell: bench/bench.sh earn).
#
# The floor is bench.earn_floor(), a plain LANGUAGE sql function writing the
# same rows one earn() writes (lot + ledger row + account UPDATE) with
# precomputed points.  Phases alternate (raw, floor, earn, raw, ...), each on
# a fresh copy of the same template database, and the report prints
# earn_tps/floor_tps.
#
# Environment (defaults):
#   BENCH_DB      (loyalty_bench)    database of the phases; template <db>_tpl
#   BENCH_MEMBERS (100000)           members enrolled beforehand
#   BENCH_HISTORY (3)                2025 purchases per member (0: empty ledger)
#   BENCH_CLIENTS (2)                pgbench clients (and threads)
#   BENCH_SECONDS (20)               length of each phase
#   BENCH_ROUNDS  (2)                rounds of phases
#   BENCH_RAW     (1)                1: also a "raw" phase per round (the floor's
#                                    statement as a prepared statement)
#   BENCH_PROFILE (1)                1: per-statement profile of earn() at the end
#   BENCH_PROFILE_CALLS (2000)
#   BENCH_REUSE   (0)                1: keep the template while its inputs are unchanged
DB=${BENCH_DB:-loyalty_bench}
TPL=${DB}_tpl
MEMBERS=${BENCH_MEMBERS:-100000}
HISTORY=${BENCH_HISTORY:-3}
CLIENTS=${BENCH_CLIENTS:-2}
SECONDS_PER_PHASE=${BENCH_SECONDS:-20}
ROUNDS=${BENCH_ROUNDS:-2}
RAW=${BENCH_RAW:-1}
PROFILE=${BENCH_PROFILE:-1}
PROFILE_CALLS=${BENCH_PROFILE_CALLS:-2000}
REUSE=${BENCH_REUSE:-0}

psql_db() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
t0=$(date +%s)

# ---- setup: the template, then every phase on a fresh copy of it -----------
say "== earn: database $DB on port $PORT (PostgreSQL $SERVER, loyalty $AVAIL), logs in $OUT"
template "$TPL" setup.sql members="$MEMBERS" history="$HISTORY"
reset_db() { fresh_copy "$TPL" "$DB" && psql_db -c CHECKPOINT; }
reset_db
PROG_ID=$(psql_db -Atc "SELECT id FROM loyalty.program WHERE code = 'bench'")
psql_db -Atc "SELECT format('   %s members (%s), %s ledger rows of history, %s active rules',
                (SELECT count(*) FROM loyalty.account),
                (SELECT string_agg(tier || ' ' || n, ', ' ORDER BY th)
                   FROM (SELECT a.tier, count(*) AS n, min(t.threshold) AS th
                           FROM loyalty.account a
                           JOIN loyalty.tier t ON t.program_id = a.program_id AND t.code = a.tier
                          GROUP BY a.tier) s),
                (SELECT count(*) FROM loyalty.ledger),
                (SELECT count(*) FROM loyalty.rule WHERE active))"

# ---- phases -----------------------------------------------------------------
KINDS="floor earn"
[ "$RAW" = 1 ] && KINDS="raw floor earn"
echo "== phases: $ROUNDS rounds of [$KINDS], ${SECONDS_PER_PHASE}s each, $CLIENTS clients, -M prepared"
RESULTS="$OUT/results.tsv"
: >"$RESULTS"
phase=0
for round in $(seq 1 "$ROUNDS"); do
	for kind in $KINDS; do
		phase=$((phase + 1))
		reset_db
		log="$OUT/phase$phase-$kind.log"
		"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_PHASE" \
			-D members="$MEMBERS" -D clients="$CLIENTS" -D prog_id="$PROG_ID" \
			-f "$HERE/$kind.pgbench" "$DB" >"$log" 2>&1 || {
			tail -5 "$log" >&2
			die "pgbench failed, see $log"
		}
		tps=$(pgbench_field "$log" tps)
		lat=$(pgbench_field "$log" latency)
		n=$(pgbench_field "$log" xacts)
		failed=$(pgbench_field "$log" failed)
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$kind" "$tps" "$lat" "$n" "${failed:-0}" >>"$RESULTS"
		printf '   phase %d %-5s  tps %9.1f  latency %6.3f ms  xacts %7d  failed %s\n' \
			"$phase" "$kind" "$tps" "$lat" "$n" "${failed:-0}"
	done
done

# ---- sanity (tables now hold the last earn phase) ---------------------------
last_n=$(awk -F'\t' '$2 == "earn" { n = $5 } END { print n }' "$RESULTS")
psql_db -Atc "SELECT format('== sanity after the last earn phase: %s purchases in 2026 (pgbench: %s), '
                            '%s upgrades, avg %s points/earn, verify(): %s problems',
                            count(*), $last_n,
                            (SELECT count(*) FROM loyalty.tier_change
                              WHERE at >= timestamptz '2026-01-01 00:00+08'),
                            round(avg(points)), (SELECT count(*) FROM loyalty.verify()))
              FROM loyalty.ledger WHERE at >= timestamptz '2026-01-01 00:00+08'"

# ---- report -----------------------------------------------------------------
echo "== result"
awk -F'\t' '
	{ sum[$2] += $3; cnt[$2]++; lat[$2] += $4 }
	END {
		for (k in sum) mean[k] = sum[k] / cnt[k]
		n = split("raw floor earn", order, " ")
		for (i = 1; i <= n; i++) {
			k = order[i]
			if (cnt[k]) printf "   %-5s mean tps %9.1f  mean latency %6.3f ms  (%d phases)\n", k, mean[k], lat[k] / cnt[k], cnt[k]
		}
		printf "   ratio earn_tps / floor_tps = %.3f\n", mean["earn"] / mean["floor"]
		if (cnt["raw"]) printf "   ratio earn_tps / raw_tps   = %.3f   (floor_tps / raw_tps = %.3f)\n", mean["earn"] / mean["raw"], mean["floor"] / mean["raw"]
	}' "$RESULTS"

# ---- profile ----------------------------------------------------------------
if [ "$PROFILE" = 1 ]; then
	echo "== profile: $PROFILE_CALLS calls in one session (auto_explain LOADed in that session only)"
	reset_db
	psql_db -v calls="$PROFILE_CALLS" -v members="$MEMBERS" -v prog_id="$PROG_ID" \
		-f "$HERE/profile.sql" >"$OUT/profile.out" 2>"$OUT/profile.trace"
	sed -n '/^server-side/,/^$/p' "$OUT/profile.out" | sed 's/^/   /'
	echo "   statements earn() runs (executor time from auto_explain; excludes SPI/C/fmgr overhead):"
	awk -v calls="$PROFILE_CALLS" '
		function label(q) {
			if (q ~ /FOR UPDATE/) return "1 lock account (SELECT .. FOR UPDATE)"
			if (q ~ /FROM loyalty.ledger WHERE program_id = \$1 AND member = \$2 AND ref = \$3/) return "2 idempotency look-up by ref"
			if (q ~ /count\(\*\)::int4 FROM loyalty.ledger/) return "3 orders in window (min_orders rules)"
			if (q ~ /sum\(qual_points\)/) return "4 qualifying value (tier check)"
			if (q ~ /^WITH lot AS/) return "5 credit: INSERT lot + ledger, UPDATE account"
			if (q ~ /loyalty.tier_change/) return "6 tier history INSERT (upgrade)"
			if (q ~ /UPDATE loyalty.account SET referral_paid/) return "7 referral paid UPDATE"
			if (q ~ /loyalty.program|loyalty.tier |loyalty.rule /) return "0 config load (cache miss)"
			if (q ~ /traced_earn_calls/) return ""
			return "? " substr(q, 1, 50)
		}
		function flush() {
			if (have && (l = label(q)) != "") { n[l]++; t[l] += d; if (!(l in scan)) scan[l] = s }
			have = 0; s = ""
		}
		/NOTICE:  duration: / { flush(); match($0, /duration: [0-9.]+/); d = substr($0, RSTART + 10, RLENGTH - 10) + 0; have = 1; next }
		/"Query Text": / { q = $0; sub(/^ *"Query Text": "/, "", q); sub(/",$/, "", q); next }
		/"Node Type": "Seq Scan"/ { s = s (s ? ", " : "") "Seq Scan" }
		/"Index Name": / { x = $0; sub(/^ *"Index Name": "/, "", x); sub(/",?$/, "", x); s = s (s ? ", " : "") x }
		END {
			flush()
			for (k in n) printf "%s\t%d\t%.6f\t%s\n", k, n[k], t[k], scan[k]
		}' "$OUT/profile.trace" | sort | awk -F'\t' -v calls="$PROFILE_CALLS" '
		BEGIN { printf "   %-46s %8s %9s %11s  %s\n", "statement", "calls", "avg µs", "µs/earn", "scans" }
		{
			printf "   %-46s %8d %9.1f %11.1f  %s\n", substr($1, 3), $2, 1000 * $3 / $2, 1000 * $3 / calls, $4
			tot += $3
		}
		END { printf "   %-46s %8s %9s %11.1f\n", "sum of statements", "", "", 1000 * tot / calls }'
fi

psql_pg -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
[ "$REUSE" = 1 ] || drop_template "$TPL"
echo "== earn done in $(($(date +%s) - t0))s"
