/*
 * lots.c — crediting points into lots, spending them FIFO, balances.
 *
 * A credit is one ledger row plus one lot (lot.points = credited,
 * lot.remaining = what is left after paying the member's debt first).
 * Spending takes lots first-to-expire first (ties: oldest first; lots that
 * never expire last).  The member's account row is locked by the caller
 * (account.c), so lot arithmetic done here in C cannot race.
 *
 * Invariant (verify()): sum(ledger.points) = sum(lot.remaining) - debt.
 */
#include "account.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"

static SPIPlanPtr plan_credit[2];	/* [0]: 0.1.0 schema (no account.credited) */
static SPIPlanPtr plan_roll = NULL;
static SPIPlanPtr plan_balance = NULL;
static SPIPlanPtr plan_spendable = NULL;
static SPIPlanPtr plan_take = NULL;
static SPIPlanPtr plan_ledger = NULL;

/* Start of the period after the one containing local time t. */
static TimestampTz
next_period_start(Program *p, TimestampTz t)
{
	LocalTime	lt;

	local_time(p->tz, t, &lt);
	switch (p->expiry_period)
	{
		case PERIOD_MONTH:
			return local_midnight(p->tz, lt.year, lt.month + 1, 1);
		case PERIOD_QUARTER:
			return local_midnight(p->tz, lt.year, ((lt.month - 1) / 3) * 3 + 4, 1);
		case PERIOD_YEAR:
		default:
			return local_midnight(p->tz, lt.year + 1, 1, 1);
	}
}

/* When points earned at `at` expire; false when never. */
bool
expiry_for(Program *p, TimestampTz at, TimestampTz *expires)
{
	switch (p->expiry)
	{
		case EXPIRY_NONE:
			return false;
		case EXPIRY_FIXED:
		case EXPIRY_ROLLING:
			*expires = local_add_interval(p->tz, at, &p->expiry_after);
			return true;
		case EXPIRY_END_OF_PERIOD:
			*expires = next_period_start(p, local_add_interval(p->tz, at, &p->expiry_after));
			return true;
	}
	return false;
}

TimestampTz
available_for(Program *p, TimestampTz at)
{
	if (!p->has_pending)
		return at;
	return local_add_interval(p->tz, at, &p->pending_for);
}

#define SET_TEXT(i, s) \
	do { if ((s) != NULL) { args[i] = CStringGetTextDatum(s); nulls[i] = ' '; } \
		 else { args[i] = (Datum) 0; nulls[i] = 'n'; } } while (0)

void
credit_write(Program *p, Account *a, Credit *c)
{
	Datum		args[26];
	char		nulls[26];
	Oid			types[26] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		INT8OID, INT8OID, TEXTOID, TEXTOID, NUMERICOID, INT8OID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, INT8OID, NUMERICOID, INT4OID, TEXTOID, INT8OID, INT4OID,
	TIMESTAMPTZOID, TEXTOID, BOOLOID, TIMESTAMPTZOID, BOOLOID};
	int64		repay = Min(c->points, a->debt);
	TimestampTz expires = 0;
	bool		has_expiry;
	bool		backdated;
	Numeric		spend = (c->is_purchase && c->amount) ? c->amount : num_int64(0);
	int			orders = c->is_purchase ? 1 : 0;
	int64		qpoints = c->qualifies ? c->points : 0;
	TimestampTz until = 0;
	bool		has_until = false;
	int			new_tier;
	bool		tier_changed;

	/*
	 * Rolling expiry: every lot of the member expires at its last earning +
	 * expiry_after, so a back-dated earning (older than the last one) joins
	 * that shared date instead of getting an earlier one of its own.
	 */
	backdated = p->expiry == EXPIRY_ROLLING && c->is_earning && a->has_last_earn &&
		a->last_earn_at > c->at;
	if (backdated)
		has_expiry = expiry_for(p, a->last_earn_at, &expires);
	else
		has_expiry = expiry_for(p, c->at, &expires);

	check_credit_range(a, c->points);
	new_tier = tier_after_credit(p, a, c->at, qpoints, spend, orders, &until, &has_until);
	tier_changed = new_tier != a->tier;

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(c->at);
	/* pending_for delays earned points only; an adjustment is spendable at once */
	args[3] = TimestampTzGetDatum(c->is_earning ? available_for(p, c->at) : c->at);
	args[4] = TimestampTzGetDatum(expires);
	nulls[4] = has_expiry ? ' ' : 'n';
	args[5] = Int64GetDatum(c->points);
	args[6] = Int64GetDatum(c->points - repay);
	SET_TEXT(7, c->kind);
	SET_TEXT(8, c->ref);
	args[9] = c->amount ? NumericGetDatum(c->amount) : (Datum) 0;
	nulls[9] = c->amount ? ' ' : 'n';
	args[10] = Int64GetDatum(c->result);
	SET_TEXT(11, c->category);
	SET_TEXT(12, c->event);
	SET_TEXT(13, c->counterparty);
	SET_TEXT(14, c->reason);
	args[15] = Int64GetDatum(qpoints);
	args[16] = NumericGetDatum(spend);
	args[17] = Int32GetDatum(orders);
	SET_TEXT(18, c->detail);
	args[19] = Int64GetDatum(a->debt - repay);
	args[20] = Int32GetDatum(c->is_purchase ? 1 : 0);
	args[21] = TimestampTzGetDatum(c->at);
	nulls[21] = c->is_earning ? ' ' : 'n';
	if (tier_changed)
		SET_TEXT(22, p->tiers[new_tier].code);
	else
		nulls[22] = 'n';
	args[23] = BoolGetDatum(tier_changed);
	args[24] = TimestampTzGetDatum(until);
	nulls[24] = has_until ? ' ' : 'n';
	args[25] = BoolGetDatum(c->points > 0 || c->is_purchase);

#define Q_CREDIT(credited) \
	"WITH lot AS (" \
	"  INSERT INTO loyalty.lot (program_id, member, earned_at, available_at, expires_at, " \
	"                           points, remaining, source, ref, amount) " \
	"  SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 WHERE $26 " \
	"  RETURNING id), " \
	"led AS (" \
	"  INSERT INTO loyalty.ledger (program_id, member, at, kind, points, ref, result, amount, " \
	"    category, event, counterparty, reason, lot_id, qual_at, qual_points, qual_spend, " \
	"    qual_orders, detail) " \
	"  VALUES ($1, $2, $3, $8, $6, $9, $11, $10, $12, $13, $14, $15, (SELECT id FROM lot), " \
	"          $3, $16, $17, $18, $19::jsonb)) " \
	"UPDATE loyalty.account SET debt = $20, purchases = purchases + $21, " credited \
	"  last_earn_at = CASE WHEN $22::timestamptz IS NULL THEN last_earn_at " \
	"                      ELSE greatest(last_earn_at, $22) END, " \
	"  tier = CASE WHEN $24 THEN $23 ELSE tier END, " \
	"  tier_since = CASE WHEN $24 THEN $3 ELSE tier_since END, " \
	"  tier_until = CASE WHEN $24 THEN $25 ELSE tier_until END " \
	"WHERE program_id = $1 AND member = $2"
	{
		int			v = a->credited_column ? 1 : 0;

		plan_get(&plan_credit[v],
				 v ? Q_CREDIT("credited = credited + $6, ") : Q_CREDIT(""), 26, types);
		if (SPI_execute_plan(plan_credit[v], args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "loyalty: writing credit failed");
	}

	/*
	 * rolling expiry: every living lot of the member moves with this earning.
	 * A back-dated one moves nothing: the lots alive at the last earning
	 * already have the shared date, and lots that died between this
	 * earning's time and the last one stay dead (swept or not).
	 */
	if (p->expiry == EXPIRY_ROLLING && c->is_earning && has_expiry && !backdated)
	{
		Oid			rtypes[4] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
		Datum		rargs[4];

		rargs[0] = args[0];
		rargs[1] = args[1];
		rargs[2] = args[2];
		rargs[3] = TimestampTzGetDatum(expires);
		plan_get(&plan_roll,
				 "UPDATE loyalty.lot SET expires_at = $4 "
				 "WHERE program_id = $1 AND member = $2 AND remaining > 0 "
				 "  AND expires_at > $3 AND expires_at < $4",
				 4, rtypes);
		if (SPI_execute_plan(plan_roll, rargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "loyalty: moving rolling expiry failed");
	}

	if (tier_changed)
		tier_history_write(p, a->member, c->at, a->tier, new_tier, "upgrade", has_until, until);

	a->debt -= repay;
	a->credited += c->points;
	a->purchases += c->is_purchase ? 1 : 0;
	a->tier = new_tier;
	if (c->is_earning && (!a->has_last_earn || c->at > a->last_earn_at))
	{
		a->has_last_earn = true;
		a->last_earn_at = c->at;
	}
}

/*
 * Spendable points at `at` (lots available and not expired by `at`) minus
 * debt: what redeem and transfer may take.  lots_balance(with_swept) also
 * counts lots expire_points already swept whose expiry is after `at`, so
 * balance() for an earlier instant does not depend on whether the job ran.
 */
int64
available_balance(Program *p, const char *member, TimestampTz at, int64 debt, int64 *pending)
{
	return lots_balance(p, member, at, debt, pending, false);
}

int64
lots_balance(Program *p, const char *member, TimestampTz at, int64 debt, int64 *pending,
			 bool with_swept)
{
	Datum		args[4];
	Oid			types[4] = {INT4OID, TEXTOID, TIMESTAMPTZOID, BOOLOID};
	bool		isnull;
	int64		avail;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(at);
	args[3] = BoolGetDatum(with_swept);
	plan_get(&plan_balance,
			 "SELECT coalesce(sum(remaining + CASE WHEN $4 THEN expired ELSE 0 END) "
			 "                FILTER (WHERE available_at <= $3), 0)::int8, "
			 "       coalesce(sum(remaining + CASE WHEN $4 THEN expired ELSE 0 END) "
			 "                FILTER (WHERE available_at > $3), 0)::int8 "
			 "FROM loyalty.lot WHERE program_id = $1 AND member = $2 "
			 "  AND (remaining > 0 OR ($4 AND expired > 0)) "
			 "  AND (expires_at IS NULL OR expires_at > $3)",
			 4, types);
	if (SPI_execute_plan(plan_balance, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading balance failed");
	avail = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (pending)
		*pending = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return avail - debt;
}

/*
 * Take up to `points` from the member's living lots at `at`, in this order:
 * the lot `first` (when > 0: a refund's own purchase), then available lots
 * first-to-expire first (ties: oldest; never-expiring last), then, when
 * include_pending, pending lots in the same order.  The arithmetic is done
 * here in C over the fetched lots; one UPDATE writes the takes.  Returns the
 * points taken; the taken lots are returned through out/nout when asked.
 */
int64
lots_take(Program *p, const char *member, TimestampTz at, int64 points,
		  int64 first, bool include_pending, LotTake **out, int *nout)
{
	Datum		args[5];
	Oid			types[5] = {INT4OID, TEXTOID, TIMESTAMPTZOID, BOOLOID, INT8OID};
	Oid			utypes[4] = {INT4OID, TEXTOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum	   *ids;
	Datum	   *takes;
	LotTake    *taken;
	int			n = 0;
	int64		left = points;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(at);
	args[3] = BoolGetDatum(include_pending);
	args[4] = Int64GetDatum(first);
	plan_get(&plan_spendable,
			 "SELECT id, remaining, expires_at, earned_at FROM loyalty.lot "
			 "WHERE program_id = $1 AND member = $2 AND remaining > 0 "
			 "  AND (expires_at IS NULL OR expires_at > $3) "
			 "  AND (available_at <= $3 OR $4 OR id = $5) "
			 "ORDER BY id = $5 DESC, available_at <= $3 DESC, "
			 "         expires_at ASC NULLS LAST, earned_at, id",
			 5, types);
	if (SPI_execute_plan(plan_spendable, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading lots failed");
	ids = palloc(sizeof(Datum) * (SPI_processed + 1));
	takes = palloc(sizeof(Datum) * (SPI_processed + 1));
	taken = palloc(sizeof(LotTake) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed && left > 0; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		rem = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
		Datum		d;

		taken[n].id = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
		taken[n].take = Min(rem, left);
		d = SPI_getbinval(t, td, 3, &isnull);
		taken[n].has_expiry = !isnull;
		taken[n].expires_at = isnull ? 0 : DatumGetTimestampTz(d);
		taken[n].earned_at = DatumGetTimestampTz(SPI_getbinval(t, td, 4, &isnull));
		ids[n] = Int64GetDatum(taken[n].id);
		takes[n] = Int64GetDatum(taken[n].take);
		left -= taken[n].take;
		n++;
	}
	if (n > 0)
	{
		args[2] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[3] = PointerGetDatum(construct_array(takes, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		plan_get(&plan_take,
				 "UPDATE loyalty.lot l SET remaining = l.remaining - t.take "
				 "FROM unnest($3::int8[], $4::int8[]) AS t(id, take) "
				 "WHERE l.program_id = $1 AND l.member = $2 AND l.id = t.id",
				 4, utypes);
		if (SPI_execute_plan(plan_take, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "loyalty: spending lots failed");
	}
	if (out)
		*out = taken;
	if (nout)
		*nout = n;
	return points - left;
}

/*
 * Spend exactly `points` from available lots; the caller has checked that
 * enough is available.
 */
void
lots_consume(Program *p, const char *member, TimestampTz at, int64 points)
{
	if (lots_take(p, member, at, points, 0, false, NULL, NULL) != points)
		elog(ERROR, "loyalty: lots of member \"%s\" hold less than the balance said", member);
}

/* One ledger row that is not a credit (debits, refunds, transfers). */
void
ledger_write(Program *p, const char *member, const LedgerRow *r)
{
	Datum		args[15];
	char		nulls[15];
	Oid			types[15] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID, TEXTOID,
		INT8OID, NUMERICOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID,
	NUMERICOID, INT4OID};

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(r->at);
	SET_TEXT(3, r->kind);
	args[4] = Int64GetDatum(r->points);
	SET_TEXT(5, r->ref);
	args[6] = Int64GetDatum(r->result);
	args[7] = r->amount ? NumericGetDatum(r->amount) : (Datum) 0;
	nulls[7] = r->amount ? ' ' : 'n';
	SET_TEXT(8, r->original_ref);
	SET_TEXT(9, r->counterparty);
	SET_TEXT(10, r->reason);
	args[11] = TimestampTzGetDatum(r->qual_at);
	nulls[11] = r->has_qual ? ' ' : 'n';
	args[12] = Int64GetDatum(r->qual_points);
	args[13] = NumericGetDatum(r->qual_spend ? r->qual_spend : num_int64(0));
	args[14] = Int32GetDatum(r->qual_orders);
	plan_get(&plan_ledger,
			 "INSERT INTO loyalty.ledger (program_id, member, at, kind, points, ref, result, "
			 "  amount, original_ref, counterparty, reason, qual_at, qual_points, qual_spend, "
			 "  qual_orders) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
			 15, types);
	if (SPI_execute_plan(plan_ledger, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "loyalty: writing ledger failed");
}

/* {"rules": {"code": points, ...}} for a credit made by rules; NULL when none. */
char *
rules_json(int n, const char *const *codes, const int64 *points)
{
	StringInfoData b;

	if (n == 0)
		return NULL;
	initStringInfo(&b);
	appendStringInfoString(&b, "{\"rules\": {");
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&b, ", ");
		escape_json(&b, codes[i]);
		appendStringInfo(&b, ": " INT64_FORMAT, points[i]);
	}
	appendStringInfoString(&b, "}}");
	return b.data;
}
