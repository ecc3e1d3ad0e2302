#!/usr/bin/env bash
# stock_pgbench.sh — the points mall's stock under load (SPEC §9: "stock is
# never oversold under any concurrency").
#
# 8 pgbench clients (2 threads) redeem one unit each of a reward with 100
# units in stock, 40 attempts per client (320 in all), random members of 200
# who each hold far more than they can spend, so only the stock decides.
# Each attempt goes through public.try_redeem(), which records its outcome
# (ok, or the SQLSTATE) in public.attempt: a failed redemption must not
# abort the pgbench client.  Checks: exactly 100 succeed, every failure is
# LY010 (out of stock), the stock left is 0, reward_stats and redemptions
# agree (100 redemptions, 100 units, 100 x 10 points), the members' balances
# lost exactly those points, and verify() is empty.
#
# Uses the running server given by the environment (PGHOST, PGPORT, PGUSER,
# as pg_virtualenv sets them); creates (and at the end drops) its own
# database.  STOCK_PGBENCH_DB names it (default loyalty_stock_pgbench);
# STOCK_PGBENCH_KEEP=1 keeps it.  pgbench is taken from PATH, else from the
# bindir of $PG_CONFIG (or pg_config).  Prints TAP; exits non-zero when a
# test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${STOCK_PGBENCH_DB:-loyalty_stock_pgbench}
CLIENTS=8
TRIES=40
STOCK=100
PGBENCH=$(command -v pgbench || echo "$("${PG_CONFIG:-pg_config}" --bindir)/pgbench")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
n=0
fail=0
check() {  # check <description> <expected> <actual>
  n=$((n + 1))
  if [ "$2" = "$3" ]; then echo "ok $n - $1"
  else echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fail=1; fi
}

echo "1..8"
q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
q -d "$DB" <<SQL >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION loyalty;
SELECT loyalty.create_program('pgb');
SELECT loyalty.add_reward('pgb', 'glass', 10, stock => $STOCK);
SELECT loyalty.earn('pgb', 'm' || i, 1000, 'e' || i, '2026-01-01') FROM generate_series(1, 200) i;
CREATE TABLE public.attempt (client integer, ok boolean, state text);
CREATE FUNCTION public.try_redeem(member text, client integer) RETURNS void
LANGUAGE plpgsql AS \$f\$
BEGIN
  PERFORM loyalty.redeem_reward('pgb', member, 'glass', 1, NULL, '2026-06-01');
  INSERT INTO public.attempt VALUES (client, true, NULL);
EXCEPTION WHEN OTHERS THEN
  INSERT INTO public.attempt VALUES (client, false, SQLSTATE);
END \$f\$;
SQL
cat > "$TMP/redeem.pgbench" <<'PGB'
\set m random(1, 200)
SELECT public.try_redeem('m' || :m, :client_id);
PGB
"$PGBENCH" -n -c "$CLIENTS" -j 2 -t "$TRIES" -f "$TMP/redeem.pgbench" "$DB" >"$TMP/pgbench.log" 2>&1 \
  || { cat "$TMP/pgbench.log"; exit 1; }

check "all $((CLIENTS * TRIES)) attempts ran" "$((CLIENTS * TRIES))" \
  "$(q -d "$DB" -c "SELECT count(*) FROM public.attempt")"
check "exactly $STOCK redemptions succeed" "$STOCK" \
  "$(q -d "$DB" -c "SELECT count(*) FROM public.attempt WHERE ok")"
check "every other attempt is LY010 (out of stock)" "LY010 $((CLIENTS * TRIES - STOCK))" \
  "$(q -d "$DB" -c "SELECT coalesce(string_agg(DISTINCT state, ','), '-') || ' ' || count(*) FROM public.attempt WHERE NOT ok")"
check "no stock left" "0" \
  "$(q -d "$DB" -c "SELECT stock_left FROM loyalty.reward_stats WHERE program = 'pgb'")"
check "reward_stats: $STOCK redemptions, $STOCK units, $((STOCK * 10)) points" "$STOCK|$STOCK|$((STOCK * 10))" \
  "$(q -d "$DB" -c "SELECT redemptions, quantity, points FROM loyalty.reward_stats WHERE program = 'pgb'")"
check "redemptions: $STOCK rows, each of one unit at 10 points" "$STOCK|1|10" \
  "$(q -d "$DB" -c "SELECT count(*), max(quantity), max(points) FROM loyalty.redemptions WHERE program = 'pgb'")"
check "the members lost exactly $((STOCK * 10)) points" "$((200 * 1000 - STOCK * 10))" \
  "$(q -d "$DB" -c "SELECT sum(loyalty.balance('pgb', 'm' || i, '2026-07-01')) FROM generate_series(1, 200) i")"
check "verify() is empty" "0" "$(q -d "$DB" -c "SELECT count(*) FROM loyalty.verify()")"

[ "${STOCK_PGBENCH_KEEP:-0}" = 1 ] || q -d postgres -c "DROP DATABASE $DB"
exit $fail
