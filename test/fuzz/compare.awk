# compare.awk — the findings of one run, one line each:
#   type TAB step TAB db TAB detail
# type: setup     a set-up statement failed
#       crash     the server died in the step
#       internal  class XX (XX000 internal error ...), a statement timeout
#                 (57014: a hang) or a lost connection's 57P0x
#       integrity a statement broke one of loyalty's own constraints (class
#                 23 naming a loyalty table or constraint: the C code let a
#                 bad row reach the table instead of refusing it first)
#       verify    a check found rows in loyalty.verify()
#       diverge   fuzz_a (swept) and fuzz_b (never swept) differ on a
#                 statement: SQLSTATE, row count or result
#       mismatch  they differ at a check: balances, tiers, ledger, summary
# Files (in order): the kinds file ("n kind op"), fuzz_a's and fuzz_b's
# parse.awk output (either may be /dev/null: a one-database run).
BEGIN { FS = "\t"; OFS = "\t" }
FILENAME == ARGV[1] { split($0, k, " "); order[++cnt] = k[1]; kind[k[1]] = k[2]; next }
FILENAME == ARGV[2] { sa[$1] = $2; ra[$1] = $3; xa[$1] = $4; ma[$1] = $5; hasa = 1; next }
FILENAME == ARGV[3] { sb[$1] = $2; rb[$1] = $3; xb[$1] = $4; mb[$1] = $5; hasb = 1; next }
function bad_state(s) { return s == "CRASH" || s ~ /^XX/ || s == "57014" || s ~ /^57P0/ }
# a class 23 error raised by one of loyalty's tables (the app's tables are in
# schema app and named orders, sales, porders ...: none of these names)
function own_integrity(s, m) {
	return s ~ /^23/ && (m ~ /(relation|table) "(account|ledger|lot|program|rule|streak|tier|tier_change|tracked_table)"/ ||
		m ~ /constraint "(account|ledger|lot|program|rule|streak|tier|tier_change|tracked_table)_/)
}
function short(s) { gsub(/\037/, " / ", s); return length(s) > 300 ? substr(s, 1, 300) "..." : s }
function one(db, n, s, x, m,   nl, l, i) {
	if (kind[n] == "setup" && s != "00000")
		print "setup", n, db, s " " m
	if (s == "CRASH")
		print "crash", n, db, "connection lost (server crashed)"
	else if (bad_state(s))
		print "internal", n, db, s " " m
	else if (own_integrity(s, m))
		print "integrity", n, db, s " " m
	if (kind[n] == "check" && s == "00000") {
		nl = split(x, l, "\037")
		for (i = 1; i <= nl; i++) if (l[i] ~ /^verify\|/) print "verify", n, db, l[i]
	}
}
# the check lines that differ (at most 12 of each side)
function linediff(n,   na, nb, la, lb, inA, inB, j, c, d) {
	na = split(xa[n], la, "\037"); nb = split(xb[n], lb, "\037")
	for (j = 1; j <= na; j++) inA[la[j]] = 1
	for (j = 1; j <= nb; j++) inB[lb[j]] = 1
	d = ""; c = 0
	for (j = 1; j <= na && c < 12; j++) if (!(la[j] in inB)) { d = d " | fuzz_a only: " la[j]; c++ }
	c = 0
	for (j = 1; j <= nb && c < 12; j++) if (!(lb[j] in inA)) { d = d " | fuzz_b only: " lb[j]; c++ }
	return "check lines differ (" na " in fuzz_a, " nb " in fuzz_b)" d
}
END {
	for (i = 1; i <= cnt; i++) {
		n = order[i]
		if (n in sa) one("fuzz_a", n, sa[n], xa[n], ma[n])
		if (n in sb) one("fuzz_b", n, sb[n], xb[n], mb[n])
		if (!hasa || !hasb || !(n in sa) || !(n in sb) || kind[n] == "sweep" || kind[n] == "setup") continue
		if (sa[n] != sb[n] || (ra[n] != rb[n] && kind[n] != "check")) {
			print (kind[n] == "check" ? "mismatch" : "diverge"), n, "both", \
				"SQLSTATE/rows fuzz_a " sa[n] "/" ra[n] " fuzz_b " sb[n] "/" rb[n] \
				" | fuzz_a: " short(xa[n] " " ma[n]) " | fuzz_b: " short(xb[n] " " mb[n])
		} else if (xa[n] != xb[n]) {
			if (kind[n] == "check")
				print "mismatch", n, "both", linediff(n)
			else
				print "diverge", n, "both", "result fuzz_a: " short(xa[n]) " | fuzz_b: " short(xb[n])
		}
	}
}
