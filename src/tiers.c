/*
 * tiers.c — qualifying values, the tier in force at an instant, upgrades
 * inside operations and evaluation at the end of a tier period.
 *
 * The qualifying value is read from the ledger's qual_* columns: every row
 * that counts for tiers carries its points / spend / orders and the instant
 * it counts at (qual_at: a clawback counts at its purchase's time).
 *
 * Tiers in business time:
 *  - loyalty.tier_change is the tier history; a change dated t is in force
 *    from t on.  The account row caches the latest-dated state (tier,
 *    tier_since = date of the last change, tier_until = end of its period).
 *  - The tier in force at t (tier_at) is the history's tier at t; when that
 *    tier's period has ended by t it is evaluated as evaluate_tiers would
 *    at the period's end, so earning never depends on whether the nightly
 *    job ran.  An evaluation is anchored at the period's end e: the window
 *    is the last complete one before e (calendar_year: the calendar year
 *    before e's; rolling_year: the 365 days before e), the result holds one
 *    more window after e (the lowest tier for ever), and a period that ends
 *    again before t is evaluated again.
 *  - Upgrades happen inside the operation that crosses a threshold, dated
 *    at the operation's time, and hold to the end of the next window.
 *
 * The tier windows, in local time of the program's timezone (the three
 * functions below are the only place the C code computes them):
 *    calendar_year  window of t: [1 Jan of t's year, 1 Jan next year);
 *                   last window before a period end e: the year before e's;
 *                   a tier reached at t or at e holds to 1 Jan, 2 (upgrade)
 *                   or 1 (evaluation) years after t's / e's year starts.
 *    rolling_year   window of t: [t - 365 days, t]; last window before e:
 *                   [e - 365 days, e); a tier holds 12 months after t / e.
 *    lifetime       everything; a tier never ends.
 * The views of sql/loyalty.sql (member_summary's qualifying value and tier
 * replay) compute the same windows in SQL, for one statement per view; they
 * mirror this formula and say so where they do.
 */
#include "tiers.h"
#include "numutil.h"
#include "timeutil.h"
#include "statements.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

/* The tier window containing `at`: [start, end). */
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

/*
 * The last complete window before a tier period ending at `e`: the
 * calendar year before e's local year, or the 365 days before e.
 */
void
tier_last_window(Program *p, TimestampTz e, TimestampTz *start, TimestampTz *end)
{
	LocalTime	lt;
	Interval	back = {0};

	if (p->tier_window == WINDOW_CALENDAR_YEAR)
	{
		local_time(p->tz, e, &lt);
		*start = local_midnight(p->tz, lt.year - 1, 1, 1);
		*end = local_midnight(p->tz, lt.year, 1, 1);
	}
	else if (p->tier_window == WINDOW_ROLLING_YEAR)
	{
		back.day = -365;
		*start = local_add_interval(p->tz, e, &back);
		*end = e;
	}
	else
	{
		*start = DT_NOBEGIN;
		*end = DT_NOEND;
	}
}

Numeric
qualifying_value(Program *p, const char *member, TimestampTz start, TimestampTz end)
{
	Datum		args[4];
	bool		isnull;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(start);
	args[3] = TimestampTzGetDatum(end);
	stmt_exec(ST_TIER_QUALIFYING, args, NULL, false, 1, SPI_OK_SELECT);
	return DatumGetNumericCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1 + (int) p->tier_basis, &isnull));
}

/* The latest instant at which anything counts for the member's tier. */
static bool
last_qualifying_at(Program *p, const char *member, TimestampTz *last)
{
	Datum		args[2];
	bool		isnull;
	Datum		d;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	stmt_exec(ST_TIER_LAST_QUALIFYING, args, NULL, false, 1, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*last = isnull ? 0 : DatumGetTimestampTz(d);
	return !isnull;
}

/* The highest tier whose threshold the value reaches. */
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
 * The tier after evaluating a period ending at e with the window's
 * qualifying value: at or above the current tier it renews (or raises) it;
 * below it, to_qualified sets it, one_step lowers one rank, never keeps it.
 * The result holds one more window after e; the lowest tier for ever.
 */
void
tier_after_evaluation(Program *p, int current, Numeric value, TimestampTz e, TierState *next)
{
	int			q = tier_for_value(p, value);
	int			t;

	if (q >= current)
		t = q;
	else
		switch (p->downgrade)
		{
			case DOWNGRADE_TO_QUALIFIED:
				t = q;
				break;
			case DOWNGRADE_ONE_STEP:
				t = current - 1;
				break;
			case DOWNGRADE_NEVER:
			default:
				t = current;
				break;
		}
	next->tier = t;
	next->has_until = t > 0 && tier_window_end(p, e, 1, &next->until);
}

static void
add_step(TierStep **steps, int *n, int *cap, int from, const TierState *to)
{
	if (*n == *cap)
	{
		*cap = *cap == 0 ? 4 : *cap * 2;
		*steps = *steps ? repalloc(*steps, sizeof(TierStep) * *cap)
			: palloc(sizeof(TierStep) * *cap);
	}
	(*steps)[*n].from = from;
	(*steps)[*n].to = to->tier;
	(*steps)[*n].has_until = to->has_until;
	(*steps)[*n].until = to->until;
	(*steps)[*n].reason = to->tier < from ? "downgrade" : "upgrade";
	(*steps)[*n].evaluation = true;
	(*n)++;
}

/*
 * Evaluate every tier period of the member that ends by `upto`, starting
 * from st (whose period ends at st->until), and leave the result in st.
 * Returns the number of changes of tier, described in *steps (palloc'd).
 * Windows after the member's last qualifying row are worth 0 without a
 * query, so a far-away `upto` costs no more than the member's history.
 */
int
tier_evaluate(Program *p, const char *member, TierState *st, TimestampTz upto,
			  TierStep **steps)
{
	int			n = 0,
				cap = 0;
	bool		have_last = false;
	bool		looked = false;
	TimestampTz last = 0;
	Numeric		zero = NULL;

	*steps = NULL;
	while (st->tier >= 0 && st->has_until && st->until <= upto)
	{
		TimestampTz start,
					end;
		Numeric		value;
		TierState	next;

		CHECK_FOR_INTERRUPTS();
		if (!looked)
		{
			have_last = last_qualifying_at(p, member, &last);
			looked = true;
			zero = num_int64(0);
		}
		tier_last_window(p, st->until, &start, &end);
		if (!have_last || last < start)
			value = zero;
		else
			value = qualifying_value(p, member, start, end);
		tier_after_evaluation(p, st->tier, value, st->until, &next);
		if (next.has_until && next.until <= st->until)
			elog(ERROR, "loyalty: tier period does not advance");
		if (next.tier != st->tier)
			add_step(steps, &n, &cap, st->tier, &next);
		*st = next;
	}
	return n;
}

/*
 * The tier in force for member a at `at` (see the file header), and the
 * evaluation steps that led to it from the history's state (returned count;
 * *steps palloc'd, NULL when none).  An unknown member (a->found false) is
 * in the lowest tier.
 */
int
tier_at(Program *p, const Account *a, TimestampTz at, TierState *st, TierStep **steps)
{
	*steps = NULL;
	memset(st, 0, sizeof(TierState));
	st->tier = p->ntiers > 0 ? 0 : -1;
	if (!a->found || p->ntiers == 0)
		return 0;
	if (!a->has_tier_since || at >= a->tier_since)
	{
		st->tier = a->tier;
		st->has_until = a->has_tier_until;
		st->until = a->tier_until;
	}
	else
	{
		/*
		 * An instant before the latest change: the tier recomputed from the
		 * facts (what the history says, unless a back-dated row changed a
		 * window an evaluation had judged; tier_replay)
		 */
		tier_replay(p, a->member, at, st);
		return 0;
	}
	return tier_evaluate(p, a->member, st, at, steps);
}

/*
 * Whether a credit adding to the member's qualifying value at `at` crosses
 * a higher threshold than the tier in force (st); if so *step is the
 * upgrade, holding to the end of the next window.
 */
bool
tier_upgrade(Program *p, const Account *a, const TierState *st, TimestampTz at,
			 int64 add_points, Numeric add_spend, int add_orders, TierStep *step)
{
	TimestampTz start,
				end;
	Numeric		value;
	Numeric		add;
	int			target;

	if (p->ntiers < 2 || st->tier >= p->ntiers - 1)
		return false;
	switch (p->tier_basis)
	{
		case BASIS_POINTS:
			if (add_points <= 0)
				return false;
			add = num_int64(add_points);
			break;
		case BASIS_SPEND:
			if (num_sign(add_spend) <= 0)
				return false;
			add = add_spend;
			break;
		case BASIS_ORDERS:
		default:
			if (add_orders <= 0)
				return false;
			add = num_int64(add_orders);
			break;
	}
	/* the value reached at `at`: what counts up to then (a back-dated credit
	 * does not see purchases dated after it) */
	tier_window_of(p, at, &start, &end);
	if (end > at + 1)
		end = at + 1;
	value = num_add(a->found ? qualifying_value(p, a->member, start, end) : num_int64(0), add);
	target = tier_for_value(p, value);
	if (target <= st->tier)
		return false;
	step->from = st->tier;
	step->to = target;
	step->has_until = tier_window_end(p, at, 2, &step->until);
	step->reason = "upgrade";
	step->evaluation = false;
	return true;
}

void
tier_history_write(Program *p, const char *member, TimestampTz at, const TierStep *step)
{
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(at);
	if (step->from >= 0)
		args[3] = CStringGetTextDatum(p->tiers[step->from].code);
	else
		nulls[3] = 'n';
	args[4] = CStringGetTextDatum(p->tiers[step->to].code);
	args[5] = CStringGetTextDatum(step->reason);
	args[6] = TimestampTzGetDatum(step->until);
	nulls[6] = step->has_until ? ' ' : 'n';
	args[7] = BoolGetDatum(step->evaluation);
	stmt_exec(ST_TIER_CHANGE_INSERT, args, nulls, false, 0, SPI_OK_INSERT);
}

/*
 * The member's tier at `at` recomputed from the facts: the upgrades its
 * operations made (tier_change rows not written by an evaluation), each
 * applied at its time when it is above the tier then, and every tier period
 * that ended evaluated at its end from the ledger as it is now.  This is
 * what the history says as long as nothing back-dated changed a window an
 * evaluation had judged; it does not depend on when evaluations ran.
 */
void
tier_replay(Program *p, const char *member, TimestampTz at, TierState *st)
{
	Datum		args[3];
	int			n;
	int		   *to;
	bool	   *has_until;
	TimestampTz *until,
			   *when;
	TierStep   *steps;

	memset(st, 0, sizeof(TierState));
	st->tier = p->ntiers > 0 ? 0 : -1;
	if (p->ntiers == 0)
		return;
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(at);
	stmt_exec(ST_TIER_UPGRADES, args, NULL, false, 0, SPI_OK_SELECT);
	n = (int) SPI_processed;
	to = palloc(sizeof(int) * Max(n, 1));
	has_until = palloc(sizeof(bool) * Max(n, 1));
	until = palloc(sizeof(TimestampTz) * Max(n, 1));
	when = palloc(sizeof(TimestampTz) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		to[i] = tier_index(p, SPI_getvalue(t, td, 1));
		d = SPI_getbinval(t, td, 2, &isnull);
		has_until[i] = !isnull;
		until[i] = isnull ? 0 : DatumGetTimestampTz(d);
		when[i] = DatumGetTimestampTz(SPI_getbinval(t, td, 3, &isnull));
	}
	for (int i = 0; i < n; i++)
	{
		tier_evaluate(p, member, st, when[i], &steps);
		if (to[i] > st->tier)
		{
			st->tier = to[i];
			st->has_until = has_until[i];
			st->until = until[i];
		}
	}
	tier_evaluate(p, member, st, at, &steps);
}

/*
 * After a row that counts for tiers at `since`, an instant before the
 * member's latest tier change (a back-dated credit or upgrade, a refund of
 * an older purchase): the history is made what the facts say now
 * (tier_replay) at every later change instant, by a new row dated there
 * where the tier differs, and the account's latest state with it.  So the
 * tier is the same whether an evaluation ran before or after the late row,
 * and the history read at any instant agrees with tier_of.
 */
void
tier_reconcile(Program *p, Account *a, TimestampTz since)
{
	TierState	r;
	TierStep	fix;
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			n;
	TimestampTz *instants;
	char	  **hist_tier;

	if (!a->has_tier_since || p->ntiers == 0 || since >= a->tier_since)
		return;
	/* the change instants after `since`, with the history's tier at each */
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(since);
	stmt_exec(ST_TIER_INSTANTS, args, NULL, false, 0, SPI_OK_SELECT);
	n = (int) SPI_processed;
	instants = palloc(sizeof(TimestampTz) * Max(n, 1));
	hist_tier = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		instants[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		hist_tier[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	for (int i = 0; i < n; i++)
	{
		int			h = tier_index(p, hist_tier[i]);

		tier_replay(p, a->member, instants[i], &r);
		if (h < 0)
			h = 0;
		if (r.tier == h)
			continue;
		fix.from = h;
		fix.to = r.tier;
		fix.has_until = r.has_until;
		fix.until = r.until;
		fix.reason = r.tier < h ? "downgrade" : "upgrade";
		fix.evaluation = true;
		tier_history_write(p, a->member, instants[i], &fix);
	}

	/* the latest state (the last instant is the account's tier_since) */
	tier_replay(p, a->member, a->tier_since, &r);
	if (r.tier == a->tier && r.has_until == a->has_tier_until &&
		(!r.has_until || r.until == a->tier_until))
		return;
	args[2] = CStringGetTextDatum(p->tiers[r.tier].code);
	args[3] = TimestampTzGetDatum(r.until);
	nulls[3] = r.has_until ? ' ' : 'n';
	stmt_exec(ST_TIER_FIX, args, nulls, false, 0, SPI_OK_UPDATE);
	a->tier = r.tier;
	a->has_tier_until = r.has_until;
	a->tier_until = r.until;
}
