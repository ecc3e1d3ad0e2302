/*
 * ops_spend.c — redeem, redeem_value, adjust, balance, tier_of.
 *
 * Spending at `at` may use the points of lots usable at `at` (available
 * and not expired then), first to expire first, minus the debt: what
 * balance_projected() says.  Each returns the balance at its own `at`
 * right after the operation (what balance() then says).
 */
#include "lots.h"
#include "args.h"
#include "merchants.h"
#include "numutil.h"
#include "ops.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(loyalty_redeem);
PG_FUNCTION_INFO_V1(loyalty_redeem_value);
PG_FUNCTION_INFO_V1(loyalty_adjust);
PG_FUNCTION_INFO_V1(loyalty_balance);
PG_FUNCTION_INFO_V1(loyalty_tier_of);

static void
not_enough(Program *p, const char *member, int64 available, int64 wanted, TimestampTz at)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_INSUFFICIENT),
			 errmsg("member \"%s\" has " INT64_FORMAT " points available, not " INT64_FORMAT,
					cut(member), available, wanted),
			 errdetail("Program \"%s\", at %s; pending and expired points cannot be spent, "
					   "nor points spent or owed since.",
					   cut(p->code), timestamptz_to_str(at))));
}

/* The balance at `at` before an operation of the member at `at`. */
static int64
balance_before(Program *p, Account *a, TimestampTz at, const Balance *projected)
{
	if (account_is_latest(a, at))
		return projected->available;
	return balance_at(p, a, at);
}

/*
 * Spend `points` of a locked member at r->at (redeem, negative adjust,
 * redeem_reward): lots first to expire first, one debit row, the row `r`
 * describes (kind, at, ref and the rest; its points and result are set
 * here).  Returns the balance at r->at after it; the pieces of lots taken
 * through taken / ntaken when asked.
 */
int64
op_spend(Program *p, Account *a, LedgerRow *r, int64 points, LotPiece **taken, int *ntaken)
{
	Balance		b;

	balance_projected(p, a, r->at, &b);
	if (points > b.available)
		not_enough(p, a->member, b.available, points, r->at);
	r->result = balance_before(p, a, r->at, &b) - points;
	if (lots_take(p, a, r->at, points, 0, taken, ntaken) != points)
		elog(ERROR, "loyalty: lots of member \"%s\" hold less than the balance said", a->member);
	r->points = -points;
	ledger_write(p, a, r);
	return r->result;
}

/* op_spend of a debit row of kind, ref, reason, value and merchant. */
static int64
spend(Program *p, Account *a, const char *kind, int64 points, TimestampTz at,
	  const char *ref, const char *reason, Numeric value, const char *merchant)
{
	LedgerRow	r = {0};

	r.merchant = merchant;
	r.kind = kind;
	r.at = at;
	r.ref = ref;
	r.reason = reason;
	r.amount = value;
	return op_spend(p, a, &r, points, NULL, NULL);
}

Datum
loyalty_redeem(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "member", 3);
	int64		points = arg_points(fcinfo, 2, "points");
	const char *merchant = arg_text_opt(fcinfo, 5);
	Program    *p;
	Account		a;
	PriorOp		call = {.kind = "redeem", .points = -points},
				prior;

	p = op_begin(o.prog);
	call.merchant = merchant = merchant_resolve(p, merchant);
	require_member(p, o.member, &a);
	if (op_replayed(p, o.member, o.ref, &call, SAME_POINTS | SAME_AMOUNT | SAME_MERCHANT,
					"redeem", &prior))
		PG_RETURN_INT64(op_end(prior.result));
	PG_RETURN_INT64(op_end(spend(p, &a, "redeem", points, o.at, o.ref, NULL, NULL, merchant)));
}

Datum
loyalty_redeem_value(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "member", 3);
	Numeric		value = arg_amount(fcinfo, 2, "value");
	const char *merchant = arg_text_opt(fcinfo, 5);
	Program    *p;
	Account		a;
	PriorOp		call = {.kind = "redeem", .amount = value},
				prior;
	Numeric		rate;
	int64		points;
	TierState	st;
	TierStep   *steps;

	p = op_begin(o.prog);
	call.merchant = merchant = merchant_resolve(p, merchant);
	require_member(p, o.member, &a);
	if (op_replayed(p, o.member, o.ref, &call, SAME_AMOUNT | SAME_MERCHANT, "redeem_value", &prior))
		PG_RETURN_INT64(op_end(-prior.points));
	/* the rate of the tier in force at the redemption's time */
	tier_at(p, &a, o.at, &st, &steps);
	rate = (st.tier >= 0) ? p->tiers[st.tier].points_per_value : p->points_per_value;
	points = num_round_div(num_mul(value, rate), num_one(), ROUND_CEIL);
	if (points <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value %s is worth no points", cut(num_to_cstring(value)))));
	spend(p, &a, "redeem", points, o.at, o.ref, NULL, value, merchant);
	PG_RETURN_INT64(op_end(points));
}

Datum
loyalty_adjust(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "member", 4);
	int64		points;
	char	   *reason = arg_text(fcinfo, 3, "reason");
	Program    *p;
	Account		a;
	PriorOp		call = {.kind = "adjust", .reason = reason},
				prior;
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

	call.points = points;
	p = op_begin(o.prog);
	merchant_role_only(p, NULL, "adjust points");
	require_member(p, o.member, &a);
	if (op_replayed(p, o.member, o.ref, &call, SAME_POINTS | SAME_REASON, "adjust", &prior))
		PG_RETURN_INT64(op_end(prior.result));
	if (points < 0)
		result = spend(p, &a, "adjust", -points, o.at, o.ref, reason, NULL, NULL);
	else
	{
		Credit		c = {0};
		Balance		b;
		int64		before;

		balance_projected(p, &a, o.at, &b);
		before = balance_before(p, &a, o.at, &b);
		c.kind = "adjust";
		c.points = points;
		c.at = o.at;
		c.ref = o.ref;
		c.reason = reason;
		/* the new balance: an adjustment is available at once (not pending) */
		if (pg_add_s64_overflow(before, points, &c.result))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("adjusting member \"%s\" by " INT64_FORMAT " points is out of range",
							cut(o.member), points),
					 errdetail("Its balance is " INT64_FORMAT " points; a balance must fit in bigint.",
							   before)));
		credit_write(p, &a, &c);
		result = c.result;
	}
	PG_RETURN_INT64(op_end(result));
}

Datum
loyalty_balance(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	TimestampTz at = arg_at(fcinfo, 2);
	Program    *p;
	Account		a;

	p = op_begin(prog);
	merchant_role_program(p);
	account_peek(p, member, &a);
	PG_RETURN_INT64(op_end(balance_at(p, &a, at)));
}

/* tier_of(program, member, at): the tier in force at `at` (tiers.c). */
Datum
loyalty_tier_of(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	TimestampTz at = PG_NARGS() > 2 ? arg_at(fcinfo, 2) : GetCurrentTransactionStartTimestamp();
	Program    *p;
	Account		a;
	TierState	st;
	TierStep   *steps;
	int			tier = -1;

	p = op_begin(prog);
	merchant_role_program(p);
	if (account_peek(p, member, &a))
	{
		tier_at(p, &a, at, &st, &steps);
		tier = st.tier;
	}
	SPI_finish();
	/* the program lives in the configuration cache, beyond SPI_finish */
	if (tier < 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(p->tiers[tier].code));
}
