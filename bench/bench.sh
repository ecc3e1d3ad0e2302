#!/usr/bin/env bash
# bench/bench.sh — the one entry point of loyalty's benchmarks (bench/README.md).
#
#   bench/bench.sh [check|earn|lots|maintenance|views|receipts|codes|all ...]   (default: all)
#
#   check        bench/loader_check.sql: one small data set loaded through the
#                functions and in bulk; every row must be equal, verify() clean
#   earn         loyalty.earn() throughput against the floor (pgbench)
#   lots         earn / redeem of a member holding many lots against one holding 10
#   maintenance  CALL expire_points / evaluate_tiers against the floor
#   views        latency of the BI / statement views
#   receipts     earn_order with 5 lines against 5 one-line earns
#   codes        add_codes of a million codes; redeem_code against record_event
#   mall         redeem_reward (limited and unlimited stock) against redeem of the same points
#   all          check earn lots maintenance receipts codes mall (views builds a 20M-row database
#                at its default size: run it by name)
#
# Needs the extension installed (make && make install; PG_CONFIG picks the
# PostgreSQL) and a running server; every suite creates and drops only its
# own databases and never changes the cluster configuration.  Shared
# environment: BENCH_PORT (PGPORT or 5499; PGHOST as usual), BENCH_LOAD
# (auto | calls | bulk: how bench/loader.sql makes the data), BENCH_OUT
# (logs; default mktemp -d).  Each suite's own variables are listed at the
# top of bench/suite_<name>.sh and in bench/README.md.  Run as root, it
# re-runs itself as the postgres OS user (peer authentication; the
# maintenance suite reads /proc/<backend pid>/status).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "$(id -u)" = 0 ] && [ -z "${PGUSER:-}" ] && id postgres >/dev/null 2>&1; then
	exec runuser -u postgres -- env BENCH_OUT="${BENCH_OUT:-}" bash "$HERE/bench.sh" "$@"
fi

# shellcheck source=bench/common.sh
. "$HERE/common.sh"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(all)
run=()
for s in "${suites[@]}"; do
	case "$s" in
	all) run+=(check earn lots maintenance receipts codes mall) ;;
	check | earn | lots | maintenance | views | receipts | codes | mall) run+=("$s") ;;
	*) die "unknown suite '$s' (check, earn, lots, maintenance, views, receipts, codes, mall, all)" ;;
	esac
done

ROOT_OUT=${BENCH_OUT:-}
[ -n "$ROOT_OUT" ] || ROOT_OUT=$(mktemp -d /tmp/loyalty-bench.XXXXXX)
mkdir -p "$ROOT_OUT"
preflight

suite_check() {
	local db=${BENCH_DB:-loyalty_loader_check}
	say "== loader check: database $db on port $PORT (PostgreSQL $SERVER, loyalty $AVAIL)"
	recreate_db "$db"
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'SET client_min_messages = warning' \
		-c 'CREATE EXTENSION loyalty' -f "$HERE/loader.sql" >/dev/null
	"$PSQL" -X -q -P pager=off -v ON_ERROR_STOP=1 -d "$db" -f "$HERE/loader_check.sql" >"$OUT/check.out" 2>&1 || {
		cat "$OUT/check.out" >&2
		die "loader check failed"
	}
	sed -n '/^spec:/p; /program .* members/,/^$/p; /^loader check/p' "$OUT/check.out" | sed 's/^/   /'
	psql_pg -c "DROP DATABASE $db WITH (FORCE)"
}

t0=$(date +%s)
for s in "${run[@]}"; do
	OUT="$ROOT_OUT/$s"
	mkdir -p "$OUT"
	if [ "$s" = check ]; then
		(suite_check)
	else
		# a subshell per suite: each keeps its own defaults (BENCH_DB, BENCH_SECONDS ...)
		# shellcheck disable=SC1090
		(. "$HERE/suite_$s.sh")
	fi
done
echo "== bench.sh: ${run[*]} done in $(($(date +%s) - t0))s; logs in $ROOT_OUT"
