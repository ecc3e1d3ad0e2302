#!/usr/bin/env bash
# Upgrade chain: for every released version (a frozen sql/loyalty--X.sql),
# install it, load the data of a database populated through that version's
# operations (test/fixtures/loyalty-X.data.sql, made by test/fixtures/make.sh
# with that version's library), run ALTER EXTENSION loyalty UPDATE, and
# check that
#   - the extension is at the current default_version,
#   - its schema is exactly a fresh install's (columns, constraints, indexes,
#     functions, views, triggers, privileges, extension membership),
#   - balances, tiers and the ledger are what that version's library said
#     (test/fixtures/loyalty-X.state), verify() is empty,
#   - and the upgraded database goes on working (earn, maintenance).
# Runs against the server in the environment (pg_virtualenv in .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
cur=$(sed -n "s/^default_version = '\(.*\)'/\1/p" loyalty.control)
olds=$(ls sql/loyalty--*.sql | sed -n 's|^sql/loyalty--\([0-9][0-9.]*\)\.sql$|\1|p' | grep -vx "$cur" | sort -V)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Everything about the extension's objects that a user or the C code could
# notice, as sorted text lines (no oids, no creation order).
digest="
SELECT 'member ' || pg_describe_object(classid, objid, objsubid)
FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'loyalty')
UNION ALL
SELECT format('column %s.%s %s %s %s default %s', c.relname, a.attnum, a.attname,
              format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN 'not null' ELSE '' END,
              coalesce(pg_get_expr(d.adbin, d.adrelid), '-') || ' ' || a.attidentity::text)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = 'loyalty'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'v')
UNION ALL
SELECT format('comment %s: %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
FROM pg_description d
WHERE (d.classoid = 'pg_class'::regclass
       AND d.objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'loyalty'::regnamespace))
   OR (d.classoid = 'pg_proc'::regclass
       AND d.objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'loyalty'::regnamespace))
UNION ALL
SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
FROM pg_constraint WHERE connamespace = 'loyalty'::regnamespace
UNION ALL
SELECT 'index ' || pg_get_indexdef(indexrelid) || ' valid=' || indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = 'loyalty'::regnamespace
UNION ALL
SELECT format('acl %s %s', c.relname, c.relacl) FROM pg_class c
WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind IN ('r', 'v', 'S')
UNION ALL
SELECT format('function %s %s %s', p.oid::regprocedure, p.proacl, md5(pg_get_functiondef(p.oid)))
FROM pg_proc p WHERE p.pronamespace = 'loyalty'::regnamespace
UNION ALL
SELECT format('view %s %s', c.relname, md5(pg_get_viewdef(c.oid))) FROM pg_class c
WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind = 'v'
UNION ALL
SELECT format('trigger %s', pg_get_triggerdef(t.oid)) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'loyalty'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT format('config_dump %s %s', unnest(extconfig)::regclass, unnest(extcondition))
FROM pg_extension WHERE extname = 'loyalty'
ORDER BY 1"

# The figures compared before and after (test/fixtures/state.sql).
state=$(sed "s/TIER_OF/loyalty.tier_of(p.code, a.member, '2027-06-01')/" test/fixtures/state.sql)

nold=$(echo "$olds" | grep -c . || true)
echo "1..$((1 + 7 * nold + $(echo "$olds" | grep -cx 0.1.0 || true)))"
fail=0
ok() { echo "ok $1 - $2"; }
nok() { echo "not ok $1 - $2"; fail=1; }

q -c "DROP DATABASE IF EXISTS loyalty_fresh" -c "CREATE DATABASE loyalty_fresh"
q -d loyalty_fresh -c "CREATE EXTENSION loyalty"
q -d loyalty_fresh -c "$digest" >"$tmp/fresh"
if [ "$(q -d loyalty_fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'loyalty'")" = "$cur" ]; then
  ok 1 "a fresh install is at $cur"; else nok 1 "a fresh install is not at $cur"; fi

n=1
for from in $olds; do
  db=loyalty_up_${from//./_}
  q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  q -d $db -c "CREATE EXTENSION loyalty VERSION '$from'"
  q -d $db -f test/fixtures/loyalty-$from.data.sql >/dev/null
  cp test/fixtures/loyalty-$from.state "$tmp/before"
  pg_dump -Fc -d $db -f "$tmp/old.dump"
  q -d $db -c "ALTER EXTENSION loyalty UPDATE"
  n=$((n + 1))
  v=$(q -d $db -c "SELECT extversion FROM pg_extension WHERE extname = 'loyalty'")
  if [ "$v" = "$cur" ]; then ok $n "$from updates to $cur"; else nok $n "$from updated to $v, not $cur"; fi
  n=$((n + 1))
  q -d $db -c "$digest" >"$tmp/up"
  if diff -u "$tmp/fresh" "$tmp/up" >"$tmp/diff"; then ok $n "$from -> $cur: schema identical to a fresh install"
  else nok $n "$from -> $cur: schema differs from a fresh install"; sed 's/^/# /' "$tmp/diff"; fi
  n=$((n + 1))
  q -d $db -c "$state" >"$tmp/after"
  if diff -u "$tmp/before" "$tmp/after" >"$tmp/diff"; then ok $n "$from -> $cur: balances, tiers, ledger and lots unchanged ($(wc -l <"$tmp/after") lines)"
  else nok $n "$from -> $cur: state changed by the update"; sed 's/^/# /' "$tmp/diff"; fi
  n=$((n + 1))
  v=$(q -d $db -c "SELECT count(*) FROM loyalty.verify()")
  if [ "$v" = 0 ]; then ok $n "$from -> $cur: verify() empty"; else nok $n "$from -> $cur: verify() reports $v rows"; fi
  n=$((n + 1))
  v=$(q -d $db -c "SELECT count(*) FROM loyalty.account a
                   WHERE a.credited <> coalesce((SELECT sum(l.points) FROM loyalty.lot l
                                                 WHERE l.program_id = a.program_id AND l.member = a.member), 0)")
  if [ "$v" = 0 ]; then ok $n "$from -> $cur: account.credited backfilled (= the sum of the member's lots)"
  else nok $n "$from -> $cur: $v accounts with a wrong credited"; fi
  n=$((n + 1))
  if q -d $db >/dev/null 2>"$tmp/err" <<'SQL'
SELECT loyalty.earn('p', 'm7', 800, 'after-upgrade', '2027-01-05');
-- the app's tracked orders table goes on earning through the new triggers
INSERT INTO app.orders VALUES ('t4', 'c3', 70, 0, '2027-01-06');
DO $$ BEGIN
  IF (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'app.orders'::regclass
        AND tgfoid = 'loyalty._orders_trigger()'::regprocedure) <> 4 THEN
    RAISE 'app.orders does not have the four orders triggers';
  END IF;
  IF (SELECT loyalty.balance('p', 'c3', '2027-01-07')) <> 70 THEN RAISE 'tracked insert did not earn'; END IF;
  IF (SELECT count(*) FROM loyalty.tracked_orders WHERE relid = 'app.orders'::regclass) <> 1 THEN
    RAISE 'tracked_orders lost app.orders';
  END IF;
END $$;
SELECT loyalty.earn('p', 'new', 10, 'after-upgrade', '2027-01-05');
CALL loyalty.run_maintenance('2028-01-02');
DO $$ BEGIN
  IF (SELECT count(*) FROM loyalty.verify()) <> 0 THEN RAISE 'verify() not empty'; END IF;
  IF (SELECT loyalty.balance('p', 'new', '2027-02-01')) <> 10 THEN RAISE 'new member balance wrong'; END IF;
END $$;
SQL
  then ok $n "$from -> $cur: earning, the tracked orders table and maintenance work after the update"
  else nok $n "$from -> $cur: the upgraded database fails"; sed 's/^/# /' "$tmp/err"; fi
  q -c "DROP DATABASE $db"
  # a dump of that version, restored as README "Backup and restore" says:
  # into that version, then updated
  n=$((n + 1))
  q -c "DROP DATABASE IF EXISTS ${db}_r" -c "CREATE DATABASE ${db}_r"
  q -d ${db}_r -c "CREATE EXTENSION loyalty VERSION '$from'"
  pg_restore -l "$tmp/old.dump" | grep -v ' SCHEMA - loyalty ' >"$tmp/old.list"
  if pg_restore -L "$tmp/old.list" -d ${db}_r "$tmp/old.dump" 2>"$tmp/err" && q -d ${db}_r -c "ALTER EXTENSION loyalty UPDATE" 2>>"$tmp/err" \
     && q -d ${db}_r -c "$state" >"$tmp/after" && diff -u "$tmp/before" "$tmp/after" >"$tmp/diff" \
     && [ "$(q -d ${db}_r -c "SELECT count(*) FROM loyalty.verify()")" = 0 ]; then
    ok $n "$from -> $cur: a $from dump restored into $from and updated has the same state, verify() empty"
  else nok $n "$from -> $cur: restoring a $from dump the documented way fails"; sed 's/^/# /' "$tmp/err" "$tmp/diff"; fi
  q -c "DROP DATABASE ${db}_r"
  if [ "$from" = 0.1.0 ]; then
    # the documented way for a big ledger: build ledger_qual_idx CONCURRENTLY
    # first; the update keeps a valid, identical one and refuses another
    n=$((n + 1))
    q -c "DROP DATABASE IF EXISTS ${db}_pre" -c "CREATE DATABASE ${db}_pre"
    q -d ${db}_pre -c "CREATE EXTENSION loyalty VERSION '0.1.0'"
    q -d ${db}_pre -c "CREATE INDEX CONCURRENTLY ledger_qual_idx ON loyalty.ledger (program_id, member, qual_at)
                       INCLUDE (qual_points, qual_spend, qual_orders) WHERE qual_at IS NOT NULL"
    q -d ${db}_pre -c "ALTER EXTENSION loyalty UPDATE"
    q -d ${db}_pre -c "$digest" >"$tmp/pre"
    q -c "DROP DATABASE IF EXISTS ${db}_bad" -c "CREATE DATABASE ${db}_bad"
    q -d ${db}_bad -c "CREATE EXTENSION loyalty VERSION '0.1.0'"
    q -d ${db}_bad -c "CREATE INDEX ledger_qual_idx ON loyalty.ledger (program_id, member)"
    if diff -q "$tmp/fresh" "$tmp/pre" >/dev/null &&
       ! q -d ${db}_bad -c "ALTER EXTENSION loyalty UPDATE" 2>/dev/null &&
       [ "$(q -d ${db}_bad -c "SELECT extversion FROM pg_extension WHERE extname = 'loyalty'")" = 0.1.0 ]; then
      ok $n "$from -> $cur: a pre-built ledger_qual_idx is kept, a different one refused"
    else nok $n "$from -> $cur: pre-built index handling"; diff "$tmp/fresh" "$tmp/pre" | sed 's/^/# /'; fi
    q -c "DROP DATABASE ${db}_pre" -c "DROP DATABASE ${db}_bad"
  fi
done
q -c "DROP DATABASE loyalty_fresh"
exit $fail
