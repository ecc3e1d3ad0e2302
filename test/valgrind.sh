#!/usr/bin/env bash
# valgrind.sh — the regression suite under valgrind memcheck (issue #8).
#
# Builds loyalty, installs it into the PostgreSQL installation of PG_CONFIG,
# starts a throwaway server (own data directory, Unix socket only) under
#   valgrind --tool=memcheck --trace-children=yes --suppressions=test/valgrind.supp
# runs `make installcheck` against it (pg_regress test/sql and the isolation
# specs test/specs) and then the pgTAP files test/pgtap (when pg_prove and the
# pgtap extension are there), stops the server and reads the valgrind logs
# (one per process).  It prints every error whose stack (or origin stack)
# has a frame in loyalty's code (loyalty.so / src/*.c), the count of the
# other errors, and the non-zero "ERROR SUMMARY" lines.
#
# Exit status: 0 clean; 1 valgrind reported an error in loyalty's code;
# 2 no such error, but a test failed (regression.diffs, pgTAP) or a process
# crashed; 3 the run itself could not be done (build, install, server start).
# Leaks are not reported: a backend frees its memory contexts at exit, and
# memcheck cannot tell palloc chunks apart anyway (see below), so "definitely
# lost" blocks are memory-context blocks, not bugs.  Errors outside loyalty's
# code (PostgreSQL, libc, pg_cron) are counted and listed briefly but do not
# fail the run unless VALGRIND_STRICT=1.
#
# Limitation: Debian's (and most distributions') PostgreSQL is not built with
# USE_VALGRIND, so palloc/pfree are invisible to memcheck: it only knows the
# malloc'ed memory-context blocks (8 kB and up).  A read or write past the end
# of a palloc'ed chunk, or of a pfree'd chunk, that stays inside its block is
# NOT seen; a chunk reused after pfree looks initialised.  What it does see:
# use of uninitialised values (fresh context blocks are undefined), accesses
# outside any malloc'ed block (stack, freed blocks after a context reset or
# delete, wild pointers), and malloc/free misuse.  For the full check build
# PostgreSQL with -DUSE_VALGRIND (pg_config_manual.h) and point PG_CONFIG at it.
#
# Settings (environment):
#   PG_CONFIG            pg_config of the installation to use
#                        (default /usr/lib/postgresql/15/bin/pg_config)
#   VALGRIND_PORT        port of the throwaway server (default 5499; -p PORT)
#   VALGRIND_WORKDIR     directory for the data directory and logs (must not
#                        exist or be empty; default a new /tmp/loyalty-valgrind.*)
#   VALGRIND_PGTAP       0 skips the pgTAP files (default 1)
#   VALGRIND_KEEP        1 keeps the work directory (logs) even after a clean run;
#                        after a failed run it is always kept
#   VALGRIND_STRICT      1 also fails (exit 1) on errors outside loyalty's code
#   VALGRIND_NUM_CALLERS stack depth (default 30)
#   VALGRIND_OPTS        more valgrind options (e.g. --track-origins=no)
#   VALGRIND_REGRESS     the pg_regress tests to run (default all: test/sql/*),
#   VALGRIND_ISOLATION   and the isolation specs (default all; empty: none),
#                        e.g. VALGRIND_REGRESS="14_order_lines 15_mall"
#   VALGRIND_TIMEOUT     seconds allowed for each of installcheck and pgTAP
#                        (default 7200)
#   VALGRIND_SERVER_USER OS user running the server when run as root
#                        (default postgres)
# Usage: test/valgrind.sh [-p PORT]     or     make valgrind-check
set -u -o pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd -P)

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PORT=${VALGRIND_PORT:-5499}
PGTAP=${VALGRIND_PGTAP:-1}
KEEP=${VALGRIND_KEEP:-0}
STRICT=${VALGRIND_STRICT:-0}
NUM_CALLERS=${VALGRIND_NUM_CALLERS:-30}
SUITE_TIMEOUT=${VALGRIND_TIMEOUT:-7200}
SERVER_USER=${VALGRIND_SERVER_USER:-postgres}

while getopts "p:h" opt; do
	case $opt in
		p) PORT=$OPTARG ;;
		*) sed -n '2,/^# Usage/p' "$0" | sed 's/^# \{0,1\}//'; exit 3 ;;
	esac
done

T0=$SECONDS
say() { printf '== valgrind-check: %s\n' "$*"; }
die() { say "$*"; exit 3; }
elapsed() { local s=$((SECONDS - ${1:-$T0})); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

command -v valgrind >/dev/null || die "valgrind is not installed (Debian: apt-get install valgrind)"
pgc=$PG_CONFIG
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v "$PG_CONFIG") || die "no pg_config at $pgc (set PG_CONFIG)"
BINDIR=$("$PG_CONFIG" --bindir)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
SHAREDIR=$("$PG_CONFIG" --sharedir)
[ -x "$BINDIR/postgres" ] || die "no server in $BINDIR (postgresql-15 and postgresql-server-dev-15 are needed)"
SUPP=$REPO/test/valgrind.supp
[ -f "$SUPP" ] || die "missing $SUPP"

# ---- work directory and the user running the server
if [ -n "${VALGRIND_WORKDIR:-}" ]; then
	WORK=$VALGRIND_WORKDIR
	mkdir -p "$WORK" || die "cannot create $WORK"
	[ -z "$(ls -A "$WORK")" ] || die "$WORK is not empty"
else
	WORK=$(mktemp -d /tmp/loyalty-valgrind.XXXXXX) || die "mktemp failed"
fi
WORK=$(cd "$WORK" && pwd -P)
DATA=$WORK/data
VGLOG=$WORK/valgrind
mkdir -p "$VGLOG"
cp "$SUPP" "$WORK/valgrind.supp"

if [ "$(id -u)" = 0 ]; then
	id "$SERVER_USER" >/dev/null 2>&1 || die "running as root: the server needs a user ($SERVER_USER does not exist; set VALGRIND_SERVER_USER)"
	chown -R "$SERVER_USER:" "$WORK"
	chmod 755 "$WORK"
	# (in $WORK: the server user need not be able to read the source tree)
	as_server() { (cd "$WORK" && setpriv --reuid="$SERVER_USER" --regid="$(id -g "$SERVER_USER")" --init-groups -- "$@"); }
else
	as_server() { "$@"; }
fi

VG_PID=
cleanup() {
	local rc=$?
	if [ -n "$VG_PID" ] && kill -0 "$VG_PID" 2>/dev/null; then
		as_server "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 120 stop >/dev/null 2>&1
		wait "$VG_PID" 2>/dev/null
	fi
	if [ "$rc" = 0 ] && [ "$KEEP" != 1 ]; then
		rm -rf "$WORK"
	else
		rm -rf "$DATA"
		say "kept the logs in $WORK (valgrind/<pid>.log, postmaster.log)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 3' INT TERM

# ---- build and install (the PGXS default CFLAGS carry -g: stacks get file:line)
say "building and installing into $("$PG_CONFIG" --pkglibdir) ($PG_CONFIG)"
make -s PG_CONFIG="$PG_CONFIG" clean >/dev/null
make -s PG_CONFIG="$PG_CONFIG" || die "build failed"
make -s PG_CONFIG="$PG_CONFIG" install || die "make install failed (no write access to $PKGLIBDIR? run as root)"

# ---- a throwaway cluster (initdb is not under valgrind: it is not the subject)
as_server "$BINDIR/initdb" -D "$DATA" -U postgres -A trust --no-sync >"$WORK/initdb.log" 2>&1 \
	|| { cat "$WORK/initdb.log"; die "initdb failed"; }

# pg_cron preloaded, as CI (.ci/run) does, when it is installed: pgTAP's
# maintenance.sql creates it.  The expected outputs are the same without it.
PRELOAD=()
CRON=0
if [ -f "$PKGLIBDIR/pg_cron.so" ]; then
	PRELOAD=(-c shared_preload_libraries=pg_cron -c cron.database_name=postgres)
	CRON=1
fi

# --error-exitcode=1: a process with an error exits with 1, which the
# postmaster takes for an ordinary FATAL exit of a backend; any other code
# would count as a crash and reset every session, hiding the later errors.
# The verdict comes from the logs, not from exit codes.  A forked process
# inherits its parent's error count, so an error in the postmaster itself
# would make the startup process "fail" and the server not start, and so
# does an error of the startup process itself: both have to run clean
# (test/valgrind.supp covers the startup process's end-of-recovery WAL
# write; to look at unsuppressed errors, VALGRIND_OPTS=--error-exitcode=0).
VG=(valgrind --tool=memcheck --trace-children=yes --error-exitcode=1
	--suppressions="$WORK/valgrind.supp" --log-file="$VGLOG/%p.log"
	--leak-check=no --num-callers="$NUM_CALLERS" --track-origins=yes
	--fullpath-after= --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END
	--gen-suppressions=all ${VALGRIND_OPTS:-})
# Small and quiet to keep it fast: 16MB of shared buffers, 20 connections,
# no fsync, no autovacuum (no loyalty code runs there); jit=off because
# llvmjit would be loaded for the costlier queries: LLVM under memcheck is
# slow and its generated code is not what this is about.
SERVER=("$BINDIR/postgres" -D "$DATA" -p "$PORT" -k "$WORK" -c listen_addresses=
	-c shared_buffers=16MB -c max_connections=20 -c fsync=off -c autovacuum=off -c jit=off
	-c log_line_prefix='%m [%p] ' -c log_min_messages=warning "${PRELOAD[@]}")

# ---- the suite; valgrind makes it 20-130x slower (08_orders_rules: 5 s -> 10 min), hence the timeouts
run_suite() {
	export PGISOLATIONTIMEOUT=$SUITE_TIMEOUT PG_TEST_TIMEOUT_DEFAULT=$SUITE_TIMEOUT
	t=$SECONDS
	say "make installcheck (pg_regress test/sql, isolation test/specs)"
	local only=()
	[ -n "${VALGRIND_REGRESS+x}" ] && only+=("REGRESS=$VALGRIND_REGRESS")
	[ -n "${VALGRIND_ISOLATION+x}" ] && only+=("ISOLATION=$VALGRIND_ISOLATION")
	if ! timeout "$SUITE_TIMEOUT" make -s PG_CONFIG="$PG_CONFIG" installcheck "${only[@]}"; then
		suite_failed=1
		for f in test/regression.diffs test/output_iso/regression.diffs; do
			[ -s "$f" ] && { say "$f (first 100 lines)"; head -100 "$f"; }
		done
	fi
	say "installcheck took $(elapsed $t)"

	if [ "$PGTAP" = 1 ] && command -v pg_prove >/dev/null && [ -f "$SHAREDIR/extension/pgtap.control" ]; then
		tap=(test/pgtap/*.sql)
		if [ $CRON = 0 ]; then
			say "pg_cron is not installed: skipping test/pgtap/maintenance.sql"
			tap=("${tap[@]/test\/pgtap\/maintenance.sql/}")
		fi
		t=$SECONDS
		say "pg_prove ${tap[*]}"
		timeout "$SUITE_TIMEOUT" pg_prove --psql-bin "$BINDIR/psql" --ext .sql ${tap[*]} || suite_failed=1
		say "pgTAP took $(elapsed $t)"
	elif [ "$PGTAP" = 1 ]; then
		say "pg_prove or the pgtap extension is missing: skipping test/pgtap"
	fi
}

say "starting postgres under valgrind memcheck on port $PORT (work directory $WORK)"
as_server "${VG[@]}" "${SERVER[@]}" >"$WORK/postmaster.log" 2>&1 &
VG_PID=$!
export PGHOST=$WORK PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
ready=0
for _ in $(seq 1 600); do
	kill -0 "$VG_PID" 2>/dev/null || break
	if "$BINDIR/pg_isready" -q; then ready=1; break; fi
	sleep 1
done
suite_failed=0
start_failed=0
if [ $ready = 0 ]; then
	tail -20 "$WORK/postmaster.log"
	say "the server did not start; the valgrind logs follow"
	start_failed=1
else
	say "server up after $(elapsed)"
	run_suite
fi

# ---- stop; every process writes its ERROR SUMMARY when it exits
if kill -0 "$VG_PID" 2>/dev/null; then
	say "stopping the server"
	as_server "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 900 stop >/dev/null \
		|| as_server "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 120 stop >/dev/null
fi
for _ in $(seq 1 300); do kill -0 "$VG_PID" 2>/dev/null || break; sleep 1; done
wait "$VG_PID" 2>/dev/null
VG_PID=

# ---- the logs
# An error is the text between the VALGRINDERROR-BEGIN/END markers (its
# stack and the "Address ... is" / origin stacks); the suppression valgrind
# generates for it follows the END marker in the log, ready to be copied.
# It is loyalty's when a frame is in loyalty.so or in a file of $REPO/src/
# (--fullpath-after= prints full source paths).  Identical errors from
# different processes are shown once, with their count.
report=$WORK/report.txt
logs=("$VGLOG"/*.log)
[ -e "${logs[0]}" ] || die "valgrind wrote no log in $VGLOG (see $WORK/postmaster.log)"
awk -v src="$REPO/src/" -v report="$report" '
	function strip(l) { sub(/^==[0-9]+== ?/, "", l); return l }
	function bare(l) { sub(/0x[0-9A-Fa-f]+: /, "", l); gsub(/0x[0-9A-Fa-f]+/, "0x.", l); return l }
	function flush() { if (elided) { blk = blk "\n       ..."; elided = 0 } }
	FNR == 1 { pid = FILENAME; sub(/.*\//, "", pid); sub(/\.log$/, "", pid); procs++ }
	/VALGRINDERROR-BEGIN/ { inblk = 1; blk = ""; mkey = ""; okey = ""; mine = 0; head = ""; top = ""; nfr = 0; nsec = 0; elided = 0; next }
	/VALGRINDERROR-END/ {
		inblk = 0; flush()
		if (mine) {
			nmine++; k = bare(head) mkey
			if (!(k in seen_m)) { order_m[++um] = k; text_m[k] = blk }
			if (seen_m[k]++ < 10) pids_m[k] = pids_m[k] " " pid; else if (seen_m[k] == 11) pids_m[k] = pids_m[k] " ..."
		} else {
			nother++; k = bare(head) okey
			if (!(k in seen_o)) { order_o[++uo] = k; text_o[k] = head top }
			seen_o[k]++
		}
		next
	}
	inblk {
		l = strip($0)
		if (l ~ /^ *$/) next
		if (head == "") { head = l; blk = l; next }
		if (l !~ /^ +(at|by) 0x/) { flush(); blk = blk "\n" l; nsec = 0; next }
		nsec++; nfr++
		if (nfr <= 4) { top = top "\n" l; okey = okey "\n" bare(l) }
		if (index(l, "loyalty.so") || index(l, src)) {
			mine = 1; mkey = mkey "\n" bare(l); flush(); blk = blk "\n" l "   <== loyalty"
		} else if (nsec <= 3) { flush(); blk = blk "\n" l }
		else elided = 1
		next
	}
	/ERROR SUMMARY: / {
		nsum++; l = $0; sub(/.*suppressed: /, "", l); supp += l + 0
		if ($0 ~ /ERROR SUMMARY: [1-9]/) summ[++ns] = pid ".log: " strip($0)
	}
	/Process terminating with default action of signal/ { crash[++nc] = pid ".log: " strip($0) }
	END {
		printf "valgrind logs: %d processes\n", procs > report
		printf "errors in loyalty code: %d (%d distinct)\n", nmine, um > report
		printf "other errors (PostgreSQL, libc, other extensions): %d (%d distinct)\n", nother, uo > report
		printf "processes killed by a signal: %d\n", nc > report
		printf "ERROR SUMMARY lines: %d (of %d processes), %d with errors; suppressed errors: %d\n", nsum, procs, ns, supp > report
		if (ns) {
			print "\nnon-zero ERROR SUMMARY lines (N errors = times hit; a forked process also counts its parent'"'"'s errors from before the fork):" > report
			for (i = 1; i <= ns; i++) print "  " summ[i] > report
		}
		for (i = 1; i <= nc; i++) print "  " crash[i] > report
		for (i = 1; i <= um; i++) {
			k = order_m[i]
			printf "\n--- loyalty error %d of %d, reported by %d process(es):%s\n%s\n", i, um, seen_m[k], pids_m[k], text_m[k] > report
		}
		for (i = 1; i <= uo; i++) {
			k = order_o[i]
			printf "\n--- other error %d of %d, reported by %d process(es):\n%s\n", i, uo, seen_o[k], text_o[k] > report
		}
		exit (nmine > 0 ? 1 : (nother > 0 ? 4 : (nc > 0 ? 5 : 0)))
	}' "${logs[@]}"
scan=$?
echo
sed 's/^/  /' "$report"
echo
if grep -E 'terminated by signal|was terminated by exception' "$WORK/postmaster.log" >/dev/null; then
	say "postmaster.log reports a crashed process:"
	grep -E 'terminated by signal|was terminated by exception' "$WORK/postmaster.log"
	suite_failed=1
fi

say "total time $(elapsed)"
if [ $scan = 1 ] || { [ $scan = 4 ] && [ "$STRICT" = 1 ]; }; then
	say "FAILED: valgrind reported errors$([ $scan = 1 ] && echo " in loyalty's code")"
	exit 1
fi
[ $start_failed = 1 ] && die "FAILED: the server did not start under valgrind"
[ $scan = 5 ] && suite_failed=1
if [ $suite_failed = 1 ]; then
	say "FAILED: no valgrind error in loyalty's code, but the suite failed or a process crashed"
	exit 2
fi
say "OK: no valgrind error in loyalty's code"
exit 0
