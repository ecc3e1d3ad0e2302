/*
 * ops_move.c — refund and transfer.
 *
 * refund: the clawback is cumulative per order, so refunding in pieces
 * claws back exactly what one full refund would:
 *     clawed_total(after) = round_half_up(points * refunded_total / amount)
 * and this call claws clawed_total(after) - clawed_total(before).  It takes
 *  1. from the purchase's own lot: while the lot is pending at the refund's
 *     time this just cancels pending points (and the debt they were to
 *     repay is owed again); once the lot has expired, the points are taken
 *     from the expiry (a correction row), never charged again;
 *  2. then from the member's other lots usable at the refund's time, first
 *     to expire first;
 *  3. what is still missing becomes debt, reserved against lots still
 *     pending, which later credits repay first (lots.c).
 * The refund counts for tiers at the purchase's time (qual_at), so
 * qualifying values shrink in that window.  A refund of the referee's first
 * purchase (the one that paid its referrer) also claws the referrer's payout
 * back in the same proportion, cumulative, the same three ways, with a
 * 'refund' row of the referrer (reason 'referral clawback', counterparty the
 * referee, original_ref the order): a bought-and-returned first order pays
 * no one.
 *
 * transfer: locks both members in member order (account.c), spends
 * the sender's lots first to expire first and gives the recipient lots with
 * the same expiry dates (available at once), which repay the recipient's
 * debt first.  Both ledger rows carry the same ref.
 */
#include "enroll.h"
#include "calc.h"
#include "args.h"
#include "numutil.h"
#include "statements.h"

#include "arrays.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/builtins.h"

#include "merchants.h"
#include "ops.h"
#include "receipt.h"

#include "utils/fmgrprotos.h"
#include "utils/json.h"

PG_FUNCTION_INFO_V1(loyalty_refund);
PG_FUNCTION_INFO_V1(loyalty_refund_lines);
PG_FUNCTION_INFO_V1(loyalty_transfer);

static bool
str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The purchase lot a refund is about. */
typedef struct Purchase
{
	int64		id;
	int64		points;
	Numeric		amount;
	Numeric		refunded;
	int64		clawed_back;
	TimestampTz earned_at;
	TimestampTz available_at;
	bool		has_expiry;
	TimestampTz expires_at;
	int64		remaining;
	int64		expired;
	int64		repaid;
} Purchase;

/* $4: the (locked) owner's account.roll_until */

/* The first row of the last SPI result, LOT_COLUMNS, into *o. */
static void
lot_from_row(Purchase *o)
{
	HeapTuple	t = SPI_tuptable->vals[0];
	TupleDesc	td = SPI_tuptable->tupdesc;
	bool		isnull;
	Datum		d;

	o->id = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
	o->points = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
	d = SPI_getbinval(t, td, 3, &isnull);
	o->amount = isnull ? NULL : DatumGetNumericCopy(d);
	o->refunded = DatumGetNumericCopy(SPI_getbinval(t, td, 4, &isnull));
	o->clawed_back = DatumGetInt64(SPI_getbinval(t, td, 5, &isnull));
	o->earned_at = DatumGetTimestampTz(SPI_getbinval(t, td, 6, &isnull));
	o->available_at = DatumGetTimestampTz(SPI_getbinval(t, td, 7, &isnull));
	d = SPI_getbinval(t, td, 8, &isnull);
	o->has_expiry = !isnull;
	o->expires_at = isnull ? 0 : DatumGetTimestampTz(d);
	o->remaining = DatumGetInt64(SPI_getbinval(t, td, 9, &isnull));
	o->expired = DatumGetInt64(SPI_getbinval(t, td, 10, &isnull));
	o->repaid = DatumGetInt64(SPI_getbinval(t, td, 11, &isnull));
}

static bool
purchase_get(Program *p, const Account *a, const char *ref, Purchase *o)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = CStringGetTextDatum(ref);
	args[3] = TimestampTzGetDatum(a->roll_until);
	nulls[3] = a->has_roll_until ? ' ' : 'n';
	stmt_exec(ST_PURCHASE_LOT, args, nulls, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	lot_from_row(o);
	return true;
}

/*
 * Is `ref` the member's first purchase (the one that paid its referrer)?
 * The first earn row written: the payout is made by the first earn() call.
 */
static bool
is_first_purchase(Program *p, const char *member, const char *ref)
{
	Datum		args[2];
	char	   *first;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	stmt_exec(ST_FIRST_PURCHASE, args, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	first = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return str_eq(first, ref);
}

/*
 * Whom a refund of the member's order `ref` must claw a referral payout
 * from: the member's paid referrer when `ref` is its first purchase, else
 * NULL.  Read with a new snapshot (not the caller's: an earn() earlier in
 * the same statement must be seen), before any lock is taken, so that both
 * members can be locked in member order.
 */
static char *
referrer_to_claw(Program *p, const char *member, const char *ref)
{
	Datum		args[2];
	char	   *by;
	bool		isnull;

	if (!p->any_referral)	/* no payout was ever made */
		return NULL;
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	stmt_exec(ST_REFERRER, args, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	by = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (by == NULL || strcmp(by, member) == 0 ||
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		return NULL;
	return is_first_purchase(p, member, ref) ? by : NULL;
}

/* The lot of the referral payout `referrer` received for `referee`. */
static bool
payout_get(Program *p, const Account *referrer, const char *referee, Purchase *o)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(referrer->member);
	args[2] = CStringGetTextDatum(referee);
	args[3] = TimestampTzGetDatum(referrer->roll_until);
	nulls[3] = referrer->has_roll_until ? ' ' : 'n';
	stmt_exec(ST_PAYOUT_LOT, args, nulls, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	lot_from_row(o);
	return true;
}

/*
 * Claw `claw` points back from the member's lot o (a purchase, or a
 * referral payout) at `at`, and record `refunded` more of its amount:
 *  1. from the lot itself while it lives at `at` (pending: cancels pending
 *     points, and the debt they were to repay is owed again; swept early:
 *     from the sweep, with a correction row), or from its expiry once it
 *     has expired (never charged twice);
 *  2. then from the member's other lots usable at `at`, first to expire
 *     first;
 *  3. the rest becomes debt, repaid by what the member holds.
 * The caller writes the ledger row (ledger_write); returns through
 * *pending_part how much of the claw was pending points.
 */
static void
claw_from_lot(Program *p, Account *a, Purchase *o, int64 claw, Numeric refunded,
			  TimestampTz at, int64 *pending_part)
{
	const char *member = a->member;
	int64		take_rem = 0,
				take_exp = 0,
				take_repaid = 0,
				from_expiry = 0,
				want = claw;

	*pending_part = 0;
	if (claw > 0)
	{
		if (!o->has_expiry || o->expires_at > at)
		{
			/* 1. the lot itself, living at the refund's time */
			bool		pending = o->available_at > at;

			take_rem = Min(o->remaining, want);
			want -= take_rem;
			if (o->expired > 0)	/* swept early: expires only after `at` */
			{
				take_exp = Min(o->expired, want);
				want -= take_exp;
			}
			if (pending)
			{
				take_repaid = Min(o->repaid, want);
				want -= take_repaid;
				a->debt += take_repaid;	/* the debt it was to repay is owed again */
				*pending_part = take_rem + take_exp + take_repaid;
			}
			if (take_exp > 0)
				lots_write_corrections(p, member, 1, &o->id, &take_exp, &o->expires_at, "correction");
		}
		else
		{
			/* 1'. the lot's points expired: take them from the expiry */
			if (o->remaining > 0)
			{
				lot_expire_now(p, member, o->id, o->expires_at, o->remaining);
				a->held -= o->remaining;
				o->expired += o->remaining;
				o->remaining = 0;
			}
			from_expiry = Min(o->expired, want);
			take_exp = from_expiry;
			want -= from_expiry;
			if (from_expiry > 0)
				lots_write_corrections(p, member, 1, &o->id, &from_expiry, &at, "refund");
		}
	}

	/* the lot first (before other lots are read: it may hold more) */
	{
		Datum		args[8];

		args[0] = Int32GetDatum(p->id);
		args[1] = CStringGetTextDatum(member);
		args[2] = Int64GetDatum(o->id);
		args[3] = NumericGetDatum(refunded);
		args[4] = Int64GetDatum(claw);
		args[5] = Int64GetDatum(take_rem);
		args[6] = Int64GetDatum(take_exp);
		args[7] = Int64GetDatum(take_repaid);
		stmt_exec(ST_LOT_REFUNDED, args, NULL, false, 0, SPI_OK_UPDATE);
		a->held -= take_rem;
	}

	/* 2. other lots usable at `at`, 3. debt, repaid by what the member holds */
	if (want > 0)
		a->debt += want - lots_take(p, a, at, want, o->id, NULL, NULL);
	debt_settle(p, a, at);
}

/*
 * The lines of the purchase a refund is about: a receipt's (earn_order),
 * with their weights and what earlier refunds took of each; a purchase of
 * earn() is one line "1" of weight 1.
 */
typedef struct RefundLines
{
	bool		receipt;
	int			n;
	char	  **key;
	Numeric    *amount;
	Numeric    *k;
	Numeric    *before;			/* refunded before this refund */
	Numeric    *take;			/* this refund */
	Numeric    *after;
} RefundLines;

static void
refund_lines_of(Program *p, const char *member, const char *original_ref, const Purchase *o,
				RefundLines *rl)
{
	Datum		args[3];
	bool		isnull;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(original_ref);
	stmt_exec(ST_RECEIPT_LINES, args, NULL, false, 0, SPI_OK_SELECT);
	rl->receipt = SPI_processed > 0;
	rl->n = rl->receipt ? (int) SPI_processed : 1;
	rl->key = palloc(sizeof(char *) * rl->n);
	rl->amount = palloc(sizeof(Numeric) * rl->n);
	rl->k = palloc(sizeof(Numeric) * rl->n);
	rl->before = palloc(sizeof(Numeric) * rl->n);
	rl->take = palloc(sizeof(Numeric) * rl->n);
	rl->after = palloc(sizeof(Numeric) * rl->n);
	for (int i = 0; i < rl->n; i++)
	{
		if (rl->receipt)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	td = SPI_tuptable->tupdesc;

			rl->key[i] = SPI_getvalue(t, td, 1);
			rl->amount[i] = DatumGetNumericCopy(SPI_getbinval(t, td, 2, &isnull));
			rl->k[i] = DatumGetNumericCopy(SPI_getbinval(t, td, 3, &isnull));
			rl->before[i] = DatumGetNumericCopy(SPI_getbinval(t, td, 4, &isnull));
		}
		else
		{
			rl->key[i] = "1";
			rl->amount[i] = o->amount;
			rl->k[i] = num_one();
			rl->before[i] = o->refunded;
		}
		rl->take[i] = num_int64(0);
	}
}

/* The largest number of decimals among the amounts (and the refund's). */
static int
amounts_scale(const RefundLines *rl, Numeric amount)
{
	int			scale = DatumGetInt32(DirectFunctionCall1(numeric_scale, NumericGetDatum(amount)));

	for (int i = 0; i < rl->n; i++)
		scale = Max(scale, DatumGetInt32(DirectFunctionCall1(numeric_scale,
															 NumericGetDatum(rl->amount[i]))));
	return scale;
}

/* , {"lines": [{"line": ..., "amount": ...}, ...]}: what this refund took of each line */
static char *
refund_detail(const RefundLines *rl)
{
	StringInfoData s;
	bool		first = true;

	initStringInfo(&s);
	appendStringInfoString(&s, "{\"lines\": [");
	for (int i = 0; i < rl->n; i++)
	{
		if (num_is_zero(rl->take[i]))
			continue;
		appendStringInfoString(&s, first ? "{\"line\": " : ", {\"line\": ");
		first = false;
		escape_json(&s, rl->key[i]);
		appendStringInfo(&s, ", \"amount\": %s}", num_to_cstring(rl->take[i]));
	}
	appendStringInfoString(&s, "]}");
	return s.data;
}

/*
 * A refund of `amount` of the member's purchase `original_ref` at `at`,
 * of the lines `named` (refund_lines) or spread over them (refund), after
 * the argument checks.  Returns the points clawed back by this call.
 */
static int64
refund_common(Program *p, const char *member, const char *original_ref, Numeric amount,
			  const ReceiptLine *named, int nnamed, const char *ref, TimestampTz at)
{
	Account		a,
				referrer;
	PriorOp		call = {.kind = "refund", .original_ref = original_ref, .amount = amount,
						.lines = named ? receipt_canonical(named, nnamed) : NULL},
				prior;
	RefundLines rl;
	Purchase	o;
	int64		claw,
				pending_part;
	Numeric		left,
				refunded_after;
	LedgerRow	r = {0};
	bool		with_referrer = false;

	/*
	 * A refund of the purchase that paid the member's referrer claws the
	 * payout back too: then both members are locked, in member order.
	 * Who referred a member, and which purchase came first, never change.
	 */
	{
		char	   *by = referrer_to_claw(p, member, original_ref);

		if (by != NULL)
		{
			accounts_lock_pair(p, member, by, &a, &referrer);
			if (!a.found)
				require_member(p, member, &a);	/* LY003 */
			with_referrer = referrer.found;
		}
		else
		{
			require_member(p, member, &a);
			/* the first purchase committed while we waited for the lock */
			if (a.referred_by != NULL && a.referral_paid && strcmp(a.referred_by, member) != 0 &&
				is_first_purchase(p, member, original_ref))
			{
				by = a.referred_by;
				accounts_lock_pair(p, member, by, &a, &referrer);
				with_referrer = referrer.found;
			}
		}
	}
	/* a refund is the original purchase's merchant's (SPEC §9, settlement) */
	r.merchant = op_merchant_of(p, member, original_ref);
	merchant_role_only(p, r.merchant, "refund purchases");
	if (op_replayed(p, member, ref, &call,
					SAME_ORIGINAL_REF | SAME_AMOUNT | (named ? SAME_LINES : 0),
					named ? "refund_lines" : "refund", &prior))
		return prior.result;
	if (!purchase_get(p, &a, original_ref, &o))
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_ORIGINAL),
				 errmsg("unknown original_ref \"%s\" for member \"%s\" in program \"%s\"",
						cut(original_ref), cut(member), cut(p->code)),
				 errhint("original_ref is the ref of the member's earn() call.")));

	/* what this refund takes of each line: the lines named, or spread */
	refund_lines_of(p, member, original_ref, &o, &rl);
	if (named != NULL)
	{
		for (int j = 0; j < nnamed; j++)
		{
			int			i = 0;
			Numeric		line_left;

			while (i < rl.n && strcmp(rl.key[i], named[j].key) != 0)
				i++;
			if (i == rl.n)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("order \"%s\" has no line \"%s\"", cut(original_ref), cut(named[j].key)),
						 errhint(rl.receipt ? "Name the lines as the receipt given to earn_order() did."
								 : "A purchase of earn() is one line, \"1\".")));
			line_left = num_sub(rl.amount[i], rl.before[i]);
			if (num_cmp(named[j].amount, line_left) > 0)
				ereport(ERROR,
						(errcode(ERRCODE_LY_OVER_REFUND),
						 errmsg("refund of %s is more than the %s left of line \"%s\" of order \"%s\"",
								cut(num_to_cstring(named[j].amount)), num_to_cstring(line_left),
								cut(named[j].key), cut(original_ref)),
						 errdetail("The line was %s; %s has been refunded already.",
								   num_to_cstring(rl.amount[i]), num_to_cstring(rl.before[i]))));
			rl.take[i] = named[j].amount;
		}
	}
	left = num_sub(o.amount, o.refunded);
	if (num_cmp(amount, left) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_OVER_REFUND),
				 errmsg("refund of %s is more than the %s left of order \"%s\"",
						cut(num_to_cstring(amount)), num_to_cstring(left), cut(original_ref)),
				 errdetail("The order was %s; %s has been refunded already.",
						   num_to_cstring(o.amount), num_to_cstring(o.refunded))));

	if (named == NULL && rl.receipt)
	{
		Numeric    *lefts = palloc(sizeof(Numeric) * rl.n);

		for (int i = 0; i < rl.n; i++)
			lefts[i] = num_sub(rl.amount[i], rl.before[i]);
		rl.take = calc_spread(amount, rl.n, lefts, amounts_scale(&rl, amount));
	}
	else if (named == NULL)
		rl.take[0] = amount;
	for (int i = 0; i < rl.n; i++)
		rl.after[i] = num_add(rl.before[i], rl.take[i]);
	refunded_after = num_add(o.refunded, amount);
	claw = rl.receipt
		? calc_receipt_clawback(o.points, rl.n, rl.amount, rl.k, rl.after, o.clawed_back)
		: calc_clawback(o.points, o.amount, refunded_after, o.clawed_back);
	claw_from_lot(p, &a, &o, claw, amount, at, &pending_part);

	r.kind = "refund";
	r.points = -claw;
	r.at = at;
	r.ref = ref;
	r.result = claw;
	r.amount = amount;
	r.original_ref = original_ref;
	r.has_qual = true;
	r.qual_at = o.earned_at;
	r.qual_points = -claw;
	r.qual_spend = num_sub(num_int64(0), amount);
	r.qual_orders = num_cmp(refunded_after, o.amount) == 0 ? -1 : 0;
	r.pending_points = -pending_part;
	r.pending_until = o.available_at;
	r.detail = (rl.receipt || named != NULL) ? refund_detail(&rl) : NULL;
	ledger_write(p, &a, &r);
	/* a refund of a purchase in a window an evaluation already judged */
	if (claw > 0)
		tier_reconcile(p, &a, o.earned_at);

	/*
	 * The referrer's payout, in the same proportion, cumulative: after all
	 * refunds of the order, round(payout x refunded / amount) is clawed.
	 */
	if (with_referrer && !num_is_zero(o.amount))
	{
		Purchase	po;

		if (payout_get(p, &referrer, member, &po))
		{
			int64		pclaw = rl.receipt
				? calc_receipt_clawback(po.points, rl.n, rl.amount, rl.k, rl.after, po.clawed_back)
				: calc_clawback(po.points, o.amount, refunded_after, po.clawed_back);

			if (pclaw > 0)
			{
				LedgerRow	rr = {0};

				claw_from_lot(p, &referrer, &po, pclaw, num_int64(0), at, &pending_part);
				rr.kind = "refund";
				rr.points = -pclaw;
				rr.at = at;
				rr.result = pclaw;
				rr.original_ref = original_ref;
				rr.counterparty = member;
				rr.reason = "referral clawback";
				rr.has_qual = true;
				rr.qual_at = po.earned_at;
				rr.qual_points = -pclaw;
				rr.pending_points = -pending_part;
				rr.pending_until = po.available_at;
				ledger_write(p, &referrer, &rr);
				tier_reconcile(p, &referrer, po.earned_at);
			}
		}
	}
	return claw;
}

/*
 * A refund of `amount` of the member's purchase `original_ref`, at `at`:
 * the whole of refund() after the argument checks, also used by the orders
 * trigger.  A receipt's lines share it in proportion to what is left of
 * each.  Returns the points clawed back by this call.
 */
int64
op_refund(Program *p, const char *member, const char *original_ref, Numeric amount,
		  const char *ref, TimestampTz at)
{
	return refund_common(p, member, original_ref, amount, NULL, 0, ref, at);
}

Datum
loyalty_refund(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "member", 4);
	char	   *original_ref = arg_key(fcinfo, 2, "original_ref");
	Numeric		amount = arg_amount(fcinfo, 3, "amount");
	PG_RETURN_INT64(op_end(op_refund(op_begin(o.prog), o.member, original_ref, amount, o.ref, o.at)));
}

/* refund_lines(): the lines named, [{"line": ..., "amount": ...}, ...]. */
Datum
loyalty_refund_lines(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "member", 4);
	char	   *original_ref = arg_key(fcinfo, 2, "original_ref");
	ReceiptLine *lines;
	int			n;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lines must not be NULL")));
	lines = receipt_parse(PG_GETARG_JSONB_P(3), false, &n);
	PG_RETURN_INT64(op_end(op_refund_lines(op_begin(o.prog), o.member, original_ref,
										   lines, n, o.ref, o.at)));
}

/* The lines named, their amounts summed: refund_lines(), and the order-lines trigger. */
int64
op_refund_lines(Program *p, const char *member, const char *original_ref,
				const ReceiptLine *lines, int n, const char *ref, TimestampTz at)
{
	Numeric		amount = num_int64(0);

	for (int i = 0; i < n; i++)
		amount = num_add(amount, lines[i].amount);
	return refund_common(p, member, original_ref, amount, lines, n, ref, at);
}

Datum
loyalty_transfer(PG_FUNCTION_ARGS)
{
	OpArgs		o = op_args(fcinfo, "from_member", 4);
	char	   *to = arg_key(fcinfo, 2, "to_member");
	int64		points = arg_points(fcinfo, 3, "points");
	Program    *p;
	Account		af,
				at_;
	PriorOp		call = {.kind = "transfer_out", .points = -points, .counterparty = to},
				prior;
	Balance		b;
	LotPiece   *taken;
	int			n;
	LedgerRow	r = {0};

	if (strcmp(o.member, to) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("member \"%s\" cannot transfer points to itself", cut(o.member))));

	p = op_begin(o.prog);
	merchant_role_only(p, NULL, "transfer points");
	if (!account_peek(p, o.member, &af))
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_MEMBER),
				 errmsg("unknown member \"%s\" in program \"%s\"", cut(o.member), cut(p->code))));
	if (!account_peek(p, to, &at_))
		member_enroll(p, to, o.at, false, 0, NULL);
	accounts_lock_pair(p, o.member, to, &af, &at_);
	if (!af.found || !at_.found)
		elog(ERROR, "loyalty: transfer members vanished");

	if (op_replayed(p, o.member, o.ref, &call, SAME_POINTS | SAME_COUNTERPARTY, "transfer", &prior))
	{
		op_end(0);
		PG_RETURN_VOID();
	}
	/* the recipient's ref must be free too (its own operations share the namespace) */
	op_replayed(p, to, o.ref, NULL, 0, "transfer", &prior);

	balance_projected(p, &af, o.at, &b);
	if (points > b.available)
		ereport(ERROR,
				(errcode(ERRCODE_LY_INSUFFICIENT),
				 errmsg("member \"%s\" has " INT64_FORMAT " points available, not " INT64_FORMAT,
						cut(o.member), b.available, points),
				 errdetail("Program \"%s\"; pending and expired points cannot be transferred.",
						   cut(p->code))));
	check_credit_range(&at_, points);
	if (lots_take(p, &af, o.at, points, 0, &taken, &n) != points)
		elog(ERROR, "loyalty: lots of member \"%s\" hold less than the balance said", o.member);

	/*
	 * The recipient's lots keep the expiry dates (and ages) of the sender's;
	 * they repay the recipient's debt first, soonest-expiring first.
	 */
	lots_give(p, &at_, o.at, o.ref, "transfer_in", taken, n);

	r.kind = "transfer_out";
	r.points = -points;
	r.at = o.at;
	r.ref = o.ref;
	r.counterparty = to;
	ledger_write(p, &af, &r);
	r.kind = "transfer_in";
	r.points = points;
	r.counterparty = o.member;
	ledger_write(p, &at_, &r);
	op_end(0);
	PG_RETURN_VOID();
}
