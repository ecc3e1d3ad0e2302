/*
 * ops_earn.c — enroll, earn, quote.
 *
 * earn: check arguments -> lock the member (and an unpaid referrer) ->
 * idempotency by ref -> gather the member facts at the purchase's time (the
 * tier in force then) -> calc_earn() -> one credit (ledger row + lot +
 * account) -> referral payout on the first purchase.  quote runs the same
 * calc_earn() without locking or writing.
 */
#include "enroll.h"
#include "numutil.h"
#include "args.h"
#include "calc.h"
#include "campaigns.h"
#include "timeutil.h"
#include "statements.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"

#include "merchants.h"
#include "ops.h"
#include "receipt.h"
#include "srf.h"

PG_FUNCTION_INFO_V1(loyalty_enroll);
PG_FUNCTION_INFO_V1(loyalty_earn);
PG_FUNCTION_INFO_V1(loyalty_quote);
PG_FUNCTION_INFO_V1(loyalty_earn_order);
PG_FUNCTION_INFO_V1(loyalty_quote_order);

Datum
loyalty_enroll(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	TimestampTz at = arg_at(fcinfo, 2);
	bool		has_birthday = !PG_ARGISNULL(3);
	DateADT		birthday = has_birthday ? PG_GETARG_DATEADT(3) : 0;
	char	   *referred_by = arg_text_opt(fcinfo, 4);
	Program    *p;

	if (has_birthday && DATE_NOT_FINITE(birthday))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("birthday must be a finite date")));
	if (referred_by != NULL && referred_by[0] == '\0')
		referred_by = NULL;
	if (referred_by != NULL)
		check_key(referred_by, "referred_by");
	p = op_begin(prog);
	merchant_role_program(p);
	member_enroll(p, member, at, has_birthday, birthday, referred_by);
	op_end(0);
	PG_RETURN_VOID();
}

/* Purchases of the member in [at - window, at), for each rule that asks. */
static int32 *
orders_before(Program *p, const char *member, TimestampTz at)
{
	int32	   *counts = palloc0(sizeof(int32) * Max(p->nrules, 1));

	for (int i = 0; i < p->nrules; i++)
	{
		Rule	   *r = &p->rules[i];
		Interval	back;
		Datum		args[4];
		bool		isnull;

		if (r->min_orders == 0 || !rule_in_force(r, at))
			continue;
		back.month = -r->orders_window.month;
		back.day = -r->orders_window.day;
		back.time = -r->orders_window.time;
		args[0] = Int32GetDatum(p->id);
		args[1] = CStringGetTextDatum(member);
		args[2] = TimestampTzGetDatum(local_add_interval(p->tz, at, &back));
		args[3] = TimestampTzGetDatum(at);
		stmt_exec(ST_ORDERS_IN_WINDOW, args, NULL, false, 1, SPI_OK_SELECT);
		counts[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return counts;
}

/*
 * The facts of a purchase at `at`: the member's tier in force then (for a
 * member not yet enrolled: the tier its signup points would give it), its
 * birthday month, whether this is its first purchase, its recent orders.
 */
static void
facts_fill(Program *p, Account *a, const Receipt *rc, TimestampTz at, const char *merchant,
		   EarnFacts *f)
{
	TierState	st;
	TierStep   *steps;

	memset(f, 0, sizeof(EarnFacts));
	f->merchant = merchant;
	f->amount = rc->total;
	f->category = rc->n == 1 ? rc->lines[0].category : NULL;
	f->nitems = rc->n;
	f->items = rc->lines;
	f->at = at;
	local_time(p->tz, at, &f->local);
	tier_at(p, a, at, &st, &steps);
	f->tier = st.tier;
	if (!a->found && p->ntiers > 1 && p->tier_basis == BASIS_POINTS)
	{
		int64		signup = signup_points(p, at, NULL);

		if (signup > 0)
			f->tier = Max(f->tier, tier_for_value(p, num_int64(signup)));
	}
	f->first_purchase = !a->found || a->purchases == 0;
	if (a->found && a->has_birthday)
	{
		int			y,
					m,
					d;

		j2date(a->birthday + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		f->birthday_month = m;
	}
	if (p->any_min_orders)
		f->orders_before = a->found ? orders_before(p, a->member, at)
			: palloc0(sizeof(int32) * Max(p->nrules, 1));
	campaign_facts(p, a, f);
}

/*
 * {"base": n, "rate": "code", "tier": n, "rules": {"code": n, ...}} for
 * rule_stats; a receipt (earn_order) has "rates": {"code": base points of
 * its lines at that rate, ...} instead of "rate", and its "lines" with
 * their weights k (refunds of the receipt read them).
 */
static char *
lines_json(Program *p, EarnResult *r, const Receipt *rc)
{
	StringInfoData s;
	int64		tier = 0;
	bool		first = true;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"base\": " INT64_FORMAT, r->lines[0].points);
	if (!rc->is_receipt && r->rate_rule >= 0)
	{
		appendStringInfoString(&s, ", \"rate\": ");
		escape_json(&s, p->rules[r->rate_rule].code);
	}
	if (rc->is_receipt)
	{
		bool		any = false;

		for (int i = 0; i < p->nrules; i++)
		{
			bool		used = false;

			for (int j = 0; j < rc->n; j++)
				used |= r->item_rate[j] == i;
			if (!used)
				continue;
			appendStringInfoString(&s, any ? ", " : ", \"rates\": {");
			any = true;
			escape_json(&s, p->rules[i].code);
			appendStringInfo(&s, ": " INT64_FORMAT, r->rate_points[i]);
		}
		if (any)
			appendStringInfoChar(&s, '}');
	}
	for (int i = 1; i < r->nlines; i++)
		if (r->lines[i].rule < 0)
			tier += r->lines[i].points;
	if (tier != 0)
		appendStringInfo(&s, ", \"tier\": " INT64_FORMAT, tier);
	for (int i = 1; i < r->nlines; i++)
	{
		if (r->lines[i].rule < 0)
			continue;
		appendStringInfoString(&s, first ? ", \"rules\": {" : ", ");
		first = false;
		escape_json(&s, r->lines[i].source);
		appendStringInfo(&s, ": " INT64_FORMAT, r->lines[i].points);
	}
	if (!first)
		appendStringInfoChar(&s, '}');
	if (rc->is_receipt)
		receipt_json(&s, rc->lines, rc->n, r->item_weight);
	appendStringInfoChar(&s, '}');
	return s.data;
}

/*
 * One purchase (a receipt; earn() is a receipt of one line): lock or enrol
 * the member, replay by ref, the facts, calc_earn(), one credit (ledger row
 * + lot + account), the referral payout on the first purchase.  Connected
 * to SPI.  Returns the points credited (a replay returns the first call's).
 */
int64
op_earn_receipt(Program *p, const char *member, const Receipt *rc, const char *ref, TimestampTz at,
				const char *merchant)
{
	Account		a,
				referrer;
	PriorOp		call = {.kind = "earn", .amount = rc->total,
						.category = rc->n == 1 ? rc->lines[0].category : NULL,
						.lines = rc->is_receipt ? receipt_canonical(rc->lines, rc->n) : NULL,
						.merchant = merchant},
				prior;
	EarnFacts	f;
	EarnResult	res;
	Credit		c = {0};
	bool		first_purchase;

	member_get_or_enroll(p, member, at, &a, &referrer);

	if (op_replayed(p, member, ref, &call, SAME_AMOUNT | SAME_CATEGORY | SAME_LINES | SAME_MERCHANT,
					rc->is_receipt ? "earn_order" : "earn", &prior))
		return prior.result;

	facts_fill(p, &a, rc, at, merchant, &f);
	calc_earn(p, &f, &res);
	campaign_apply(p, &a, &f, &res, true);
	first_purchase = a.purchases == 0;

	c.kind = "earn";
	c.points = res.total;
	c.result = res.total;
	c.at = at;
	c.ref = ref;
	c.amount = rc->total;
	c.category = call.category;
	c.merchant = merchant;
	c.detail = lines_json(p, &res, rc);
	c.is_purchase = true;
	c.qualifies = true;
	c.is_earning = true;
	credit_write(p, &a, &c);

	/* referral: the referrer is paid on the referee's first purchase */
	if (first_purchase && a.referred_by != NULL && !a.referral_paid)
		referral_pay(p, &a, &referrer, res.total, at);
	return res.total;
}

/* A purchase of one line: earn(), and the orders trigger. */
int64
op_earn(Program *p, const char *member, Numeric amount, const char *ref,
		TimestampTz at, const char *category, const char *merchant)
{
	ReceiptLine line = {.key = "1", .category = category, .amount = amount};
	Receipt		rc = {.n = 1, .lines = &line, .total = amount, .is_receipt = false};

	return op_earn_receipt(p, member, &rc, ref, at, merchant);
}

/* The lines argument of earn_order / quote_order, and their total. */
static void
receipt_arg(FunctionCallInfo fcinfo, int n, Receipt *rc)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lines must not be NULL")));
	rc->lines = receipt_parse(PG_GETARG_JSONB_P(n), true, &rc->n);
	rc->total = num_int64(0);
	for (int i = 0; i < rc->n; i++)
		rc->total = num_add(rc->total, rc->lines[i].amount);
	rc->is_receipt = true;
}

/* quote()'s rows: one per line of the explanation, summing to the points. */
static void
quote_rows(Tuplestorestate *ts, TupleDesc td, const EarnResult *res)
{
	for (int i = 0; i < res->nlines; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(res->lines[i].source);
		values[1] = Int64GetDatum(res->lines[i].points);
		tuplestore_putvalues(ts, td, values, nulls);
	}
}

Datum
loyalty_earn(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "member", 3);
	Numeric		amount = arg_amount(fcinfo, 2, "amount");
	char	   *category = arg_text_opt(fcinfo, 5);
	const char *merchant = arg_text_opt(fcinfo, 6);
	Program    *p = op_begin(o.prog);

	merchant = merchant_resolve(p, merchant);
	PG_RETURN_INT64(op_end(op_earn(p, o.member, amount, o.ref, o.at, category, merchant)));
}

Datum
loyalty_quote(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	Numeric		amount = arg_amount(fcinfo, 2, "amount");
	TimestampTz at = arg_at(fcinfo, 3);
	char	   *category = arg_text_opt(fcinfo, 4);
	const char *merchant = arg_text_opt(fcinfo, 5);
	Program    *p;
	Account		a;
	EarnFacts	f;
	EarnResult	res;
	TupleDesc	td;
	Tuplestorestate *ts;

	ReceiptLine line = {.key = "1", .category = category, .amount = amount};
	Receipt		rc = {.n = 1, .lines = &line, .total = amount, .is_receipt = false};

	ts = srf_begin(fcinfo, &td);
	p = op_begin(prog);
	merchant = merchant_resolve(p, merchant);
	account_peek(p, member, &a);
	facts_fill(p, &a, &rc, at, merchant, &f);
	calc_earn(p, &f, &res);
	campaign_apply(p, &a, &f, &res, false);
	quote_rows(ts, td, &res);
	op_end(0);
	return (Datum) 0;
}

Datum
loyalty_earn_order(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "member", 3);
	Receipt		rc;

	const char *merchant = arg_text_opt(fcinfo, 5);
	Program    *p;

	receipt_arg(fcinfo, 2, &rc);
	p = op_begin(o.prog);
	merchant = merchant_resolve(p, merchant);
	PG_RETURN_INT64(op_end(op_earn_receipt(p, o.member, &rc, o.ref, o.at, merchant)));
}

Datum
loyalty_quote_order(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	TimestampTz at = arg_at(fcinfo, 3);
	Receipt		rc;
	Program    *p;
	Account		a;
	EarnFacts	f;
	EarnResult	res;
	TupleDesc	td;
	Tuplestorestate *ts;

	const char *merchant = arg_text_opt(fcinfo, 4);

	receipt_arg(fcinfo, 2, &rc);
	ts = srf_begin(fcinfo, &td);
	p = op_begin(prog);
	merchant = merchant_resolve(p, merchant);
	account_peek(p, member, &a);
	facts_fill(p, &a, &rc, at, merchant, &f);
	calc_earn(p, &f, &res);
	campaign_apply(p, &a, &f, &res, false);
	quote_rows(ts, td, &res);
	op_end(0);
	return (Datum) 0;
}
