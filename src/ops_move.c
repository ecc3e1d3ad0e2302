/*
 * ops_move.c — refund and transfer.
 *
 * refund: the clawback is cumulative per order, so refunding in pieces
 * claws back exactly what one full refund would:
 *     clawed_total(after) = round_half_up(points * refunded_total / amount)
 * and this call claws clawed_total(after) - clawed_total(before).  It takes
 * from the purchase's own lot first (pending or not: a refund while pending
 * just cancels them), then other living lots first-to-expire first
 * (available before pending), and what is still missing becomes debt, which
 * later credits pay first (lots.c).  The refund counts for tiers at the
 * purchase's time (qual_at), so qualifying values shrink in that window.
 *
 * transfer: locks both members in one sorted statement (account.c), spends
 * the sender's lots FIFO and gives the recipient lots with the same expiry
 * dates (available at once).  Both ledger rows carry the same ref.
 */
#include "account.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(loyalty_refund);
PG_FUNCTION_INFO_V1(loyalty_transfer);

static SPIPlanPtr plan_purchase = NULL;
static SPIPlanPtr plan_refunded = NULL;
static SPIPlanPtr plan_lots_in = NULL;
static SPIPlanPtr plan_lots_in_v0 = NULL;

static bool
str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

Datum
loyalty_refund(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_text(fcinfo, 1, "member");
	char	   *original_ref = arg_text(fcinfo, 2, "original_ref");
	Numeric		amount = arg_amount(fcinfo, 3, "amount");
	char	   *ref = arg_ref(fcinfo, 4, "ref");
	TimestampTz at = arg_at(fcinfo, 5);
	Program    *p;
	Account		a;
	PriorOp		op;
	Datum		args[6];
	Oid			types[6] = {INT4OID, TEXTOID, TEXTOID, NUMERICOID, INT8OID, INT8OID};
	HeapTuple	t;
	TupleDesc	td;
	bool		isnull;
	int64		lot_id,
				points,
				clawed_before,
				clawed_after,
				claw,
				taken;
	Numeric		paid,
				refunded,
				left,
				refunded_after;
	TimestampTz earned_at;
	LedgerRow	r = {0};

	ly_spi_connect();
	p = program_get(prog);
	require_member(p, member, &a);
	prior_op(p, member, ref, &op);
	if (op.found)
	{
		if (strcmp(op.kind, "refund") == 0 && str_eq(op.original_ref, original_ref) &&
			op.amount != NULL && num_eq(op.amount, amount))
		{
			SPI_finish();
			PG_RETURN_INT64(op.result);
		}
		ref_reused(ref, member, &op, "refund");
	}

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(original_ref);
	plan_get(&plan_purchase,
			 "SELECT id, points, amount, refunded, clawed_back, earned_at FROM loyalty.lot "
			 "WHERE program_id = $1 AND member = $2 AND ref = $3 AND source = 'earn'",
			 3, types);
	if (SPI_execute_plan(plan_purchase, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading purchase failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_ORIGINAL),
				 errmsg("unknown original_ref \"%s\" for member \"%s\" in program \"%s\"",
						original_ref, member, p->code),
				 errhint("original_ref is the ref of the member's earn() call.")));
	t = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	lot_id = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
	points = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
	paid = DatumGetNumericCopy(SPI_getbinval(t, td, 3, &isnull));
	refunded = DatumGetNumericCopy(SPI_getbinval(t, td, 4, &isnull));
	clawed_before = DatumGetInt64(SPI_getbinval(t, td, 5, &isnull));
	earned_at = DatumGetTimestampTz(SPI_getbinval(t, td, 6, &isnull));

	left = num_sub(paid, refunded);
	if (num_cmp(amount, left) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_OVER_REFUND),
				 errmsg("refund of %s is more than the %s left of order \"%s\"",
						num_to_cstring(amount), num_to_cstring(left), original_ref),
				 errdetail("The order was %s; %s has been refunded already.",
						   num_to_cstring(paid), num_to_cstring(refunded))));

	refunded_after = num_add(refunded, amount);
	clawed_after = num_round_div(num_mul(num_int64(points), refunded_after), paid, ROUND_HALF_UP);
	claw = Max(clawed_after - clawed_before, 0);
	taken = claw > 0 ? lots_take(p, member, at, claw, lot_id, true, NULL, NULL) : 0;

	args[3] = NumericGetDatum(amount);
	args[4] = Int64GetDatum(claw);
	args[5] = Int64GetDatum(claw - taken);
	args[2] = Int64GetDatum(lot_id);
	plan_get(&plan_refunded,
			 "WITH l AS (UPDATE loyalty.lot SET refunded = refunded + $4, "
			 "                                  clawed_back = clawed_back + $5 "
			 "           WHERE program_id = $1 AND member = $2 AND id = $3) "
			 "UPDATE loyalty.account SET debt = debt + $6 "
			 "WHERE program_id = $1 AND member = $2",
			 6, (Oid[]) {INT4OID, TEXTOID, INT8OID, NUMERICOID, INT8OID, INT8OID});
	if (SPI_execute_plan(plan_refunded, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "loyalty: recording refund failed");

	r.kind = "refund";
	r.points = -claw;
	r.at = at;
	r.ref = ref;
	r.result = claw;
	r.amount = amount;
	r.original_ref = original_ref;
	r.has_qual = true;
	r.qual_at = earned_at;
	r.qual_points = -claw;
	r.qual_spend = num_sub(num_int64(0), amount);
	r.qual_orders = num_cmp(refunded_after, paid) == 0 ? -1 : 0;
	ledger_write(p, member, &r);

	SPI_finish();
	PG_RETURN_INT64(claw);
}

Datum
loyalty_transfer(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *from = arg_text(fcinfo, 1, "from_member");
	char	   *to = arg_text(fcinfo, 2, "to_member");
	int64		points = arg_points(fcinfo, 3, "points");
	char	   *ref = arg_ref(fcinfo, 4, "ref");
	TimestampTz at = arg_at(fcinfo, 5);
	Program    *p;
	Account		af,
				at_;
	PriorOp		op;
	int64		avail;
	LotTake    *taken;
	int			n;
	Datum	   *takes,
			   *expires,
			   *earned;
	bool	   *exp_nulls;
	int			dims[1];
	int			lbs[1] = {1};
	Datum		args[7];
	Oid			types[7] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8ARRAYOID,
	TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};
	LedgerRow	r = {0};

	if (strcmp(from, to) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("member \"%s\" cannot transfer points to itself", from)));

	ly_spi_connect();
	p = program_get(prog);
	if (!account_peek(p, from, &af))
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_MEMBER),
				 errmsg("unknown member \"%s\" in program \"%s\"", from, p->code)));
	if (!account_peek(p, to, &at_))
		account_enroll(p, to, at, false, 0, NULL);
	accounts_lock_pair(p, from, to, &af, &at_);
	if (!af.found || !at_.found)
		elog(ERROR, "loyalty: transfer members vanished");

	prior_op(p, from, ref, &op);
	if (op.found)
	{
		if (strcmp(op.kind, "transfer_out") == 0 && op.points == -points &&
			str_eq(op.counterparty, to))
		{
			SPI_finish();
			PG_RETURN_VOID();
		}
		ref_reused(ref, from, &op, "transfer");
	}
	/* the recipient's ref must be free too (its own operations share the namespace) */
	prior_op(p, to, ref, &op);
	if (op.found)
		ref_reused(ref, to, &op, "transfer");

	avail = available_balance(p, from, at, af.debt, NULL);
	if (points > avail)
		ereport(ERROR,
				(errcode(ERRCODE_LY_INSUFFICIENT),
				 errmsg("member \"%s\" has " INT64_FORMAT " points available, not " INT64_FORMAT,
						from, avail, points),
				 errdetail("Program \"%s\"; pending and expired points cannot be transferred.", p->code)));
	if (lots_take(p, from, at, points, 0, false, &taken, &n) != points)
		elog(ERROR, "loyalty: lots of member \"%s\" hold less than the balance said", from);

	/* the recipient's lots keep the expiry dates (and ages) of the sender's */
	takes = palloc(sizeof(Datum) * n);
	expires = palloc(sizeof(Datum) * n);
	earned = palloc(sizeof(Datum) * n);
	exp_nulls = palloc(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		takes[i] = Int64GetDatum(taken[i].take);
		expires[i] = TimestampTzGetDatum(taken[i].expires_at);
		exp_nulls[i] = !taken[i].has_expiry;
		earned[i] = TimestampTzGetDatum(taken[i].earned_at);
	}
	dims[0] = n;
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(to);
	args[2] = TimestampTzGetDatum(at);
	args[3] = CStringGetTextDatum(ref);
	args[4] = PointerGetDatum(construct_array(takes, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[5] = PointerGetDatum(construct_md_array(expires, exp_nulls, 1, dims, lbs, TIMESTAMPTZOID,
												 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[6] = PointerGetDatum(construct_array(earned, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	check_credit_range(&at_, points);
#define Q_LOTS_IN \
	"INSERT INTO loyalty.lot (program_id, member, earned_at, available_at, expires_at, " \
	"                         points, remaining, source, ref) " \
	"SELECT $1, $2, t.earned, $3, t.expires, t.take, t.take, 'transfer_in', $4 " \
	"FROM unnest($5::int8[], $6::timestamptz[], $7::timestamptz[]) AS t(take, expires, earned) "
	if (at_.credited_column)
	{
		plan_get(&plan_lots_in,
				 "WITH l AS (" Q_LOTS_IN "RETURNING points) "
				 "UPDATE loyalty.account SET credited = credited + (SELECT sum(points) FROM l)::int8 "
				 "WHERE program_id = $1 AND member = $2",
				 7, types);
		if (SPI_execute_plan(plan_lots_in, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "loyalty: writing transferred lots failed");
	}
	else
	{
		/* a database still on the 0.1.0 schema (ALTER EXTENSION ... UPDATE pending) */
		plan_get(&plan_lots_in_v0, Q_LOTS_IN, 7, types);
		if (SPI_execute_plan(plan_lots_in_v0, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "loyalty: writing transferred lots failed");
	}

	r.kind = "transfer_out";
	r.points = -points;
	r.at = at;
	r.ref = ref;
	r.counterparty = to;
	ledger_write(p, from, &r);
	r.kind = "transfer_in";
	r.points = points;
	r.counterparty = from;
	ledger_write(p, to, &r);

	SPI_finish();
	PG_RETURN_VOID();
}
