/*
 * tiers.c — qualifying values and upgrades inside an operation.
 *
 * The qualifying value is read from the ledger's qual_* columns: every row
 * that counts for tiers carries its points / spend / orders and the instant
 * it counts at (qual_at: a clawback counts at its purchase's time).
 */
#include "account.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static SPIPlanPtr plan_qual = NULL;
static SPIPlanPtr plan_history = NULL;

/* The tier window containing `at`: [start, end). */
void		tier_window_of(Program *p, TimestampTz at, TimestampTz *start, TimestampTz *end);

void
tier_window_of(Program *p, TimestampTz at, TimestampTz *start, TimestampTz *end)
{
	LocalTime	lt;
	Interval	year = {0};

	switch (p->tier_window)
	{
		case WINDOW_CALENDAR_YEAR:
			local_time(p->tz, at, &lt);
			*start = local_midnight(p->tz, lt.year, 1, 1);
			*end = local_midnight(p->tz, lt.year + 1, 1, 1);
			break;
		case WINDOW_ROLLING_YEAR:
			year.day = -365;
			*start = local_add_interval(p->tz, at, &year);
			*end = at + 1;
			break;
		case WINDOW_LIFETIME:
			*start = DT_NOBEGIN;
			*end = DT_NOEND;
			break;
	}
}

/*
 * The end of the tier window `ahead` windows after the one containing `at`
 * (calendar_year: 1 January, local, `ahead` years on; rolling_year: a year
 * after `at`); false for lifetime windows, which never end.
 */
bool
tier_window_end(Program *p, TimestampTz at, int ahead, TimestampTz *until)
{
	LocalTime	lt;
	Interval	year = {0};

	switch (p->tier_window)
	{
		case WINDOW_CALENDAR_YEAR:
			local_time(p->tz, at, &lt);
			*until = local_midnight(p->tz, lt.year + ahead, 1, 1);
			return true;
		case WINDOW_ROLLING_YEAR:
			year.month = 12;
			*until = local_add_interval(p->tz, at, &year);
			return true;
		case WINDOW_LIFETIME:
			return false;
	}
	return false;
}

Numeric
qualifying_value(Program *p, const char *member, TimestampTz start, TimestampTz end);

Numeric
qualifying_value(Program *p, const char *member, TimestampTz start, TimestampTz end)
{
	Datum		args[4];
	Oid			types[4] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	bool		isnull;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(start);
	args[3] = TimestampTzGetDatum(end);
	plan_get(&plan_qual,
			 "SELECT coalesce(sum(qual_points), 0)::numeric, coalesce(sum(qual_spend), 0), "
			 "       coalesce(sum(qual_orders), 0)::numeric "
			 "FROM loyalty.ledger WHERE program_id = $1 AND member = $2 "
			 "  AND qual_at >= $3 AND qual_at < $4",
			 4, types);
	if (SPI_execute_plan(plan_qual, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading qualifying value failed");
	return DatumGetNumericCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1 + (int) p->tier_basis, &isnull));
}

/* The highest tier whose threshold the value reaches. */
int
tier_for_value(Program *p, Numeric value);

int
tier_for_value(Program *p, Numeric value)
{
	int			t = 0;

	for (int i = 0; i < p->ntiers; i++)
		if (num_cmp(value, p->tiers[i].threshold) >= 0)
			t = i;
	return p->ntiers > 0 ? t : -1;
}

/*
 * The member's tier after a credit adding to its qualifying value: a higher
 * tier when a threshold is crossed (holding to the end of the next window),
 * else the current one.
 */
int
tier_after_credit(Program *p, Account *a, TimestampTz at,
				  int64 add_points, Numeric add_spend, int add_orders,
				  TimestampTz *until, bool *has_until)
{
	TimestampTz start,
				end;
	Numeric		value;
	Numeric		add;
	int			target;

	if (p->ntiers < 2 || a->tier >= p->ntiers - 1)
		return a->tier;
	switch (p->tier_basis)
	{
		case BASIS_POINTS:
			if (add_points <= 0)
				return a->tier;
			add = num_int64(add_points);
			break;
		case BASIS_SPEND:
			if (num_sign(add_spend) <= 0)
				return a->tier;
			add = add_spend;
			break;
		case BASIS_ORDERS:
		default:
			if (add_orders <= 0)
				return a->tier;
			add = num_int64(add_orders);
			break;
	}
	/* cheap exit: even the whole addition cannot reach the next threshold */
	tier_window_of(p, at, &start, &end);
	value = num_add(qualifying_value(p, a->member, start, end), add);
	target = tier_for_value(p, value);
	if (target <= a->tier)
		return a->tier;
	/* an upgrade holds to the end of the next window */
	*has_until = tier_window_end(p, at, 2, until);
	return target;
}

void
tier_history_write(Program *p, const char *member, TimestampTz at, int from, int to,
				   const char *reason, bool has_until, TimestampTz until)
{
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[7] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(at);
	if (from >= 0)
		args[3] = CStringGetTextDatum(p->tiers[from].code);
	else
		nulls[3] = 'n';
	args[4] = CStringGetTextDatum(p->tiers[to].code);
	args[5] = CStringGetTextDatum(reason);
	args[6] = TimestampTzGetDatum(until);
	nulls[6] = has_until ? ' ' : 'n';
	plan_get(&plan_history,
			 "INSERT INTO loyalty.tier_change (program_id, member, at, from_tier, to_tier, reason, valid_until) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7)",
			 7, types);
	if (SPI_execute_plan(plan_history, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "loyalty: writing tier history failed");
}
