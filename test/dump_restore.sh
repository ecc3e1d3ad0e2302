#!/usr/bin/env bash
# pg_dump / pg_restore into a fresh database gives the same balances, tiers and
# history, and the restored database goes on working (ids continue, the
# orders trigger and its configuration survive).  Runs against the server in
# the environment (pg_virtualenv in .ci/run).
set -euo pipefail
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
src=loyalty_dump_src; dst=loyalty_dump_dst; dump=$(mktemp)
trap 'rm -f "$dump"' EXIT
echo "1..5"
q -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" \
  -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
q -d $src >/dev/null <<'SQL'
CREATE EXTENSION loyalty;
SELECT loyalty.create_program('p', expiry => 'fixed', expiry_after => '1 year');
SELECT loyalty.add_tier('p', 's', 0), loyalty.add_tier('p', 'g', 500, 2);
SELECT loyalty.add_rule('p', 'r', 'multiplier', '{"factor": 1.5, "weekdays": [1, 3, 5]}');
SELECT loyalty.earn('p', 'm' || g % 50, 10 + g, 'o' || g, timestamptz '2026-01-01' + g * interval '7 hours')
FROM generate_series(1, 400) g;
SELECT loyalty.redeem('p', 'm1', 50, 'x', '2026-03-01');
SELECT loyalty.refund('p', 'm2', 'o2', 5, 'rf', '2026-03-01');
SELECT loyalty.transfer('p', 'm3', 'm4', 20, 't', '2026-03-01');
CREATE TABLE orders (c int, t numeric, n text);
SELECT loyalty.track_orders('orders', 'p', 'c', 't', 'n');
INSERT INTO orders VALUES (9, 10, 'z');
SQL
snapshot="SELECT string_agg(format('%s:%s:%s', member, loyalty.balance('p', member, '2026-06-01'), loyalty.tier_of('p', member)), ',' ORDER BY member) FROM loyalty.account"
before=$(q -d $src -c "$snapshot")
ledger_before=$(q -d $src -c "SELECT count(*) || '/' || sum(points) FROM loyalty.ledger")
pg_dump -Fc -d $src -f "$dump"
pg_restore -d $dst "$dump"
after=$(q -d $dst -c "$snapshot")
ledger_after=$(q -d $dst -c "SELECT count(*) || '/' || sum(points) FROM loyalty.ledger")
fail=0
if [ "$before" = "$after" ]; then echo "ok 1 - balances and tiers identical after restore"; else echo "not ok 1 - balances differ"; fail=1; fi
if [ "$ledger_before" = "$ledger_after" ]; then echo "ok 2 - ledger identical ($ledger_after rows/points)"; else echo "not ok 2 - ledger $ledger_before vs $ledger_after"; fail=1; fi
n=$(q -d $dst -c "SELECT count(*) FROM loyalty.verify()")
if [ "$n" = "0" ]; then echo "ok 3 - verify() empty after restore"; else echo "not ok 3 - verify() reports $n rows"; fail=1; fi
if q -d $dst -c "SELECT loyalty.earn('p', 'm1', 10, 'after-restore', '2026-04-01')" >/dev/null; then
  echo "ok 4 - earning after restore works (identity sequences restored)"; else echo "not ok 4 - earn after restore failed"; fail=1; fi
q -d $dst -c "INSERT INTO orders VALUES (9, 20, 'z2')"
n=$(q -d $dst -c "SELECT count(*) FROM loyalty.ledger WHERE ref = 'z2'")
if [ "$n" = "1" ]; then echo "ok 5 - the orders trigger and its configuration survived"; else echo "not ok 5 - order z2 earned nothing"; fail=1; fi
q -c "DROP DATABASE $src" -c "DROP DATABASE $dst"
exit $fail
