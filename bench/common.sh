# shellcheck shell=bash
# bench/common.sh — shell code shared by the suites (sourced by bench.sh;
# not a program of its own).
#
# Sets PSQL, PGBENCH (from $PG_CONFIG's bindir when it has them), PORT and
# PGPORT (BENCH_PORT, else PGPORT, else 5499), LOAD (BENCH_LOAD: auto | calls
# | bulk, passed to bench_load.load), and defines
#   say / die               report lines (tee'd to $REPORT when it is set)
#   preflight NAME          server reachable, extension available: SERVER, AVAIL
#   recreate_db DB          drop (FORCE) and create
#   template NAME SETUP vars...   build a template database with bench/SETUP
#                           (psql variables vars...) unless an identical one
#                           exists (BENCH_REUSE=1); key in the database comment
#   drop_template NAME, fresh_copy TEMPLATE DB
#   pgbench_field LOG what  tps | latency | xacts | failed from a pgbench log

# The floors write loyalty's tables directly (INSERT into tables that hold
# rows), which the restore guard refuses unless a superuser sets
# loyalty.maintenance (README "Backup and restore"); the suites run as a
# superuser.  The data itself is made by bench/loader.sql.
export PGOPTIONS="${PGOPTIONS:-} -c loyalty.maintenance=on"

PG_CONFIG=${PG_CONFIG:-pg_config}
BINDIR=$("$PG_CONFIG" --bindir 2>/dev/null || true)
bin() { if [ -n "$BINDIR" ] && [ -x "$BINDIR/$1" ]; then echo "$BINDIR/$1"; else echo "$1"; fi; }
PSQL=$(bin psql)
PGBENCH=$(bin pgbench)
PORT=${BENCH_PORT:-${PGPORT:-5499}}
export PGPORT=$PORT
LOAD=${BENCH_LOAD:-auto}
case "$LOAD" in auto | calls | bulk) ;; *) echo "BENCH_LOAD must be auto, calls or bulk" >&2; exit 1 ;; esac

say() { if [ -n "${REPORT:-}" ]; then echo "$*" | tee -a "$REPORT"; else echo "$*"; fi; }
die() { echo "bench: $*" >&2; exit 1; }
psql_pg() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

preflight() { # preflight: sets SERVER, AVAIL
	"$PSQL" -X -Atq -d postgres -c 'SELECT 1' >/dev/null 2>&1 ||
		die "cannot connect to the server on port $PORT (PGHOST=${PGHOST:-})"
	SERVER=$("$PSQL" -X -Atq -d postgres -c "SHOW server_version")
	AVAIL=$("$PSQL" -X -Atq -d postgres -c \
		"SELECT default_version FROM pg_available_extensions WHERE name = 'loyalty'")
	[ -n "$AVAIL" ] || die "extension loyalty is not installed (make && make install)"
}

recreate_db() { # recreate_db DB
	psql_pg -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
		-c "CREATE DATABASE $1"
}

# the installed extension script (a template built with another is stale)
ext_md5() {
	cat "$("$PG_CONFIG" --sharedir 2>/dev/null || echo /nonexistent)"/extension/loyalty--*.sql 2>/dev/null |
		md5sum | cut -c1-12
}

drop_template() { # drop_template NAME
	if [ -n "$("$PSQL" -X -Atq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$1'")" ]; then
		psql_pg -c "ALTER DATABASE $1 WITH IS_TEMPLATE false" -c "DROP DATABASE $1 WITH (FORCE)"
	fi
}

# template NAME SETUP var=value...: the setup file (which \ir's loader.sql)
# runs in a new database that then refuses connections (no autovacuum, no
# session blocks a copy) and serves as the TEMPLATE of every run.  Reused
# when BENCH_REUSE=1 and its key (setup files, loader, extension script,
# parameters) is unchanged.
template() {
	local name=$1 setup=$2
	shift 2
	local key have s vars=() kv
	key="$(cat "$HERE/$setup" "$HERE/loader.sql" "$HERE"/maint_program.sql | md5sum | cut -c1-12) ext=$(ext_md5) load=$LOAD $*"
	have=$("$PSQL" -X -Atq -d postgres -c \
		"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$name'")
	if [ "${REUSE:-0}" = 1 ] && [ "$have" = "$key" ]; then
		say "   template $name: reused ($*)"
		return
	fi
	s=$(date +%s)
	drop_template "$name"
	psql_pg -c "CREATE DATABASE $name"
	for kv in "$@"; do vars+=(-v "$kv"); done
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$name" "${vars[@]}" -v load="$LOAD" \
		-f "$HERE/$setup" >"$OUT/setup-$name.log" 2>&1 || {
		tail -5 "$OUT/setup-$name.log" >&2
		die "setup of $name failed, see $OUT/setup-$name.log"
	}
	local how
	how=$(sed -n 's/.*bench_load: \(.*\)$/\1/p' "$OUT/setup-$name.log" | paste -sd, | sed 's/,/, /g')
	psql_pg -c "COMMENT ON DATABASE $name IS '$key'" \
		-c "ALTER DATABASE $name WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
	say "   template $name: built in $(($(date +%s) - s))s ($*; loaded: $how; verify() clean)"
}

fresh_copy() { # fresh_copy TEMPLATE DB
	psql_pg -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" \
		-c "CREATE DATABASE $2 TEMPLATE $1 STRATEGY FILE_COPY"
}

pgbench_field() { # pgbench_field LOG tps|latency|xacts|failed
	case "$2" in
	tps) sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$1" ;;
	latency) sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$1" ;;
	xacts) sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1" ;;
	failed) sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$1" ;;
	esac
}

alternate() { # alternate DB PREFIX "KIND..." [pgbench args]: ROUNDS rounds of
	# bench/PREFIX_KIND.pgbench for each KIND in turn (CLIENTS clients, SECS
	# seconds), one line per run in $OUT/results.tsv: round, kind, tps, latency
	local db=$1 prefix=$2 kinds=$3 round kind log tps lat
	shift 3
	RESULTS="$OUT/results.tsv"
	: >"$RESULTS"
	for round in $(seq 1 "$ROUNDS"); do
		for kind in $kinds; do
			log="$OUT/$round-$kind.log"
			"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" "$@" \
				-f "$HERE/${prefix}_$kind.pgbench" "$db" >"$log" 2>&1 || { tail -5 "$log" >&2; die "pgbench failed, see $log"; }
			tps=$(pgbench_field "$log" tps)
			lat=$(pgbench_field "$log" latency)
			printf '%s\t%s\t%s\t%s\n' "$round" "$kind" "$tps" "$lat" >>"$RESULTS"
			printf '   round %d %-6s tps %9.1f  latency %7.3f ms\n' "$round" "$kind" "$tps" "$lat"
		done
	done
}

ratio() { # ratio A B "label": mean tps of kind A / kind B over $OUT/results.tsv
	awk -F'\t' -v a="$1" -v b="$2" -v label="$3" '{ s[$2] += $3; n[$2]++ }
		END { printf "   %s: %s %8.1f tps  %s %8.1f tps  ratio = %.3f\n", label,
		             a, s[a] / n[a], b, s[b] / n[b], (s[a] / n[a]) / (s[b] / n[b]) }' "$OUT/results.tsv"
}
