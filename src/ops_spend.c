/*
 * ops_spend.c — redeem, redeem_value, adjust, balance, tier_of.
 */
#include "account.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(loyalty_redeem);
PG_FUNCTION_INFO_V1(loyalty_redeem_value);
PG_FUNCTION_INFO_V1(loyalty_adjust);
PG_FUNCTION_INFO_V1(loyalty_balance);
PG_FUNCTION_INFO_V1(loyalty_tier_of);

/* One debit ledger row (redeem, adjust); lots were consumed already. */
static void
debit_write(Program *p, const char *member, const char *kind, int64 points,
			TimestampTz at, const char *ref, int64 result, const char *reason,
			Numeric amount)
{
	LedgerRow	r = {0};

	r.kind = kind;
	r.points = -points;
	r.at = at;
	r.ref = ref;
	r.result = result;
	r.reason = reason;
	r.amount = amount;
	ledger_write(p, member, &r);
}

static void
not_enough(Program *p, const char *member, int64 available, int64 wanted)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_INSUFFICIENT),
			 errmsg("member \"%s\" has " INT64_FORMAT " points available, not " INT64_FORMAT,
					member, available, wanted),
			 errdetail("Program \"%s\"; pending and expired points cannot be spent.", p->code)));
}

/* Spend `points` of a locked member; returns the new available balance. */
static int64
spend(Program *p, Account *a, const char *kind, int64 points, TimestampTz at,
	  const char *ref, const char *reason, Numeric value)
{
	int64		avail = available_balance(p, a->member, at, a->debt, NULL);

	if (points > avail)
		not_enough(p, a->member, avail, points);
	lots_consume(p, a->member, at, points);
	debit_write(p, a->member, kind, points, at, ref, avail - points, reason, value);
	return avail - points;
}

Datum
loyalty_redeem(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_text(fcinfo, 1, "member");
	int64		points = arg_points(fcinfo, 2, "points");
	char	   *ref = arg_ref(fcinfo, 3, "ref");
	TimestampTz at = arg_at(fcinfo, 4);
	Program    *p;
	Account		a;
	PriorOp		op;
	int64		result;

	ly_spi_connect();
	p = program_get(prog);
	require_member(p, member, &a);
	prior_op(p, member, ref, &op);
	if (op.found)
	{
		if (strcmp(op.kind, "redeem") == 0 && op.points == -points && op.amount == NULL)
		{
			SPI_finish();
			PG_RETURN_INT64(op.result);
		}
		ref_reused(ref, member, &op, "redeem");
	}
	result = spend(p, &a, "redeem", points, at, ref, NULL, NULL);
	SPI_finish();
	PG_RETURN_INT64(result);
}

Datum
loyalty_redeem_value(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_text(fcinfo, 1, "member");
	Numeric		value = arg_amount(fcinfo, 2, "value");
	char	   *ref = arg_ref(fcinfo, 3, "ref");
	TimestampTz at = arg_at(fcinfo, 4);
	Program    *p;
	Account		a;
	PriorOp		op;
	Numeric		rate;
	int64		points;

	ly_spi_connect();
	p = program_get(prog);
	require_member(p, member, &a);
	prior_op(p, member, ref, &op);
	if (op.found)
	{
		if (strcmp(op.kind, "redeem") == 0 && op.amount != NULL && num_eq(op.amount, value))
		{
			SPI_finish();
			PG_RETURN_INT64(-op.points);
		}
		ref_reused(ref, member, &op, "redeem_value");
	}
	rate = (a.tier >= 0) ? p->tiers[a.tier].points_per_value : p->points_per_value;
	points = num_round_div(num_mul(value, rate), num_one(), ROUND_CEIL);
	if (points <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value %s is worth no points", num_to_cstring(value))));
	spend(p, &a, "redeem", points, at, ref, NULL, value);
	SPI_finish();
	PG_RETURN_INT64(points);
}

Datum
loyalty_adjust(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_text(fcinfo, 1, "member");
	int64		points;
	char	   *reason = arg_text(fcinfo, 3, "reason");
	char	   *ref = arg_ref(fcinfo, 4, "ref");
	TimestampTz at = arg_at(fcinfo, 5);
	Program    *p;
	Account		a;
	PriorOp		op;
	int64		result;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("points must not be NULL")));
	points = PG_GETARG_INT64(2);
	if (points == 0 || points == PG_INT64_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("points of an adjustment must not be " INT64_FORMAT, points)));

	ly_spi_connect();
	p = program_get(prog);
	require_member(p, member, &a);
	prior_op(p, member, ref, &op);
	if (op.found)
	{
		if (strcmp(op.kind, "adjust") == 0 && op.points == points &&
			op.reason && strcmp(op.reason, reason) == 0)
		{
			SPI_finish();
			PG_RETURN_INT64(op.result);
		}
		ref_reused(ref, member, &op, "adjust");
	}
	if (points < 0)
		result = spend(p, &a, "adjust", -points, at, ref, reason, NULL);
	else
	{
		Credit		c = {0};
		int64		before = available_balance(p, member, at, a.debt, NULL);

		c.kind = "adjust";
		c.points = points;
		c.at = at;
		c.ref = ref;
		c.reason = reason;
		/* the new balance: an adjustment is available at once (not pending) */
		if (pg_add_s64_overflow(before, points, &c.result))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("adjusting member \"%s\" by %lld points is out of range",
							member, (long long) points),
					 errdetail("Its balance is %lld points; a balance must fit in bigint.",
							   (long long) before)));
		credit_write(p, &a, &c);
		result = c.result;
	}
	SPI_finish();
	PG_RETURN_INT64(result);
}

Datum
loyalty_balance(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_text(fcinfo, 1, "member");
	TimestampTz at = arg_at(fcinfo, 2);
	Program    *p;
	Account		a;
	int64		result = 0;

	ly_spi_connect();
	p = program_get(prog);
	if (account_peek(p, member, &a))
		result = lots_balance(p, member, at, a.debt, NULL, true);
	SPI_finish();
	PG_RETURN_INT64(result);
}

Datum
loyalty_tier_of(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_text(fcinfo, 1, "member");
	Program    *p;
	Account		a;
	int			tier = -1;

	ly_spi_connect();
	p = program_get(prog);
	if (account_peek(p, member, &a))
		tier = a.tier;
	SPI_finish();
	/* the program lives in the configuration cache, beyond SPI_finish */
	if (tier < 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(p->tiers[tier].code));
}
