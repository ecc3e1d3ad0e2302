/*
 * statements.c — the statement catalogue, its kept plans, and the SPI
 * connection of an operation (with the schema version check).
 *
 * Every statement is prepared once per backend (SPI_prepare_cursor +
 * SPI_keepplan) and reused; a plan whose objects were dropped (DROP /
 * CREATE EXTENSION in the same backend) is found by SPI_plan_is_valid() and
 * prepared again.  Ordinary replanning after ANALYZE or DDL is done by the
 * plan cache itself.  The SQL-callable functions run with search_path =
 * pg_catalog, pg_temp and every name in the statements is schema-qualified.
 *
 * Options: CURSOR_OPT_FAST_PLAN for cursors read only as far as needed
 * (spending, first to expire first), CURSOR_OPT_GENERIC_PLAN for statements
 * whose array arguments vary in length (batches).
 */
#include "statements.h"

#include "loyalty.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "utils/timestamp.h"

#define STMT_MAX_ARGS 35

typedef struct StmtDef
{
	const char *name;
	const char *sql;
	int			nargs;
	Oid			types[STMT_MAX_ARGS];
	int			options;		/* CURSOR_OPT_* */
} StmtDef;

/*
 * Pieces shared by several statements.  The column lists are read by
 * position by the C code that runs them (account.c, config.c, ops_move.c).
 */

/*
 * The expiry of a lot (NULL: never): a lot that rolls expires at its
 * member's rolling date (parameter `param`: account.roll_until, NULL when
 * none), any other at its own expires_at.  The statement reads one lot
 * table, unaliased or the only one with these columns.
 */
#define LOT_EXPIRES(param) "(CASE WHEN rolls THEN coalesce(" param ", expires_at) ELSE expires_at END)"

#define ACCOUNT_COLUMNS \
	"member, joined_at, birthday, referred_by, referral_paid, tier, tier_since, tier_until, " \
	"debt, purchases, last_earn_at, credited, last_activity_at, roll_until, held "

#define ACCOUNT_NOW \
	"(SELECT debt FROM loyalty.account WHERE program_id = $1 AND member = $2), " \
	"(SELECT held FROM loyalty.account WHERE program_id = $1 AND member = $2)"

#define PROGRAM_COLUMNS \
	"id, code, points_per_unit, unit, rounding, stacking, max_multiplier, " \
	"points_per_value, expiry, expiry_after, expiry_period, pending_for, " \
	"tier_basis, tier_window, downgrade, timezone "

#define LOT_COLUMNS \
	"l.id, l.points, l.amount, l.refunded, l.clawed_back, l.earned_at, l.available_at, " \
	LOT_EXPIRES("$4") ", l.remaining, l.expired, l.repaid "

/*
 * The next id of the member's rows in `table` ($1 program, $2 member): ids
 * are the member's own sequence, max + 1, under the member's lock, so they
 * never collide whichever node writes them and follow the member's
 * operations (SPEC §7).  Written as a FROM item ("n"): Citus takes INSERT ...
 * SELECT where it refuses a subquery in VALUES.
 */
#define NEXT_ID(table) \
	"(SELECT coalesce(max(id), 0) + 1 AS id FROM loyalty." table " " \
	" WHERE program_id = $1 AND member = $2) n"

#define PICK_DUE_LOTS \
	"SELECT l.program_id, l.member, l.expires_at, l.id, l.rolls FROM loyalty.lot l " \
	"WHERE l.remaining > 0 AND l.expires_at <= $1 " \
	"  AND (l.expires_at, l.program_id, l.member, l.id) > ($3, $4, $5, $6) " \
	"ORDER BY l.expires_at, l.program_id, l.member, l.id LIMIT $2"

#define LAST_PICKED \
	"SELECT expires_at, program_id, member, id FROM p " \
	"ORDER BY expires_at DESC, program_id DESC, member DESC, id DESC LIMIT 1"

#define LOCK_OWNERS \
	"WITH p AS MATERIALIZED (" PICK_DUE_LOTS "), last AS (" LAST_PICKED "), " \
	"r AS (SELECT array_agg(p.program_id) AS pids, array_agg(p.member) AS members, " \
	"             array_agg(p.id) AS ids FROM p WHERE p.rolls) " \
	"SELECT a.program_id, a.member, last.expires_at, last.program_id, last.member, last.id, " \
	"       r.pids, r.members, r.ids " \
	"FROM loyalty.account a, last, r " \
	"WHERE (a.program_id, a.member) IN (SELECT program_id, member FROM p) " \
	"ORDER BY a.program_id, a.member FOR UPDATE OF a"

#define LOCK_DUE_MEMBERS \
	"SELECT program_id, member, tier, ctid, tier_until FROM loyalty.account " \
	"WHERE tier_until <= $1 AND (program_id, member) > ($3, $4) " \
	"ORDER BY program_id, member LIMIT $2 FOR UPDATE"

static const StmtDef catalogue[ST_COUNT] = {
	/* account.c */
	[ST_ACCOUNT_LOCK] = {"account_lock",
		"SELECT " ACCOUNT_COLUMNS "FROM loyalty.account "
		"WHERE program_id = $1 AND member = $2 FOR UPDATE",
	2, {INT4OID, TEXTOID}},
	[ST_ACCOUNT_LOCK_SKIP] = {"account_lock_skip",
		"SELECT " ACCOUNT_COLUMNS "FROM loyalty.account "
		"WHERE program_id = $1 AND member = $2 FOR UPDATE SKIP LOCKED",
	2, {INT4OID, TEXTOID}},
	[ST_ACCOUNT_PEEK] = {"account_peek",
		"SELECT " ACCOUNT_COLUMNS "FROM loyalty.account WHERE program_id = $1 AND member = $2",
	2, {INT4OID, TEXTOID}},
	[ST_LEDGER_BY_REF] = {"ledger_by_ref",
		"SELECT kind, points, result, amount, category, event, original_ref, "
		"       counterparty, reason, "
		/* a receipt's lines as receipt_canonical() writes them */
		"       (SELECT pg_catalog.string_agg(pg_catalog.concat(x.v ->> 'line', pg_catalog.chr(31), "
		"                   coalesce(x.v ->> 'category', ''), pg_catalog.chr(31), "
		"                   pg_catalog.trim_scale((x.v ->> 'amount')::pg_catalog.numeric)::pg_catalog.text), "
		"                 pg_catalog.chr(30) ORDER BY x.o) "
		"        FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(detail -> 'lines') = 'array' "
		"                                                 THEN detail -> 'lines' END) WITH ORDINALITY x(v, o)), "
		"       merchant "
		"FROM loyalty.ledger WHERE program_id = $1 AND member = $2 AND ref = $3 "
		"ORDER BY id LIMIT 1",
	3, {INT4OID, TEXTOID, TEXTOID}},

	/* config.c */
	[ST_CONFIG_TIERS] = {"config_tiers",
		"SELECT code, threshold, earn_multiplier, points_per_value "
		"FROM loyalty.tier WHERE program_id = $1 ORDER BY threshold, code",
	1, {INT4OID}},
	[ST_CONFIG_RULES] = {"config_rules",
		"SELECT code, kind, params, valid_from, valid_until, active "
		"FROM loyalty.rule WHERE program_id = $1 ORDER BY id",
	1, {INT4OID}},
	[ST_CONFIG_PROGRAM] = {"config_program",
		"SELECT " PROGRAM_COLUMNS "FROM loyalty.program WHERE code = $1",
	1, {TEXTOID}},
	[ST_CONFIG_PROGRAM_CODE] = {"config_program_code",
		"SELECT code FROM loyalty.program WHERE id = $1",
	1, {INT4OID}},

	/* config_api.c */
	[ST_TIMEZONE_NAME] = {"timezone_name",
		"SELECT name FROM pg_catalog.pg_timezone_names "
		"WHERE lower(name) = lower($1) ORDER BY name = $1 DESC, name LIMIT 1",
	1, {TEXTOID}},
	[ST_PROGRAM_SETTINGS] = {"program_settings",
		"SELECT code, name, currency, points_per_unit, unit, rounding, stacking, "
		"  max_multiplier, points_per_value, expiry, expiry_after, expiry_period, "
		"  pending_for, tier_basis, tier_window, downgrade, timezone "
		"FROM loyalty.program WHERE code = $1 FOR UPDATE",
	1, {TEXTOID}},
	[ST_PROGRAM_UPSERT] = {"program_upsert",
		"INSERT INTO loyalty.program AS p (code, name, currency, points_per_unit, unit, "
		"  rounding, stacking, max_multiplier, points_per_value, expiry, expiry_after, "
		"  expiry_period, pending_for, tier_basis, tier_window, downgrade, timezone) "
		"VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) "
		"ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, currency = EXCLUDED.currency, "
		"  points_per_unit = EXCLUDED.points_per_unit, unit = EXCLUDED.unit, "
		"  rounding = EXCLUDED.rounding, stacking = EXCLUDED.stacking, "
		"  max_multiplier = EXCLUDED.max_multiplier, points_per_value = EXCLUDED.points_per_value, "
		"  expiry = EXCLUDED.expiry, expiry_after = EXCLUDED.expiry_after, "
		"  expiry_period = EXCLUDED.expiry_period, pending_for = EXCLUDED.pending_for, "
		"  tier_basis = EXCLUDED.tier_basis, tier_window = EXCLUDED.tier_window, "
		"  downgrade = EXCLUDED.downgrade, timezone = EXCLUDED.timezone, "
		"  updated_at = $18 "
		"RETURNING id",
	18, {TEXTOID, TEXTOID, TEXTOID, NUMERICOID, NUMERICOID, TEXTOID, TEXTOID, NUMERICOID, NUMERICOID, TEXTOID, INTERVALOID, TEXTOID, INTERVALOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}},
	[ST_TIER_UPSERT] = {"tier_upsert",
		"INSERT INTO loyalty.tier (program_id, code, threshold, earn_multiplier, points_per_value, name) "
		"VALUES ($1,$2,$3,$4,$5,$6) "
		"ON CONFLICT (program_id, code) DO UPDATE SET threshold = EXCLUDED.threshold, "
		"  earn_multiplier = EXCLUDED.earn_multiplier, "
		"  points_per_value = EXCLUDED.points_per_value, name = EXCLUDED.name",
	6, {INT4OID, TEXTOID, NUMERICOID, NUMERICOID, NUMERICOID, TEXTOID}},
	[ST_RULE_UPSERT] = {"rule_upsert",
		"INSERT INTO loyalty.rule (program_id, code, kind, params, valid_from, valid_until) "
		"VALUES ($1,$2,$3,$4,$5,$6) "
		"ON CONFLICT (program_id, code) DO UPDATE SET kind = EXCLUDED.kind, "
		"  params = EXCLUDED.params, valid_from = EXCLUDED.valid_from, "
		"  valid_until = EXCLUDED.valid_until, active = true, updated_at = $7",
	7, {INT4OID, TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},
	[ST_RULE_SET_ACTIVE] = {"rule_set_active",
		"UPDATE loyalty.rule SET active = $3, updated_at = $4 "
		"WHERE program_id = $1 AND code = $2",
	4, {INT4OID, TEXTOID, BOOLOID, TIMESTAMPTZOID}},

	/* enroll.c */
	[ST_ACCOUNT_EXISTS] = {"account_exists",
		"SELECT 1 FROM loyalty.account WHERE program_id = $1 AND member = $2",
	2, {INT4OID, TEXTOID}},
	[ST_ACCOUNT_INSERT] = {"account_insert",
		"INSERT INTO loyalty.account (program_id, member, joined_at, birthday, referred_by, tier) "
		"VALUES ($1, $2, $3, $4, $5, $6) "
		"ON CONFLICT (program_id, member) DO NOTHING",
	6, {INT4OID, TEXTOID, TIMESTAMPTZOID, DATEOID, TEXTOID, TEXTOID}},
	[ST_ACCOUNT_SET_BIRTHDAY] = {"account_set_birthday",
		"UPDATE loyalty.account SET birthday = $3 "
		"WHERE program_id = $1 AND member = $2 AND birthday IS NULL",
	3, {INT4OID, TEXTOID, DATEOID}},
	[ST_ACCOUNT_REFERRAL_PAID] = {"account_referral_paid",
		"UPDATE loyalty.account SET referral_paid = true "
		"WHERE program_id = $1 AND member = $2",
	2, {INT4OID, TEXTOID}},

	/* events.c */
	[ST_RULE_PAYOUTS] = {"rule_payouts",
		"SELECT count(*) FILTER (WHERE at >= $4 AND at < $5), count(*) "
		"FROM loyalty.ledger WHERE program_id = $1 AND member = $2 "
		"  AND kind = 'event' AND event = $3 AND points > 0 "
		"  AND (detail -> 'rules') ? $6",
	6, {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID}},
	[ST_STREAK_GET] = {"streak_get",
		"SELECT last_day, days FROM loyalty.streak "
		"WHERE program_id = $1 AND member = $2 AND rule = $3",
	3, {INT4OID, TEXTOID, TEXTOID}},
	[ST_STREAK_PUT] = {"streak_put",
		"INSERT INTO loyalty.streak (program_id, member, rule, last_day, days) "
		"VALUES ($1, $2, $3, $4, $5) "
		"ON CONFLICT (program_id, member, rule) DO UPDATE "
		"SET last_day = EXCLUDED.last_day, days = EXCLUDED.days",
	5, {INT4OID, TEXTOID, TEXTOID, DATEOID, INT4OID}},

	/* lots.c */
	[ST_LOTS_ROLL_CLOSE] = {"lots_roll_close",
		"UPDATE loyalty.lot SET rolls = false, expires_at = $3 "
		"WHERE program_id = $1 AND member = $2 AND remaining > 0 AND rolls",
	3, {INT4OID, TEXTOID, TIMESTAMPTZOID}},
	[ST_LOTS_ROLL_JOIN] = {"lots_roll_join",
		"UPDATE loyalty.lot SET rolls = true, expires_at = $4 "
		"WHERE program_id = $1 AND member = $2 AND remaining > 0 AND NOT rolls "
		"  AND expires_at > $3 AND expires_at < $4",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},
	[ST_LOTS_ROLL_REVIVE] = {"lots_roll_revive",
		"WITH old AS (SELECT id, expires_at, expired FROM loyalty.lot "
		"             WHERE program_id = $1 AND member = $2 AND expired > 0 "
		"               AND expires_at > $3 AND expires_at < $4 FOR UPDATE), "
		"u AS (UPDATE loyalty.lot l SET remaining = l.remaining + l.expired, expired = 0, "
		"             rolls = true, expires_at = $4 FROM old "
		"             WHERE l.program_id = $1 AND l.member = $2 AND l.id = old.id) "
		"INSERT INTO loyalty.ledger (id, program_id, member, at, kind, points, lot_id, reason) "
		"SELECT n.id + row_number() OVER (ORDER BY old.id) - 1, $1, $2, old.expires_at, "
		"       'expire', old.expired, old.id, 'correction' "
		"FROM old, " NEXT_ID("ledger") " "
		"RETURNING points",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},
	[ST_CREDIT] = {"credit",
		"WITH lot AS ("
		"  INSERT INTO loyalty.lot (id, program_id, member, earned_at, available_at, expires_at, "
		"                           points, remaining, repaid, source, ref, amount, rolls) "
		"  SELECT n.id, $1, $2, $3, $4, $5, $6, $7, $27, $8, $9, $10, $32 "
		"  FROM " NEXT_ID("lot") " WHERE $26 "
		"  RETURNING id), "
		"led AS ("
		"  INSERT INTO loyalty.ledger (id, program_id, member, at, kind, points, ref, result, "
		"    amount, category, event, counterparty, reason, lot_id, qual_at, qual_points, "
		"    qual_spend, qual_orders, detail, pending_points, pending_until, merchant) "
		"  SELECT n.id, $1, $2, $3, $8, $6, $9, $11, $10, $12, $13, $14, $15, lot.id, "
		"         $3, $16, $17, $18, $19::jsonb, $28, $29, $35 "
		"  FROM " NEXT_ID("ledger") " LEFT JOIN lot ON true) "
		"UPDATE loyalty.account SET debt = $20, purchases = purchases + $21, "
		"  credited = credited + $6, held = $34, "
		"  last_earn_at = CASE WHEN $22::timestamptz IS NULL THEN last_earn_at "
		"                      ELSE greatest(last_earn_at, $22) END, "
		"  last_activity_at = greatest(coalesce(last_activity_at, $3), $3), "
		"  tier = CASE WHEN $24 THEN $23 ELSE tier END, "
		"  tier_since = CASE WHEN $24 AND $30 THEN $31 ELSE tier_since END, "
		"  tier_until = CASE WHEN $24 THEN $25 ELSE tier_until END, "
		"  roll_until = CASE WHEN $33 THEN $5 ELSE roll_until END "
		"WHERE program_id = $1 AND member = $2",
	35, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID, TEXTOID, TEXTOID, NUMERICOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, NUMERICOID, INT4OID, TEXTOID, INT8OID, INT4OID, TIMESTAMPTZOID, TEXTOID, BOOLOID, TIMESTAMPTZOID, BOOLOID, INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID, TIMESTAMPTZOID, BOOLOID, BOOLOID, INT8OID, TEXTOID}},
	[ST_LEDGER_WRITE] = {"ledger_write",
		"WITH acc AS (UPDATE loyalty.account SET debt = $18, held = $19, "
		"               last_activity_at = greatest(coalesce(last_activity_at, $3), $3) "
		"             WHERE program_id = $1 AND member = $2) "
		"INSERT INTO loyalty.ledger (id, program_id, member, at, kind, points, ref, result, "
		"  amount, original_ref, counterparty, reason, qual_at, qual_points, qual_spend, "
		"  qual_orders, pending_points, pending_until, detail, merchant) "
		"SELECT n.id, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
		"       $20::pg_catalog.jsonb, $21 "
		"FROM " NEXT_ID("ledger"),
	21, {INT4OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID, TEXTOID, INT8OID, NUMERICOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, NUMERICOID, INT4OID, INT8OID, TIMESTAMPTZOID, INT8OID, INT8OID, TEXTOID, TEXTOID}},
	[ST_LEDGER_CORRECTIONS] = {"ledger_corrections",
		"INSERT INTO loyalty.ledger (id, program_id, member, at, kind, points, lot_id, reason) "
		"SELECT n.id + c.ord - 1, $1, $2, c.at, 'expire', c.points, c.lot, $6 "
		"FROM unnest($3::int8[], $4::int8[], $5::timestamptz[]) WITH ORDINALITY "
		"     AS c(lot, points, at, ord), " NEXT_ID("ledger"),
	6, {INT4OID, TEXTOID, INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, TEXTOID}},
	[ST_LOTS_FIFO_OWN] = {"lots_fifo_own",
		"SELECT id, remaining, 0::int8, expires_at, earned_at FROM loyalty.lot "
		"WHERE program_id = $1 AND member = $2 AND remaining > 0 AND NOT rolls "
		"  AND (expires_at IS NULL OR expires_at > $3) AND available_at <= $3 AND id <> $4 "
		"ORDER BY expires_at NULLS LAST, earned_at, id",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, INT8OID}, CURSOR_OPT_FAST_PLAN},
	[ST_LOTS_FIFO_SWEPT] = {"lots_fifo_swept",
		"SELECT id, 0::int8, expired, expires_at, earned_at FROM loyalty.lot "
		"WHERE program_id = $1 AND member = $2 AND expired > 0 AND remaining = 0 "
		"  AND expires_at > $3 AND available_at <= $3 AND id <> $4 "
		"ORDER BY expires_at, earned_at, id",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, INT8OID}, CURSOR_OPT_FAST_PLAN},
	[ST_LOTS_FIFO_ROLLING] = {"lots_fifo_rolling",
		"SELECT id, remaining, 0::int8, NULL::timestamptz, earned_at FROM loyalty.lot "
		"WHERE program_id = $1 AND member = $2 AND remaining > 0 AND rolls "
		"  AND available_at <= $3 AND id <> $4 "
		"ORDER BY earned_at, id",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, INT8OID}, CURSOR_OPT_FAST_PLAN},
	[ST_LOTS_TAKE] = {"lots_take",
		"UPDATE loyalty.lot l SET remaining = l.remaining - t.r, expired = l.expired - t.e "
		"FROM unnest($3::int8[], $4::int8[], $5::int8[]) AS t(id, r, e) "
		"WHERE l.program_id = $1 AND l.member = $2 AND l.id = t.id",
	5, {INT4OID, TEXTOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}},
	[ST_LOTS_PENDING] = {"lots_pending",
		"SELECT id, remaining, CASE WHEN e > $3 THEN expired ELSE 0 END, e FROM ("
		"  SELECT id, remaining, expired, available_at, earned_at, " LOT_EXPIRES("$4") " AS e "
		"  FROM loyalty.lot "
		"  WHERE program_id = $1 AND member = $2 AND (remaining > 0 OR expired > 0)) l "
		"WHERE (remaining > 0 OR (expired > 0 AND e > $3)) AND (e IS NULL OR e > $3) "
		"ORDER BY available_at > $3, "
		"         CASE WHEN available_at <= $3 THEN e END ASC NULLS LAST, "
		"         CASE WHEN available_at > $3 THEN available_at END, earned_at, id",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},
	[ST_LOTS_RESERVE] = {"lots_reserve",
		"UPDATE loyalty.lot l SET remaining = l.remaining - t.r, expired = l.expired - t.e, "
		"  repaid = l.repaid + t.r + t.e "
		"FROM unnest($3::int8[], $4::int8[], $5::int8[]) AS t(id, r, e) "
		"WHERE l.program_id = $1 AND l.member = $2 AND l.id = t.id",
	5, {INT4OID, TEXTOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}},
	[ST_LOTS_EXPIRE_NOW] = {"lots_expire_now",
		"WITH u AS (UPDATE loyalty.lot SET expired = expired + remaining, remaining = 0, "
		"                                  rolls = false, expires_at = $4 "
		"           WHERE program_id = $1 AND member = $2 AND id = $3) "
		"INSERT INTO loyalty.ledger (id, program_id, member, at, kind, points, lot_id) "
		"SELECT n.id, $1, $2, $4, 'expire', -$5, $3 FROM " NEXT_ID("ledger"),
	5, {INT4OID, TEXTOID, INT8OID, TIMESTAMPTZOID, INT8OID}},
	[ST_BALANCE_SCAN] = {"balance_scan",
		"SELECT coalesce(sum(c) FILTER (WHERE usable), 0)::int8, "
		"       coalesce(sum(c + rp) FILTER (WHERE NOT usable), 0)::int8, "
		"       coalesce(sum(rp) FILTER (WHERE NOT usable), 0)::int8, " ACCOUNT_NOW " "
		"FROM ("
		"  SELECT remaining AS c, repaid AS rp, available_at <= $3 AS usable FROM loyalty.lot "
		"  WHERE program_id = $1 AND member = $2 AND remaining > 0 "
		"    AND coalesce(" LOT_EXPIRES("$4") " > $3, true) "
		"  UNION ALL "
		"  SELECT expired, repaid, available_at <= $3 FROM loyalty.lot "
		"  WHERE program_id = $1 AND member = $2 AND expired > 0 AND remaining = 0 "
		"    AND expires_at > $3 "
		"  UNION ALL "
		"  SELECT 0, repaid, false FROM loyalty.lot "
		"  WHERE program_id = $1 AND member = $2 AND repaid > 0 AND available_at > $3 "
		"    AND remaining = 0 AND expired = 0 "
		"    AND coalesce(" LOT_EXPIRES("$4") " > $3, true)) x",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},
	[ST_BALANCE_PROJECTED] = {"balance_projected",
		"SELECT coalesce(sum(cut), 0)::int8, coalesce(sum(plus), 0)::int8, "
		"       coalesce(sum(pend), 0)::int8, coalesce(sum(resv), 0)::int8, " ACCOUNT_NOW " "
		"FROM ("
		"  SELECT remaining AS cut, 0::int8 AS plus, "
		"         CASE WHEN alive THEN remaining + expired + repaid ELSE 0 END AS pend, "
		"         CASE WHEN alive THEN repaid ELSE 0 END AS resv "
		"  FROM (SELECT remaining, expired, repaid, "
		"               coalesce(" LOT_EXPIRES("$4") " > $3, true) AS alive "
		"        FROM loyalty.lot WHERE program_id = $1 AND member = $2 "
		"          AND available_at > earned_at AND available_at > $3) pl "
		"  UNION ALL "
		"  SELECT remaining, 0, 0, 0 FROM loyalty.lot "
		"  WHERE program_id = $1 AND member = $2 AND remaining > 0 AND NOT rolls "
		"    AND expires_at <= $3 AND available_at <= $3 "
		"  UNION ALL "
		"  SELECT remaining, 0, 0, 0 FROM loyalty.lot "
		"  WHERE $4 <= $3 AND program_id = $1 AND member = $2 AND remaining > 0 AND rolls "
		"    AND available_at <= $3 "
		"  UNION ALL "
		"  SELECT 0, expired, 0, 0 FROM loyalty.lot "
		"  WHERE program_id = $1 AND member = $2 AND expired > 0 AND remaining = 0 "
		"    AND expires_at > $3 AND available_at <= $3) x",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},
	[ST_BALANCE_HISTORY] = {"balance_history",
		"SELECT coalesce(sum(points), 0)::int8 "
		"     - coalesce(sum(pending_points) FILTER (WHERE pending_until > $3), 0)::int8 "
		"     - (SELECT coalesce(sum(remaining), 0)::int8 FROM loyalty.lot "
		"        WHERE program_id = $1 AND member = $2 AND remaining > 0 "
		"          AND " LOT_EXPIRES("$4") " <= $3) "
		"FROM loyalty.ledger WHERE program_id = $1 AND member = $2 AND at <= $3",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},

	/* maintenance.c */
	[ST_EXPIRE_LOCK] = {"expire_lock",
		LOCK_OWNERS,
	6, {TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID, INT4OID, TEXTOID, INT8OID}},
	[ST_EXPIRE_LOCK_SKIP] = {"expire_lock_skip",
		LOCK_OWNERS " SKIP LOCKED",
	6, {TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID, INT4OID, TEXTOID, INT8OID}},
	[ST_EXPIRE_LAST_PICKED] = {"expire_last_picked",
		"WITH p AS (" PICK_DUE_LOTS ") " LAST_PICKED,
	6, {TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID, INT4OID, TEXTOID, INT8OID}},
	[ST_EXPIRE_BATCH] = {"expire_batch",
		"WITH m AS (SELECT m.program_id, m.member, a.roll_until "
		"           FROM unnest($2::int4[], $3::text[]) AS m(program_id, member) "
		"           LEFT JOIN loyalty.account a "
		"             ON a.program_id = m.program_id AND a.member = m.member), "
		"own AS ("
		"  UPDATE loyalty.lot l SET expired = l.expired + l.remaining, remaining = 0 "
		"  FROM m WHERE l.program_id = m.program_id AND l.member = m.member "
		"    AND l.remaining > 0 AND NOT l.rolls AND l.expires_at <= $1 "
		"  RETURNING l.program_id, l.member, l.id, l.expires_at, l.expired), "
		"ended AS ("
		"  UPDATE loyalty.lot l SET expired = l.remaining, remaining = 0, rolls = false, "
		"    expires_at = m.roll_until "
		"  FROM m WHERE l.program_id = m.program_id AND l.member = m.member "
		"    AND m.roll_until <= $1 AND l.remaining > 0 AND l.rolls "
		"  RETURNING l.program_id, l.member, l.id, l.expires_at, l.expired), "
		"moved AS ("
		"  UPDATE loyalty.lot l SET expires_at = m.roll_until "
		"  FROM unnest($4::int4[], $5::text[], $6::int8[]) AS r(program_id, member, id) "
		"  JOIN m ON m.program_id = r.program_id AND m.member = r.member "
		"  WHERE l.program_id = r.program_id AND l.member = r.member AND l.id = r.id "
		"    AND m.roll_until > $1 AND l.rolls AND l.remaining > 0), "
		"u AS (SELECT * FROM own UNION ALL SELECT * FROM ended), "
		"held AS (UPDATE loyalty.account a SET held = a.held - s.moved "
		"         FROM (SELECT program_id, member, sum(expired) AS moved FROM u "
		"               GROUP BY program_id, member) s "
		"         WHERE a.program_id = s.program_id AND a.member = s.member), "
		"i AS (INSERT INTO loyalty.ledger (id, program_id, member, at, kind, points, lot_id) "
		"      SELECT coalesce(mx.id, 0) + row_number() OVER (PARTITION BY u.program_id, u.member "
		"                                                   ORDER BY u.id), "
		"             u.program_id, u.member, u.expires_at, 'expire', -u.expired, u.id FROM u "
		"      LEFT JOIN LATERAL (SELECT max(x.id) AS id FROM loyalty.ledger x "
		"                         WHERE x.program_id = u.program_id AND x.member = u.member) mx ON true "
		"      ORDER BY u.program_id, u.member, u.id) "
		"SELECT count(*) FROM u",
	6, {TIMESTAMPTZOID, INT4ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID}, CURSOR_OPT_GENERIC_PLAN},
	/*
	 * The same work member by member, for a Citus cluster (loyalty.account
	 * distributed): Citus takes no FOR UPDATE over several shards, so the
	 * batch is picked without locks and each member is locked (account.c)
	 * and swept by statements on its own shard.
	 */
	[ST_EXPIRE_PICK] = {"expire_pick",
		"SELECT l.expires_at, l.program_id, l.member, l.id, l.rolls FROM loyalty.lot l "
		"WHERE l.remaining > 0 AND l.expires_at <= $1 "
		"  AND (l.expires_at, l.program_id, l.member, l.id) > ($3, $4, $5, $6) "
		"ORDER BY l.expires_at, l.program_id, l.member, l.id LIMIT $2",
	6, {TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID, INT4OID, TEXTOID, INT8OID}},
	[ST_EXPIRE_MEMBER] = {"expire_member",
		"WITH m AS (SELECT roll_until FROM loyalty.account WHERE program_id = $2 AND member = $3), "
		"own AS ("
		"  UPDATE loyalty.lot l SET expired = l.expired + l.remaining, remaining = 0 "
		"  WHERE l.program_id = $2 AND l.member = $3 "
		"    AND l.remaining > 0 AND NOT l.rolls AND l.expires_at <= $1 "
		"  RETURNING l.id, l.expires_at, l.expired), "
		"ended AS ("
		"  UPDATE loyalty.lot l SET expired = l.remaining, remaining = 0, rolls = false, "
		"    expires_at = m.roll_until "
		"  FROM m WHERE l.program_id = $2 AND l.member = $3 "
		"    AND m.roll_until <= $1 AND l.remaining > 0 AND l.rolls "
		"  RETURNING l.id, l.expires_at, l.expired), "
		"moved AS ("
		"  UPDATE loyalty.lot l SET expires_at = m.roll_until FROM m "
		"  WHERE l.program_id = $2 AND l.member = $3 AND l.id = ANY ($4::int8[]) "
		"    AND m.roll_until > $1 AND l.rolls AND l.remaining > 0), "
		"u AS (SELECT * FROM own UNION ALL SELECT * FROM ended), "
		"held AS (UPDATE loyalty.account a SET held = a.held - (SELECT coalesce(sum(expired), 0) FROM u) "
		"         WHERE a.program_id = $2 AND a.member = $3), "
		"i AS (INSERT INTO loyalty.ledger (id, program_id, member, at, kind, points, lot_id) "
		"      SELECT n.id + row_number() OVER (ORDER BY u.id) - 1, $2, $3, u.expires_at, "
		"             'expire', -u.expired, u.id "
		"      FROM u, (SELECT coalesce(max(id), 0) + 1 AS id FROM loyalty.ledger "
		"               WHERE program_id = $2 AND member = $3) n) "
		"SELECT count(*) FROM u",
	4, {TIMESTAMPTZOID, INT4OID, TEXTOID, INT8ARRAYOID}},
	[ST_TIERS_PICK] = {"tiers_pick",
		"SELECT program_id, member, tier_until FROM loyalty.account "
		"WHERE tier_until <= $1 AND (program_id, member) > ($3, $4) "
		"ORDER BY program_id, member LIMIT $2",
	4, {TIMESTAMPTZOID, INT4OID, INT4OID, TEXTOID}},
	[ST_TIERS_PICK_REVISIT] = {"tiers_pick_revisit",
		"SELECT program_id, member, tier_until FROM loyalty.account "
		"WHERE tier_until <= $1 AND (tier_until, program_id, member) > ($5, $3, $4) "
		"ORDER BY tier_until, program_id, member LIMIT $2",
	5, {TIMESTAMPTZOID, INT4OID, INT4OID, TEXTOID, TIMESTAMPTZOID}},
	[ST_TIER_EVALUATED] = {"tier_evaluated",
		"UPDATE loyalty.account SET tier_since = $3, tier = $4, tier_until = $5 "
		"WHERE program_id = $1 AND member = $2",
	5, {INT4OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID}},
	[ST_TIERS_REVISIT] = {"tiers_revisit",
		"SELECT program_id, member, tier, ctid, tier_until FROM loyalty.account "
		"WHERE tier_until <= $1 AND (tier_until, program_id, member) > ($5, $3, $4) "
		"ORDER BY tier_until, program_id, member LIMIT $2 FOR UPDATE",
	5, {TIMESTAMPTZOID, INT4OID, INT4OID, TEXTOID, TIMESTAMPTZOID}},
	[ST_TIERS_LOCK] = {"tiers_lock",
		LOCK_DUE_MEMBERS,
	4, {TIMESTAMPTZOID, INT4OID, INT4OID, TEXTOID}},
	[ST_TIERS_LOCK_SKIP] = {"tiers_lock_skip",
		LOCK_DUE_MEMBERS " SKIP LOCKED",
	4, {TIMESTAMPTZOID, INT4OID, INT4OID, TEXTOID}},
	[ST_TIERS_SUMS] = {"tiers_sums",
		"SELECT m.ord, coalesce(sum(l.qual_points), 0)::numeric, "
		"       coalesce(sum(l.qual_spend), 0), coalesce(sum(l.qual_orders), 0)::numeric "
		"FROM unnest($1::int4[], $2::text[], $3::timestamptz[], $4::timestamptz[]) "
		"     WITH ORDINALITY AS m(program_id, member, s, e, ord) "
		"LEFT JOIN loyalty.ledger l ON l.program_id = m.program_id AND l.member = m.member "
		"     AND l.qual_at >= m.s AND l.qual_at < m.e "
		"GROUP BY m.ord ORDER BY m.ord",
	4, {INT4ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID}},
	[ST_TIERS_SET] = {"tiers_set",
		"UPDATE loyalty.account a SET "
		"  tier_since = $5, "
		"  tier = u.tier, tier_until = u.until "
		"FROM unnest($1::tid[], $2::text[], $3::text[], $4::timestamptz[], $6::bool[]) "
		"     AS u(tid, member, tier, until, changed) "
		"WHERE a.ctid = u.tid AND a.member = u.member",
	6, {TIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZOID, BOOLARRAYOID}},
	[ST_TIERS_HISTORY] = {"tiers_history",
		"INSERT INTO loyalty.tier_change (id, program_id, member, at, from_tier, to_tier, reason, "
		"                                 valid_until, by_evaluation) "
		"SELECT coalesce(mx.id, 0) + row_number() OVER (PARTITION BY h.program_id, h.member "
		"                                               ORDER BY h.ord), "
		"       h.program_id, h.member, $6, h.f, h.t, h.reason, h.until, true "
		"FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $7::text[]) "
		"     WITH ORDINALITY AS h(program_id, member, f, t, until, reason, ord) "
		"LEFT JOIN LATERAL (SELECT max(x.id) AS id FROM loyalty.tier_change x "
		"                   WHERE x.program_id = h.program_id AND x.member = h.member) mx ON true "
		"ORDER BY h.ord",
	7, {INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZOID, TEXTARRAYOID}},

	/* ops_earn.c */
	[ST_ORDERS_IN_WINDOW] = {"orders_in_window",
		"SELECT count(*)::int4 FROM loyalty.ledger "
		"WHERE program_id = $1 AND member = $2 AND kind = 'earn' "
		"  AND at >= $3 AND at < $4",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},

	/* ops_move.c */
	/* a receipt's lines (earn_order's detail), with what refunds took of each */
	[ST_RECEIPT_LINES] = {"receipt_lines",
		"SELECT x.v ->> 'line', (x.v ->> 'amount')::pg_catalog.numeric, "
		"       (x.v ->> 'k')::pg_catalog.numeric, "
		"       coalesce((SELECT pg_catalog.sum((y.v ->> 'amount')::pg_catalog.numeric) "
		"                 FROM loyalty.ledger r, pg_catalog.jsonb_array_elements(CASE "
		"                        WHEN pg_catalog.jsonb_typeof(r.detail -> 'lines') = 'array' "
		"                        THEN r.detail -> 'lines' END) y(v) "
		"                 WHERE r.program_id = $1 AND r.member = $2 AND r.kind = 'refund' "
		"                   AND r.original_ref = $3 AND y.v ->> 'line' = x.v ->> 'line'), 0) "
		"FROM loyalty.ledger e, pg_catalog.jsonb_array_elements(CASE "
		"       WHEN pg_catalog.jsonb_typeof(e.detail -> 'lines') = 'array' THEN e.detail -> 'lines' END) "
		"       WITH ORDINALITY x(v, o) "
		"WHERE e.program_id = $1 AND e.member = $2 AND e.ref = $3 AND e.kind = 'earn' "
		"ORDER BY x.o",
	3, {INT4OID, TEXTOID, TEXTOID}},
	[ST_PURCHASE_LOT] = {"purchase_lot",
		"SELECT " LOT_COLUMNS "FROM loyalty.lot l "
		"WHERE l.program_id = $1 AND l.member = $2 AND l.ref = $3 AND l.source = 'earn'",
	4, {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}},
	[ST_FIRST_PURCHASE] = {"first_purchase",
		"SELECT ref FROM loyalty.ledger "
		"WHERE program_id = $1 AND member = $2 AND kind = 'earn' ORDER BY id LIMIT 1",
	2, {INT4OID, TEXTOID}},
	[ST_REFERRER] = {"referrer",
		"SELECT referred_by, referral_paid FROM loyalty.account "
		"WHERE program_id = $1 AND member = $2",
	2, {INT4OID, TEXTOID}},
	[ST_PAYOUT_LOT] = {"payout_lot",
		"SELECT " LOT_COLUMNS "FROM loyalty.ledger e "
		"JOIN loyalty.lot l ON l.program_id = e.program_id AND l.member = e.member AND l.id = e.lot_id "
		"WHERE e.program_id = $1 AND e.member = $2 AND e.kind = 'referral' "
		"  AND e.counterparty = $3 AND e.reason = 'referrer' "
		"ORDER BY e.id LIMIT 1",
	4, {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}},
	[ST_LOT_REFUNDED] = {"lot_refunded",
		"UPDATE loyalty.lot SET refunded = refunded + $4, clawed_back = clawed_back + $5, "
		"  remaining = remaining - $6, expired = expired - $7, repaid = repaid - $8 "
		"WHERE program_id = $1 AND member = $2 AND id = $3",
	8, {INT4OID, TEXTOID, INT8OID, NUMERICOID, INT8OID, INT8OID, INT8OID, INT8OID}},
	[ST_LOTS_TRANSFER_IN] = {"lots_transfer_in",
		"WITH l AS (INSERT INTO loyalty.lot (id, program_id, member, earned_at, available_at, "
		"             expires_at, points, remaining, repaid, source, ref) "
		"           SELECT n.id + t.ord - 1, $1, $2, t.earned, $3, t.expires, t.take, t.rem, "
		"                  t.repaid, $11, $4 "
		"           FROM unnest($5::int8[], $6::timestamptz[], $7::timestamptz[], "
		"                       $8::int8[], $9::int8[]) WITH ORDINALITY "
		"                AS t(take, expires, earned, rem, repaid, ord), " NEXT_ID("lot") ") "
		"UPDATE loyalty.account SET credited = credited + $10 "
		"WHERE program_id = $1 AND member = $2",
	11, {INT4OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8OID, TEXTOID}},

	/* orders.c */
	[ST_TRACKED_ALL] = {"tracked_all",
		"SELECT relid, program_id, member_column, amount_column, ref_column, at_column, "
		"       category_column, refund_column "
		"FROM loyalty.tracked_table",
	0, {0}},
	[ST_ORDER_STATE] = {"order_state",
		"SELECT e.xmin, l.amount, l.refunded "
		"FROM loyalty.ledger e "
		"JOIN loyalty.lot l ON l.program_id = e.program_id AND l.member = e.member "
		"                  AND l.id = e.lot_id "
		"WHERE e.program_id = $1 AND e.member = $2 AND e.ref = $3 AND e.kind = 'earn'",
	3, {INT4OID, TEXTOID, TEXTOID}},
	[ST_TRACK_PUT] = {"track_put",
		"INSERT INTO loyalty.tracked_table (relid, program_id, member_column, amount_column, "
		"  ref_column, at_column, category_column, refund_column) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
		"ON CONFLICT (relid) DO UPDATE SET program_id = EXCLUDED.program_id, "
		"  member_column = EXCLUDED.member_column, amount_column = EXCLUDED.amount_column, "
		"  ref_column = EXCLUDED.ref_column, at_column = EXCLUDED.at_column, "
		"  category_column = EXCLUDED.category_column, refund_column = EXCLUDED.refund_column",
	8, {REGCLASSOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}},
	/* Citus (only run when it is installed: citus_present) */
	[ST_CITUS_PRESENT] = {"citus_present",
		"SELECT pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL",
	0, {0}},
	[ST_CITUS_TABLE] = {"citus_table",
		"SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1",
	1, {OIDOID}},
	[ST_CITUS_SHARD_OF] = {"citus_shard_of",
		"SELECT s.logicalrelid::regclass::text "
		"FROM pg_catalog.pg_class c, pg_catalog.pg_dist_shard s "
		"JOIN pg_catalog.pg_class t ON t.oid = s.logicalrelid "
		"WHERE c.oid = $1 AND t.relnamespace = c.relnamespace "
		"  AND c.relname = t.relname || '_' || s.shardid",
	1, {OIDOID}},
	/* the views' parts on a Citus cluster (citus_views.c): the part's query,
	 * this statement's now() in UTC, the shards of every shard group (the
	 * tables colocated with account; the reference tables' one shard in every
	 * group) with the node holding the group, and the run on the nodes */
	[ST_PARTS_VIEWDEF] = {"parts_viewdef",
		"SELECT pg_catalog.pg_get_viewdef(c.oid), "
		"       pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
		"FROM pg_catalog.pg_class c "
		"WHERE c.relnamespace = 'loyalty'::pg_catalog.regnamespace AND c.relname = $1 AND c.relkind = 'v'",
	1, {TEXTOID}},
	[ST_PARTS_SHARDS] = {"parts_shards",
		"SELECT a.shardid, pl.nodename::text, pl.nodeport, c.relname::text, "
		"       pg_catalog.shard_name(s.logicalrelid, s.shardid) "
		"FROM pg_catalog.pg_dist_shard a "
		"CROSS JOIN LATERAL (SELECT p.nodename, p.nodeport FROM pg_catalog.pg_dist_shard_placement p "
		"                    WHERE p.shardid = a.shardid AND p.shardstate = 1 "
		"                    ORDER BY p.placementid LIMIT 1) pl "
		"JOIN pg_catalog.pg_dist_partition d "
		"  ON d.partmethod = 'n' OR d.colocationid = (SELECT x.colocationid FROM pg_catalog.pg_dist_partition x "
		"                                              WHERE x.logicalrelid = a.logicalrelid) "
		"JOIN pg_catalog.pg_class c ON c.oid = d.logicalrelid "
		"JOIN pg_catalog.pg_dist_shard s ON s.logicalrelid = d.logicalrelid "
		"  AND (d.partmethod = 'n' OR s.shardminvalue = a.shardminvalue) "
		"WHERE a.logicalrelid = 'loyalty.account'::pg_catalog.regclass "
		"  AND c.relnamespace = 'loyalty'::pg_catalog.regnamespace "
		"ORDER BY a.shardid, c.relname",
	0, {0}},
	[ST_PARTS_RUN] = {"parts_run",
		"SELECT node_name, node_port, success, result "
		"FROM pg_catalog.master_run_on_worker($1, $2, $3, true)",
	3, {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID}},
	[ST_TRACK_DEL] = {"track_del",
		"DELETE FROM loyalty.tracked_table WHERE relid = $1",
	1, {REGCLASSOID}},
	[ST_DDL_COMMANDS] = {"ddl_commands",
		"SELECT objid, command_tag FROM pg_catalog.pg_event_trigger_ddl_commands() "
		"WHERE classid = $1",
	1, {OIDOID}},
	[ST_DROPPED_OBJECTS] = {"dropped_objects",
		"SELECT classid, objid, objsubid, object_type, address_names[1], "
		"       address_names[2], address_names[3] "
		"FROM pg_catalog.pg_event_trigger_dropped_objects()",
	0, {0}},

	/* tiers.c */
	[ST_TIER_QUALIFYING] = {"tier_qualifying",
		"SELECT coalesce(sum(qual_points), 0)::numeric, coalesce(sum(qual_spend), 0), "
		"       coalesce(sum(qual_orders), 0)::numeric "
		"FROM loyalty.ledger WHERE program_id = $1 AND member = $2 "
		"  AND qual_at >= $3 AND qual_at < $4",
	4, {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},
	[ST_TIER_LAST_QUALIFYING] = {"tier_last_qualifying",
		"SELECT max(qual_at) FROM loyalty.ledger "
		"WHERE program_id = $1 AND member = $2 AND qual_at IS NOT NULL",
	2, {INT4OID, TEXTOID}},
	[ST_TIER_CHANGE_INSERT] = {"tier_change_insert",
		"INSERT INTO loyalty.tier_change (id, program_id, member, at, from_tier, to_tier, reason, "
		"                                 valid_until, by_evaluation) "
		"SELECT n.id, $1, $2, $3, $4, $5, $6, $7, $8 FROM " NEXT_ID("tier_change"),
	8, {INT4OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, BOOLOID}},
	[ST_TIER_UPGRADES] = {"tier_upgrades",
		"SELECT to_tier, valid_until, at FROM loyalty.tier_change "
		"WHERE program_id = $1 AND member = $2 AND at <= $3 "
		"  AND NOT by_evaluation AND reason = 'upgrade' "
		"ORDER BY at, id",
	3, {INT4OID, TEXTOID, TIMESTAMPTZOID}},
	[ST_TIER_INSTANTS] = {"tier_instants",
		"SELECT DISTINCT ON (at) at, to_tier FROM loyalty.tier_change "
		"WHERE program_id = $1 AND member = $2 AND at > $3 "
		"ORDER BY at, id DESC",
	3, {INT4OID, TEXTOID, TIMESTAMPTZOID}},
	[ST_TIER_FIX] = {"tier_fix",
		"UPDATE loyalty.account SET tier = $3, tier_until = $4 "
		"WHERE program_id = $1 AND member = $2",
	4, {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}},

	/*
	 * codes.c: single-use codes are not member-scoped; every statement on
	 * loyalty.code filters on (program_id, code) (on Citus: the code's shard)
	 * or reads the codes of one call's array.  The load is one INSERT ...
	 * SELECT over the array (no ON CONFLICT: the primary key refuses a code
	 * that exists or is given twice, and the two look-ups say which).
	 */
	[ST_CODES_ADD] = {"codes_add",
		"INSERT INTO loyalty.code (program_id, code, batch, points, valid_until) "
		"SELECT $1, c.code, $3, $4, $5 FROM unnest($2::text[]) AS c(code) "
		"ON CONFLICT DO NOTHING RETURNING 1",
	5, {INT4OID, TEXTARRAYOID, TEXTOID, INT8OID, TIMESTAMPTZOID}, CURSOR_OPT_GENERIC_PLAN},
	[ST_CODES_EXISTING] = {"codes_existing",
		"SELECT min(code), count(*) FROM loyalty.code "
		"WHERE program_id = $1 AND code = ANY ($2::text[])",
	2, {INT4OID, TEXTARRAYOID}, CURSOR_OPT_GENERIC_PLAN},
	[ST_CODES_GIVEN_TWICE] = {"codes_given_twice",
		"SELECT u.c FROM unnest($1::text[]) WITH ORDINALITY AS u(c, i) "
		"GROUP BY u.c HAVING count(*) > 1 ORDER BY min(u.i) LIMIT 1",
	1, {TEXTARRAYOID}, CURSOR_OPT_GENERIC_PLAN},
	[ST_CODE_PEEK] = {"code_peek",
		"SELECT batch, points, valid_until, used_by FROM loyalty.code "
		"WHERE program_id = $1 AND code = $2",
	2, {INT4OID, TEXTOID}},
	[ST_CODE_LOCK] = {"code_lock",
		"SELECT batch, points, valid_until, used_by FROM loyalty.code "
		"WHERE program_id = $1 AND code = $2 FOR UPDATE",
	2, {INT4OID, TEXTOID}},
	[ST_CODE_USE] = {"code_use",
		"UPDATE loyalty.code SET used_by = $3, used_at = $4 "
		"WHERE program_id = $1 AND code = $2",
	4, {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}},

	/*
	 * campaigns.c: campaign limits and offers (SPEC §8).  A member's uses
	 * of a rule are its purchases whose lines name the rule; a grant is
	 * usable at $3 / $4 while it has uses left and $3 is in its window
	 * [valid_from, valid_until).  The budget rows of a program's rules
	 * (one row per rule, shared by all members) are locked by one
	 * statement, in rule order, after the member.
	 */
	[ST_RULE_USES] = {"rule_uses",
		"SELECT k.rule, count(*)::integer "
		"FROM loyalty.ledger e, pg_catalog.jsonb_object_keys(e.detail -> 'rules') AS k(rule) "
		"WHERE e.program_id = $1 AND e.member = $2 AND e.kind = 'earn' "
		"  AND e.detail -> 'rules' ?| $3 AND k.rule = ANY ($3) "
		"GROUP BY k.rule",
	3, {INT4OID, TEXTOID, TEXTARRAYOID}},
	[ST_OFFERS_HELD] = {"offers_held",
		"SELECT DISTINCT rule FROM loyalty.offer "
		"WHERE program_id = $1 AND member = $2 AND used < uses "
		"  AND (valid_from IS NULL OR valid_from <= $3) "
		"  AND (valid_until IS NULL OR valid_until > $3)",
	3, {INT4OID, TEXTOID, TIMESTAMPTZOID}},
	/* the usable grant that ends first (never-ending last), oldest first */
	[ST_OFFER_USE] = {"offer_use",
		"UPDATE loyalty.offer o SET used = o.used + 1 "
		"WHERE o.program_id = $1 AND o.member = $2 AND o.id = "
		"  (SELECT g.id FROM loyalty.offer g "
		"   WHERE g.program_id = $1 AND g.member = $2 AND g.rule = $3 AND g.used < g.uses "
		"     AND (g.valid_from IS NULL OR g.valid_from <= $4) "
		"     AND (g.valid_until IS NULL OR g.valid_until > $4) "
		"   ORDER BY g.valid_until NULLS LAST, g.id LIMIT 1)",
	4, {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}},
	[ST_OFFER_BY_REF] = {"offer_by_ref",
		"SELECT rule, uses, valid_from, valid_until FROM loyalty.offer "
		"WHERE program_id = $1 AND member = $2 AND ref = $3",
	3, {INT4OID, TEXTOID, TEXTOID}},
	[ST_OFFER_INSERT] = {"offer_insert",
		"INSERT INTO loyalty.offer (program_id, member, id, rule, uses, valid_from, valid_until, "
		"                           ref, granted_at) "
		"SELECT $1, $2, n.id, $3, $4, $5, $6, $7, $8 FROM " NEXT_ID("offer"),
	8, {INT4OID, TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID}},
	[ST_BUDGET_READ] = {"budget_read",
		"SELECT rule, spent FROM loyalty.rule_budget "
		"WHERE program_id = $1 AND rule = ANY ($2)",
	2, {INT4OID, TEXTARRAYOID}},
	[ST_BUDGET_LOCK] = {"budget_lock",
		"SELECT rule, spent FROM loyalty.rule_budget "
		"WHERE program_id = $1 AND rule = ANY ($2) ORDER BY rule FOR UPDATE",
	2, {INT4OID, TEXTARRAYOID}},
	[ST_BUDGET_ADD] = {"budget_add",
		"INSERT INTO loyalty.rule_budget (program_id, rule) VALUES ($1, $2) "
		"ON CONFLICT (program_id, rule) DO NOTHING",
	2, {INT4OID, TEXTOID}},
	[ST_BUDGET_SPEND] = {"budget_spend",
		"UPDATE loyalty.rule_budget SET spent = spent + $3 "
		"WHERE program_id = $1 AND rule = $2",
	3, {INT4OID, TEXTOID, INT8OID}},

	/* tracking.c, order_lines.c: order-lines tables (track_order_lines) */
	[ST_LINES_TRACKING_OF] = {"lines_tracking_of",
		"SELECT relid::pg_catalog.oid FROM loyalty.tracked_lines_table "
		"WHERE relid = $1 OR orders_relid = $1 ORDER BY relid::pg_catalog.oid LIMIT 1",
	1, {REGCLASSOID}},
	[ST_ORDERS_TRACKED] = {"orders_tracked",
		"SELECT 1 FROM loyalty.tracked_table WHERE relid = $1",
	1, {REGCLASSOID}},
	[ST_LINES_GET] = {"lines_get",
		"SELECT program_id, order_column, line_column, amount_column, category_column, "
		"       member_column, at_column, refund_column, orders_ref_column, "
		"       orders_member_column, orders_relid::pg_catalog.oid "
		"FROM loyalty.tracked_lines_table WHERE relid = $1",
	1, {REGCLASSOID}},
	[ST_LINES_PUT] = {"lines_put",
		"INSERT INTO loyalty.tracked_lines_table (relid, program_id, order_column, line_column, "
		"  amount_column, category_column, member_column, at_column, refund_column, "
		"  orders_ref_column, orders_member_column, orders_relid) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
		"ON CONFLICT (relid) DO UPDATE SET program_id = EXCLUDED.program_id, "
		"  order_column = EXCLUDED.order_column, line_column = EXCLUDED.line_column, "
		"  amount_column = EXCLUDED.amount_column, category_column = EXCLUDED.category_column, "
		"  member_column = EXCLUDED.member_column, at_column = EXCLUDED.at_column, "
		"  refund_column = EXCLUDED.refund_column, orders_ref_column = EXCLUDED.orders_ref_column, "
		"  orders_member_column = EXCLUDED.orders_member_column, orders_relid = EXCLUDED.orders_relid",
	12, {REGCLASSOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		 TEXTOID, TEXTOID, REGCLASSOID}},
	[ST_LINES_DEL] = {"lines_del",
		"DELETE FROM loyalty.tracked_lines_table WHERE relid = $1",
	1, {REGCLASSOID}},
	[ST_LINES_ALL] = {"lines_all",
		"SELECT relid::pg_catalog.oid, orders_relid::pg_catalog.oid, order_column, line_column, "
		"       amount_column, category_column, member_column, at_column, refund_column, "
		"       orders_ref_column, orders_member_column "
		"FROM loyalty.tracked_lines_table",
	0, {0}},
	[ST_LINES_OF_ORDERS] = {"lines_of_orders",
		"SELECT relid::pg_catalog.oid FROM loyalty.tracked_lines_table "
		"WHERE orders_relid = $1 ORDER BY relid::pg_catalog.oid",
	1, {REGCLASSOID}},
	/*
	 * mall.c: the points mall (SPEC §9).  A reward is configuration, read by
	 * (program_id, code); its stock row (program-wide, on Citus distributed
	 * by reward) is named by (program_id, reward) in every statement, and
	 * taken or given back by one UPDATE each: under READ COMMITTED the
	 * UPDATE waits for a concurrent redemption of the same reward and checks
	 * stock >= quantity again on the row it committed, so stock is never
	 * oversold.  Redemptions are the member's rows ($1 program, $2 member).
	 */
	[ST_REWARD_UPSERT] = {"reward_upsert",
		"INSERT INTO loyalty.reward (program_id, code, points, cash, per_member, tiers, "
		"                            tier_points, valid_from, valid_until, name, merchant) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
		"ON CONFLICT (program_id, code) DO UPDATE SET points = EXCLUDED.points, "
		"  cash = EXCLUDED.cash, per_member = EXCLUDED.per_member, tiers = EXCLUDED.tiers, "
		"  tier_points = EXCLUDED.tier_points, valid_from = EXCLUDED.valid_from, "
		"  valid_until = EXCLUDED.valid_until, name = EXCLUDED.name, merchant = EXCLUDED.merchant",
	11, {INT4OID, TEXTOID, INT8OID, NUMERICOID, INT4OID, TEXTARRAYOID, JSONBOID, TIMESTAMPTZOID,
		 TIMESTAMPTZOID, TEXTOID, TEXTOID}},
	/* $3: the member's tier code at the redemption (NULL: none) */
	[ST_REWARD_GET] = {"reward_get",
		"SELECT coalesce((tier_points ->> $3)::bigint, points), cash, per_member, "
		"       tiers IS NULL OR $3 = ANY (tiers), valid_from, valid_until, "
		"       pg_catalog.array_to_string(tiers, ', ') "
		"FROM loyalty.reward WHERE program_id = $1 AND code = $2",
	3, {INT4OID, TEXTOID, TEXTOID}},
	[ST_STOCK_SET] = {"stock_set",
		"INSERT INTO loyalty.reward_stock (program_id, reward, stock) VALUES ($1, $2, $3) "
		"ON CONFLICT (program_id, reward) DO UPDATE SET stock = EXCLUDED.stock",
	3, {INT4OID, TEXTOID, INT8OID}},
	[ST_STOCK_DROP] = {"stock_drop",
		"DELETE FROM loyalty.reward_stock WHERE program_id = $1 AND reward = $2",
	2, {INT4OID, TEXTOID}},
	[ST_STOCK_PEEK] = {"stock_peek",
		"SELECT stock FROM loyalty.reward_stock WHERE program_id = $1 AND reward = $2",
	2, {INT4OID, TEXTOID}},
	[ST_STOCK_TAKE] = {"stock_take",
		"UPDATE loyalty.reward_stock SET stock = stock - $3 "
		"WHERE program_id = $1 AND reward = $2 AND stock >= $3 RETURNING stock",
	3, {INT4OID, TEXTOID, INT8OID}},
	[ST_STOCK_ADD] = {"stock_add",
		"UPDATE loyalty.reward_stock SET stock = stock + $3 "
		"WHERE program_id = $1 AND reward = $2 RETURNING stock",
	3, {INT4OID, TEXTOID, INT8OID}},
	[ST_REDEMPTION_GET] = {"redemption_get",
		"SELECT reward, quantity, points, cash, merchant, at, cancel_ref, "
		"       lot_points, lot_expires, lot_earned "
		"FROM loyalty.redemption WHERE program_id = $1 AND member = $2 AND ref = $3",
	3, {INT4OID, TEXTOID, TEXTOID}},
	[ST_REDEMPTION_HELD] = {"redemption_held",
		"SELECT coalesce(sum(quantity), 0)::bigint FROM loyalty.redemption "
		"WHERE program_id = $1 AND member = $2 AND reward = $3 AND cancel_ref IS NULL",
	3, {INT4OID, TEXTOID, TEXTOID}},
	[ST_REDEMPTION_INSERT] = {"redemption_insert",
		"INSERT INTO loyalty.redemption (program_id, member, ref, reward, quantity, points, cash, "
		"                                merchant, at, lot_points, lot_expires, lot_earned) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
	12, {INT4OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT8OID, NUMERICOID, TEXTOID, TIMESTAMPTZOID,
		 INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID}},
	[ST_REDEMPTION_CANCEL] = {"redemption_cancel",
		"UPDATE loyalty.redemption SET cancelled_at = $4, cancel_ref = $5 "
		"WHERE program_id = $1 AND member = $2 AND ref = $3",
	5, {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID}},
	/* the id the member's next ledger row gets (under its lock) */
	[ST_LEDGER_NEXT_ID] = {"ledger_next_id",
		"SELECT n.id FROM " NEXT_ID("ledger"),
	2, {INT4OID, TEXTOID}},

	/*
	 * Alliance merchants (SPEC §9): configuration, cached with the program
	 * (config.c); a merchant role's grant, one row per role (merchants.c).
	 */
	[ST_CONFIG_MERCHANTS] = {"config_merchants",
		"SELECT code FROM loyalty.merchant WHERE program_id = $1 ORDER BY code",
	1, {INT4OID}},
	[ST_MERCHANT_UPSERT] = {"merchant_upsert",
		"INSERT INTO loyalty.merchant (program_id, code, name, settlement_value) "
		"VALUES ($1, $2, $3, $4) "
		"ON CONFLICT (program_id, code) DO UPDATE SET name = EXCLUDED.name, "
		"  settlement_value = EXCLUDED.settlement_value",
	4, {INT4OID, TEXTOID, TEXTOID, NUMERICOID}},
	[ST_MERCHANT_GRANT] = {"merchant_grant",
		"INSERT INTO loyalty.merchant_grant (role, program_id, merchant) VALUES ($1, $2, $3) "
		"ON CONFLICT (role) DO UPDATE SET program_id = EXCLUDED.program_id, "
		"  merchant = EXCLUDED.merchant",
	3, {TEXTOID, INT4OID, TEXTOID}},
	[ST_MERCHANT_GRANTS] = {"merchant_grants",
		"SELECT g.role, g.program_id, g.merchant, p.code FROM loyalty.merchant_grant g "
		"JOIN loyalty.program p ON p.id = g.program_id ORDER BY g.role",
	0, {InvalidOid}},
};

static SPIPlanPtr plans[ST_COUNT];
static bool keep_plans = true;

void
stmt_keep_plans(bool keep)
{
	keep_plans = keep;
}

SPIPlanPtr
stmt_plan(Stmt s)
{
	const StmtDef *d = &catalogue[s];
	SPIPlanPtr	p = plans[s];

	if (!keep_plans)
	{
		/* a plan for this SPI connection only (freed by SPI_finish) */
		p = SPI_prepare_cursor(d->sql, d->nargs, (Oid *) d->types, d->options);
		if (p == NULL)
			elog(ERROR, "loyalty: preparing statement %s failed: %s",
				 d->name, SPI_result_code_string(SPI_result));
		return p;
	}

	if (p != NULL && SPI_plan_is_valid(p))
		return p;
	if (p != NULL)
	{
		SPI_freeplan(p);
		plans[s] = NULL;
	}
	p = SPI_prepare_cursor(d->sql, d->nargs, (Oid *) d->types, d->options);
	if (p == NULL)
		elog(ERROR, "loyalty: preparing statement %s failed: %s",
			 d->name, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "loyalty: keeping the plan of statement %s failed", d->name);
	plans[s] = p;
	return p;
}

void
stmt_exec(Stmt s, Datum *args, const char *nulls, bool read_only, long count, int expect)
{
	const StmtDef *d = &catalogue[s];
	int			rc = keep_plans
		? SPI_execute_plan(stmt_plan(s), args, nulls, read_only, count)
		: SPI_execute_with_args(d->sql, d->nargs, (Oid *) d->types, args, nulls, read_only, count);

	if (rc != expect)
		elog(ERROR, "loyalty: statement %s failed: %s", d->name,
			 SPI_result_code_string(rc));
}

/* A DestReceiver that only counts the rows (stmt_exec_counted). */
typedef struct CountDest
{
	DestReceiver pub;
	uint64		rows;
} CountDest;

static bool
count_receive(TupleTableSlot *slot, DestReceiver *self)
{
	((CountDest *) self)->rows++;
	return true;
}

static void
count_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
count_nothing(DestReceiver *self)
{
}

uint64
stmt_exec_counted(Stmt s, Datum *args, const char *nulls, int expect)
{
	const StmtDef *d = &catalogue[s];
	CountDest	dest = {{count_receive, count_startup, count_nothing, count_nothing, DestNone}, 0};
	SPIExecuteOptions o;
	ParamListInfo pl = makeParamList(d->nargs);
	int			rc;

	for (int i = 0; i < d->nargs; i++)
	{
		pl->params[i].value = args[i];
		pl->params[i].isnull = nulls != NULL && nulls[i] == 'n';
		pl->params[i].pflags = PARAM_FLAG_CONST;
		pl->params[i].ptype = d->types[i];
	}
	memset(&o, 0, sizeof(o));
	o.params = pl;
	o.dest = (DestReceiver *) &dest;
	/* as stmt_exec: without kept plans, planned with the values (Citus) */
	rc = keep_plans ? SPI_execute_plan_extended(stmt_plan(s), &o) : SPI_execute_extended(d->sql, &o);
	if (rc != expect)
		elog(ERROR, "loyalty: statement %s failed: %s", d->name,
			 SPI_result_code_string(rc));
	pfree(pl);
	return dest.rows;
}

bool
stmt_get_ts(HeapTuple t, TupleDesc td, int col, TimestampTz *out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(t, td, col, &isnull);

	*out = isnull ? 0 : DatumGetTimestampTz(d);
	return !isnull;
}

/*
 * The library of a version runs the statements of that version's schema, so
 * it checks once per backend that the database's extension is at its own
 * version: instead of failing later on a missing column (42703) or, worse,
 * reading an old table in a new way, every operation of a database whose
 * DBA installed the new library but has not run ALTER EXTENSION UPDATE yet
 * is refused with a message saying so.  Not while an extension script runs
 * (CREATE or ALTER EXTENSION: the version is being changed), and not for the
 * event triggers (ly_spi_connect_nocheck), which must not block unrelated
 * DDL, ALTER EXTENSION itself included.  A mismatch is not remembered: the
 * next call checks again, so the update takes effect without reconnecting.
 */
static bool schema_ok = false;

static void
schema_check(void)
{
	char	   *installed;

	if (schema_ok || creating_extension)
		return;
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'loyalty'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading the installed version failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension loyalty is not installed in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("Run CREATE EXTENSION loyalty.")));
	installed = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (installed == NULL || strcmp(installed, LOYALTY_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the loyalty library is version %s, but this database has loyalty %s",
						LOYALTY_VERSION, installed ? installed : "(unknown)"),
				 errdetail("The library runs the statements of its own version's schema."),
				 errhint("Run ALTER EXTENSION loyalty UPDATE in this database.")));
	schema_ok = true;
}

void
ly_spi_connect(void)
{
	ly_spi_connect_nocheck();
	schema_check();
}

void
ly_spi_connect_nocheck(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loyalty: SPI_connect failed");
}
