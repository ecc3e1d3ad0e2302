# parse.awk — what each step did in one database, one line per step:
#   n TAB state TAB rows TAB result TAB message
# state: the SQLSTATE, CRASH (the connection was lost in the step: the
# server died), skip (a sweep in fuzz_b).  result: the rows printed, joined
# by \x1f.  psql does not set SQLSTATE after a failed COPY, so the errors
# psql printed (stderr, "psql:FILE:LINE: ERROR:  CODE: message") are mapped
# back to their steps by line number and win over a 00000.
#
# Variables: parts = "script1 stderr1 script2 stderr2 ..." (one pair per psql
# run: the first run and each run resumed after a crash).  Input: the
# concatenated stdout of those runs.
BEGIN {
	FS = "\n"
	np = split(parts, p, " ")
	for (i = 1; i + 1 <= np; i += 2) {
		script = p[i]; errf = p[i + 1]
		nm = 0; ln = 0
		while ((getline l < script) > 0) {
			ln++
			if (l ~ /^\\echo @@step /) { nm++; mline[nm] = ln; mstep[nm] = substr(l, 14) }
		}
		close(script)
		while ((getline l < errf) > 0) {
			if (match(l, /^psql:[^:]*:[0-9]+: ERROR:  [0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]: /)) {
				rest = substr(l, 6)
				sub(/^[^:]*:/, "", rest)
				line = rest; sub(/:.*/, "", line)
				code = rest; sub(/^[0-9]+: ERROR:  /, "", code)
				msg = substr(code, 8); code = substr(code, 1, 5)
				st = ""
				for (j = nm; j >= 1; j--) if (mline[j] <= line + 0) { st = mstep[j]; break }
				if (st != "" && !(st in ecode)) { ecode[st] = code; emsg[st] = msg }
			}
		}
		close(errf)
	}
	n = ""
}
function out() {
	if (n == "") return
	if (state == "") state = "CRASH"
	if (state == "00000" && (n in ecode)) { state = ecode[n]; rows = 0; err = emsg[n] }
	gsub(/\t/, " ", res); gsub(/\t/, " ", err)
	printf "%s\t%s\t%s\t%s\t%s\n", n, state, rows, res, err
	n = ""
}
/^@@step / { out(); n = substr($0, 8); res = ""; state = ""; rows = ""; err = ""; inres = 1; next }
/^@@state / { split($0, f, " "); state = f[2]; rows = f[3]; inres = 0; next }
/^@@err / { err = substr($0, 7); next }
{
	if (n == "") next
	if (inres) res = (res == "" ? "" : res "\037") $0
	else err = err " " $0
}
END { out() }
