#!/usr/bin/env bash
# pg_dump / pg_restore into a fresh database gives the same balances, tiers and
# history, and the restored database goes on working (ids continue, the
# orders trigger and its configuration survive); a restore into a database
# that already runs loyalty is refused loudly and changes nothing there.
# Runs against the server in the environment (pg_virtualenv in .ci/run).
set -euo pipefail
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
src=loyalty_dump_src; dst=loyalty_dump_dst; dump=$(mktemp)
trap 'rm -f "$dump"' EXIT
echo "1..11"
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
SELECT loyalty.add_rule('p', 'pool', 'bonus', '{"points": 7, "budget": 20}');
SELECT loyalty.add_rule('p', 'coupon', 'multiplier', '{"factor": 2, "offer": true}');
SELECT loyalty.grant_offer('p', 'm5', 'coupon', 2, ref => 'crm-1');
SELECT loyalty.earn('p', 'm5', 30, 'camp' || g, timestamptz '2026-03-02' + g * interval '1 hour')
FROM generate_series(1, 4) g;
SELECT loyalty.add_codes('p', 'caps', ARRAY(SELECT 'C' || g FROM generate_series(1, 100) g), 15);
SELECT loyalty.redeem_code('p', 'm' || g, 'C' || g, timestamptz '2026-03-05' + g * interval '1 hour')
FROM generate_series(1, 10) g;
SELECT loyalty.earn_order('p', 'm6', '[{"line": "a", "amount": 120}, {"line": "b", "amount": 80}]', 'rc1', '2026-03-06');
SELECT loyalty.refund_lines('p', 'm6', 'rc1', '[{"line": "b", "amount": 30}]', 'rc1-r', '2026-03-07');
SELECT loyalty.add_reward('p', 'mug', 10, cash => 2.5, stock => 5);
SELECT loyalty.redeem_reward('p', 'm' || g, 'mug', 1, 'mug' || g, timestamptz '2026-03-08' + g * interval '1 hour')
FROM generate_series(1, 3) g;
SELECT loyalty.cancel_redemption('p', 'm2', 'mug2', 'mug2-back', '2026-03-09');
CREATE TABLE orders (c int, t numeric, n text);
SELECT loyalty.track_orders('orders', 'p', 'c', 't', 'n');
INSERT INTO orders VALUES (9, 10, 'z');
SQL
snapshot="SELECT string_agg(format('%s:%s:%s', member, loyalty.balance('p', member, '2026-06-01'), loyalty.tier_of('p', member)), ',' ORDER BY member) FROM loyalty.account"
before=$(q -d $src -c "$snapshot")
ledger_before=$(q -d $src -c "SELECT count(*) || '/' || sum(points) || ' offers ' || (SELECT count(*) || ':' || sum(used) FROM loyalty.offer) || ' spent ' || (SELECT sum(spent) FROM loyalty.rule_budget) || ' codes ' || (SELECT count(*) || ':' || count(used_by) || ':' || string_agg(used_by, ',' ORDER BY code) FROM loyalty.code) || ' receipt ' || (SELECT md5(string_agg(detail::text, '|' ORDER BY at, id)) FROM loyalty.statement WHERE ref LIKE 'rc1%') FROM loyalty.ledger")
pg_dump -Fc -d $src -f "$dump"
pg_restore -d $dst "$dump"
after=$(q -d $dst -c "$snapshot")
ledger_after=$(q -d $dst -c "SELECT count(*) || '/' || sum(points) || ' offers ' || (SELECT count(*) || ':' || sum(used) FROM loyalty.offer) || ' spent ' || (SELECT sum(spent) FROM loyalty.rule_budget) || ' codes ' || (SELECT count(*) || ':' || count(used_by) || ':' || string_agg(used_by, ',' ORDER BY code) FROM loyalty.code) || ' receipt ' || (SELECT md5(string_agg(detail::text, '|' ORDER BY at, id)) FROM loyalty.statement WHERE ref LIKE 'rc1%') FROM loyalty.ledger")
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
# 6. the codes survive: a used one stays used, an unused one credits once
used=$(q -d $dst -c "SELECT loyalty.redeem_code('p', 'm20', 'C3', '2026-04-02')" 2>&1 || true)
fresh=$(q -d $dst -c "SELECT loyalty.redeem_code('p', 'm20', 'C50', '2026-04-02')")
again=$(q -d $dst -c "SELECT loyalty.redeem_code('p', 'm20', 'C50', '2026-04-03')")
if [[ "$used" == *"already used"* || "$used" == *"LY008"* ]] && [ "$fresh" = 15 ] && [ "$again" = 15 ] \
   && [ "$(q -d $dst -c "SELECT used FROM loyalty.code_batches WHERE batch = 'caps'")" = 11 ]; then
  echo "ok 6 - codes restored: a used code is refused to another member, an unused one credits once"
else echo "not ok 6 - used code: '$used', fresh: '$fresh', again: '$again'"; fail=1; fi

# 7. program ids start at a random point in each installation
sid=$(q -d $src -c "SELECT id FROM loyalty.program WHERE code = 'p'")
other=loyalty_dump_other
q -c "DROP DATABASE IF EXISTS $other" -c "CREATE DATABASE $other"
oid=$(q -d $other -c "CREATE EXTENSION loyalty" -c "SELECT loyalty.create_program('p')")
if [ "$sid" != "$oid" ]; then echo "ok 7 - two installations number their programs apart ($sid, $oid)"
else echo "not ok 7 - both databases gave program id $sid"; fail=1; fi

# 8-10. the same dump restored into a database that already runs loyalty (a
# program with the same code, one more, members, more ledger rows than the dump)
q -d $other >/dev/null <<'SQL'
SELECT loyalty.create_program('other');
SELECT loyalty.add_tier('p', 'base', 0);
SELECT loyalty.earn('p', 'm' || g % 7, 5, 'x' || g, timestamptz '2026-01-01' + g * interval '1 hour'),
       loyalty.earn('other', 'm' || g % 7, 5, 'x' || g, timestamptz '2026-01-01' + g * interval '1 hour')
FROM generate_series(1, 600) g;
SQL
osnap="SELECT string_agg(format('%s:%s:%s:%s', p.code, a.member, loyalty.balance(p.code, a.member, '2026-06-01'), loyalty.tier_of(p.code, a.member)), ',' ORDER BY p.code, a.member) FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id"
obefore=$(q -d $other -c "$osnap")
orows_before=$(q -d $other -c "SELECT (SELECT count(*) FROM loyalty.ledger) || '/' || (SELECT count(*) FROM loyalty.lot) || '/' || (SELECT count(*) FROM loyalty.program)")
err=$(mktemp)
if pg_restore -d $other "$dump" 2>"$err"; then rc=0; else rc=$?; fi
if [ $rc -ne 0 ] && grep -q 'loyalty.ledger already holds rows' "$err" && grep -q 'loyalty.program already holds rows' "$err"; then
  echo "ok 8 - pg_restore into a database that runs loyalty fails, naming the tables it refused"
else echo "not ok 8 - pg_restore exit $rc; $(grep -c ERROR "$err") errors: $(grep 'ERROR' "$err" | head -3)"; fail=1; fi
oafter=$(q -d $other -c "$osnap")
orows_after=$(q -d $other -c "SELECT (SELECT count(*) FROM loyalty.ledger) || '/' || (SELECT count(*) FROM loyalty.lot) || '/' || (SELECT count(*) FROM loyalty.program)")
if [ "$obefore" = "$oafter" ] && [ "$orows_before" = "$orows_after" ]; then
  echo "ok 9 - nothing of the dump merged: same programs, balances, tiers, rows ($orows_after)"
else echo "not ok 9 - the target changed: rows $orows_before -> $orows_after"; fail=1; fi
# the refused restore leaves the target as it was and working: ids are each
# member's own sequence (0.4.0), so no sequence value of the dump can make the
# target hand out ids it already used
bad=$(q -d $other -c "SELECT count(*) FROM loyalty.verify()")
if [ "$bad" = 0 ] && q -d $other -c "SELECT loyalty.earn('other', 'm1', 10, 'after', '2026-07-01')" >/dev/null \
   && [ "$(q -d $other -c "SELECT count(*) FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id WHERE p.code = 'other' AND l.member = 'm1' AND l.ref = 'after' AND l.id = (SELECT max(id) FROM loyalty.ledger x WHERE x.program_id = l.program_id AND x.member = 'm1')")" = 1 ]; then
  echo "ok 10 - after the refused restore verify() is empty and the next row takes the member's next id"
else echo "not ok 10 - verify() said $bad rows, or the next earning failed"; fail=1; fi
# 11. the mall survives: stock, redemptions and their cancellation; a replay
# gives the first answer, a cancellation after the restore gives points back
mall="SELECT (SELECT string_agg(format('%s:%s:%s:%s:%s', reward, redemptions, quantity, points, stock_left), ',') FROM loyalty.reward_stats) || ' ' || (SELECT string_agg(format('%s:%s:%s', member, ref, cancelled_at IS NOT NULL), ',' ORDER BY member) FROM loyalty.redemptions)"
mall_src=$(q -d $src -c "$mall")
mall_dst=$(q -d $dst -c "$mall")
replay=$(q -d $dst -c "SELECT loyalty.redeem_reward('p', 'm1', 'mug', 1, 'mug1', '2026-04-05')")
back=$(q -d $dst -c "SELECT loyalty.cancel_redemption('p', 'm3', 'mug3', 'mug3-back', '2026-04-05')")
stock=$(q -d $dst -c "SELECT stock_left FROM loyalty.reward_stats WHERE reward = 'mug'")
if [ "$mall_src" = "$mall_dst" ] && [ "$replay" = 10 ] && [ "$back" = 10 ] && [ "$stock" = 4 ] \
   && [ "$(q -d $dst -c "SELECT count(*) FROM loyalty.verify()")" = 0 ]; then
  echo "ok 11 - the mall restored ($mall_dst): a replay gives the first answer, a cancellation gives points and stock back"
else echo "not ok 11 - mall: '$mall_src' vs '$mall_dst', replay '$replay', back '$back', stock '$stock'"; fail=1; fi
rm -f "$err"
q -c "DROP DATABASE $src" -c "DROP DATABASE $dst" -c "DROP DATABASE $other"
exit $fail
