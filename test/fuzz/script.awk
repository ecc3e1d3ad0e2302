# script.awk — turns the generator's steps file into a psql script.
#
# Input: the steps file ("--@@ n kind op" then the statement, per step).
# Variables:
#   target  a     fuzz_a: every step
#           b     fuzz_b: the sweeps become "skip" markers
#           ra/rb a reproducer for a person (plain SQL, comments, no markers;
#                 rb leaves the sweeps out)
#   keep    a file of step numbers to keep, one a line (empty: all steps)
#   after   only the steps after this one (a run resumed after a crash)
#   tz      the session's TimeZone
# Each step of a fuzz script prints "@@step n", its result rows, then
# "@@state SQLSTATE ROW_COUNT" and, on error, "@@err message".
BEGIN {
	if (keep != "") {
		while ((getline l < keep) > 0) kept[l] = 1
		close(keep)
	}
	if (target == "a" || target == "b") {
		print "\\set VERBOSITY verbose"
		print "\\pset null <null>"
		print "\\pset pager off"
	} else {
		print "\\set VERBOSITY verbose"
		print "\\set ECHO queries"
		print "\\pset null <null>"
	}
	print "SET client_min_messages = warning;"
	print "SET lc_messages = 'C';"
	print "SET statement_timeout = '30s';"
	if (tz != "") print "SET TimeZone = '" tz "';"
	n = ""
}
function flush() {
	if (n == "") return
	if ((keep != "" && !(n in kept)) || (after != "" && n + 0 <= after + 0)) { n = ""; return }
	if (target == "a" || target == "b") {
		print "\\echo @@step " n
		if (target == "b" && kind == "sweep") {
			print "\\echo @@state skip 0"
		} else {
			# psql leaves SQLSTATE alone when a COPY fails: start from 00000
			# (parse.awk then takes the error from stderr)
			if (body ~ /^COPY /) print "SELECT 1 \\g /dev/null"
			printf "%s", body
			print "\\echo @@state :SQLSTATE :ROW_COUNT"
			print "\\if :ERROR"
			print "\\echo @@err :LAST_ERROR_MESSAGE"
			print "\\endif"
		}
	} else if (kind == "sweep") {
		if (target == "ra") printf "-- step %s (fuzz_a only: fuzz_b never runs the scheduled procedures)\n%s", n, body
	} else {
		printf "-- step %s\n%s", n, body
	}
	n = ""
}
/^--@@ / { flush(); n = $2; kind = $3; body = ""; next }
{ body = body $0 "\n" }
END { flush() }
