/*
 * events.c — record_event: event rules with caps, streaks.
 *
 * An event is known when any rule (event or streak kind, active or not)
 * names it; otherwise record_event fails with 22023, and so does 'signup'
 * (it pays on enrolment only: enroll.c).  Each call writes one ledger row
 * of kind 'event' (0 points when every rule is capped); a rule's caps count
 * that rule's own payouts (the rules named in the rows' detail), per
 * program-local day and in total.  Streak progress lives in loyalty.streak,
 * one row per member and streak rule, updated under the member's lock.
 */
#include "enroll.h"
#include "args.h"
#include "calc.h"
#include "merchants.h"
#include "timeutil.h"
#include "statements.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"

PG_FUNCTION_INFO_V1(loyalty_record_event);

/* Payouts of rule r to the member: on the local day of `at`, and ever. */
static void
rule_payouts(Program *p, const char *member, const Rule *r, TimestampTz at,
			 int64 *today, int64 *ever)
{
	LocalTime	lt;
	Datum		args[6];
	bool		isnull;
	int			y,
				m,
				d;

	local_time(p->tz, at, &lt);
	j2date(lt.julian + 1, &y, &m, &d);
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(r->event);
	args[3] = TimestampTzGetDatum(local_midnight(p->tz, lt.year, lt.month, lt.day));
	args[4] = TimestampTzGetDatum(local_midnight(p->tz, y, m, d));
	args[5] = CStringGetTextDatum(r->code);
	stmt_exec(ST_RULE_PAYOUTS, args, NULL, false, 1, SPI_OK_SELECT);
	*today = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*ever = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
}

/*
 * Advance the member's streak for rule r with a record on local day `day`;
 * returns the streak points earned now (the streak then starts over).
 */
static int64
streak_advance(Program *p, const char *member, Rule *r, int32 day)
{
	Datum		args[5];
	bool		isnull;
	int32		last_day = 0;
	int32		days = 0;
	bool		have = false;
	int64		reward = 0;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(r->code);
	stmt_exec(ST_STREAK_GET, args, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		have = true;
		last_day = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))
			+ POSTGRES_EPOCH_JDATE;
		days = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	if (have && day <= last_day)
		return 0;				/* same day again, or out of order: no progress */
	if (have && day == last_day + 1)
		days++;
	else
		days = 1;
	if (days >= r->days)
	{
		reward = r->points;
		days = 0;
	}
	args[3] = DateADTGetDatum(day - POSTGRES_EPOCH_JDATE);
	args[4] = Int32GetDatum(days);
	stmt_exec(ST_STREAK_PUT, args, NULL, false, 0, SPI_OK_INSERT);
	return reward;
}

Datum
loyalty_record_event(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "member", 3);
	char	   *event = arg_text(fcinfo, 2, "event");
	const char *merchant = arg_text_opt(fcinfo, 5);
	Program    *p;
	Account		a;
	PriorOp		call = {.kind = "event", .event = event},
				prior;
	bool		known = false;
	int64		total = 0;
	LocalTime	lt;
	Credit		c = {0};
	const char **codes;
	int64	   *pts;
	int			ncredited = 0;

	if (strcmp(event, "signup") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event \"signup\" cannot be recorded"),
				 errdetail("Signup points are credited once, when the member is enrolled.")));
	p = op_begin(o.prog);
	merchant = merchant_resolve(p, merchant);
	call.merchant = merchant;
	for (int i = 0; i < p->nrules && !known; i++)
	{
		Rule	   *r = &p->rules[i];

		if ((r->kind == RULE_EVENT || r->kind == RULE_STREAK) && strcmp(r->event, event) == 0)
			known = true;
	}
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown event \"%s\" in program \"%s\"", cut(event), cut(p->code)),
				 errhint("Add an event or streak rule for it with loyalty.add_rule().")));

	member_get_or_enroll(p, o.member, o.at, &a, NULL);
	if (op_replayed(p, o.member, o.ref, &call, SAME_EVENT | SAME_MERCHANT, "event", &prior))
		PG_RETURN_INT64(op_end(prior.result));

	codes = palloc(sizeof(char *) * Max(p->nrules, 1));
	pts = palloc(sizeof(int64) * Max(p->nrules, 1));
	local_time(p->tz, o.at, &lt);
	for (int i = 0; i < p->nrules; i++)
	{
		Rule	   *r = &p->rules[i];

		if ((r->kind != RULE_EVENT && r->kind != RULE_STREAK) ||
			strcmp(r->event, event) != 0 || !rule_in_force(r, o.at))
			continue;
		if (r->kind == RULE_EVENT)
		{
			if (r->max_per_day > 0 || r->max_total > 0)
			{
				int64		today,
							ever;

				rule_payouts(p, o.member, r, o.at, &today, &ever);
				if (!calc_event_pays(r, today, ever))
					continue;
			}
			if (r->points > 0)
			{
				total += r->points;
				codes[ncredited] = r->code;
				pts[ncredited++] = r->points;
			}
		}
		else
		{
			int64		s = streak_advance(p, o.member, r, lt.julian);

			if (s > 0)
			{
				total += s;
				codes[ncredited] = r->code;
				pts[ncredited++] = s;
			}
		}
	}

	c.kind = "event";
	c.event = event;
	c.merchant = merchant;
	c.points = total;
	c.result = total;
	c.at = o.at;
	c.ref = o.ref;
	c.qualifies = true;
	c.is_earning = true;
	c.detail = rules_json(ncredited, codes, pts);
	credit_write(p, &a, &c);
	PG_RETURN_INT64(op_end(total));
}
