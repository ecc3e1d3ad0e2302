/*
 * mall.c — the points mall: add_reward, add_stock, redeem_reward,
 * cancel_redemption (SPEC §9; README "Points mall"; the tables and their
 * design in sql/loyalty.sql).
 *
 * A reward is configuration (loyalty.reward, an upsert by add_reward),
 * read by one statement per redemption at the member's tier.  A reward
 * with a limited stock has one program-wide row in loyalty.reward_stock
 * (not member-scoped: on Citus distributed by reward); a reward with
 * unlimited stock has none and takes no stock lock.  Redemptions are the
 * member's rows (loyalty.redemption), keyed by their ref.
 *
 * redeem_reward, in this order:
 *   1. the arguments (22023), the merchant (merchant_resolve: a merchant
 *      role's own, 42501 another's, LY009 an unknown one);
 *   2. the member, locked (LY003 when unknown, as redeem);
 *   3. the ref: a redemption of the member with that ref and the same
 *      reward, quantity and merchant is a retry: its points, nothing
 *      written; other arguments, or the ref used by another operation,
 *      LY005.  A NULL ref gets the ref 'redemption:<n>' (n: the id of the
 *      ledger row it writes; shown by loyalty.redemptions): no retry can
 *      find it, so a caller that retries passes its own ref;
 *   4. the reward at the member's tier at `at` (tier_of at that instant):
 *      unknown LY009; `at` outside [valid_from, valid_until), a tier not in
 *      its tiers, or the member's units (less cancelled) plus quantity over
 *      per_member: LY011;
 *   5. the price, tier_points of that tier else points, times quantity,
 *      spent first-to-expire-first by op_spend (the code path of redeem):
 *      LY001 when not enough; one ledger row of kind 'redeem' whose detail
 *      names the reward, the quantity, the points of one unit and the cash
 *      part (per unit times quantity: recorded for reports, not collected);
 *   6. the units taken from the stock row by one UPDATE ... WHERE stock >=
 *      quantity (LY010 when it matches nothing and the row exists);
 *   7. the redemption row, with the pieces of lots spent.
 * Lock order: the member, then at most one stock row, as every operation
 * locks its member first.  A stock row is locked only by redeem_reward and
 * cancel_redemption, only after their member, and whoever holds it waits
 * for nothing more, so no cycle closes with the other operations
 * (docs/architecture.md, "Lock order").  Under READ COMMITTED the UPDATE of
 * a concurrent redemption waits for the row and checks stock >= quantity
 * again on the committed version: never oversold.
 *
 * cancel_redemption gives the member the points back as new lots with the
 * expiry and earning dates of the pieces spent (lots_give, as a transfer
 * does), which repay its debt first; a piece whose expiry passed meanwhile
 * comes back expiring at the cancellation's instant (it is not spendable,
 * repays nothing, and the next expire_points writes its expiry, dated at
 * the cancellation, so the running balance never dips).  The units go back to the stock
 * row, once: the same ref again returns the first answer; another ref for a
 * redemption cancelled already returns 0 and writes nothing; an unknown
 * redemption ref is LY004.  The cancellation is a ledger row of kind
 * 'redeem' with +points and the redemption as original_ref, so the views'
 * "redeemed" figures are net of cancellations.
 */
#include "mall.h"
#include "args.h"
#include "arrays.h"
#include "merchants.h"
#include "numutil.h"
#include "statements.h"
#include "timeutil.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"

PG_FUNCTION_INFO_V1(loyalty_add_reward);
PG_FUNCTION_INFO_V1(loyalty_add_stock);
PG_FUNCTION_INFO_V1(loyalty_redeem_reward);
PG_FUNCTION_INFO_V1(loyalty_cancel_redemption);

#define CONFIG_ERROR(...) \
	ereport(ERROR, (errcode(ERRCODE_LY_CONFIG), errmsg(__VA_ARGS__)))

/* An optional count (integer when int4, else bigint): 22023 below `min`. */
static bool
arg_count_opt(FunctionCallInfo fcinfo, int n, bool int4, const char *name, int64 min, int64 *out)
{
	if (PG_ARGISNULL(n))
		return false;
	*out = int4 ? (int64) PG_GETARG_INT32(n) : PG_GETARG_INT64(n);
	if (*out < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least " INT64_FORMAT ", not " INT64_FORMAT, name, min, *out)));
	return true;
}

/*
 * A reward's units are at most MAX_STOCK (10^12), so that adding to a stock
 * never comes near bigint's range: 22023 for a stock or a quantity above it,
 * 22003 for an add_stock that would take the stock past it.
 */
#define MAX_STOCK INT64CONST(1000000000000)

static void
check_stock_max(const char *name, int64 v)
{
	if (v > MAX_STOCK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most " INT64_FORMAT ", not " INT64_FORMAT, name, MAX_STOCK, v)));
}

/* tiers: NULL, or a non-empty list of tiers of the program (LY007). */
static void
check_tiers(Program *p, const char *code, FunctionCallInfo fcinfo, int n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;

	if (PG_ARGISNULL(n))
		return;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(n), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &count);
	if (count == 0)
		CONFIG_ERROR("reward \"%s\": tiers must not be empty (NULL: every tier)", cut(code));
	for (int i = 0; i < count; i++)
	{
		char	   *t;

		if (nulls[i])
			CONFIG_ERROR("reward \"%s\": tiers must not hold NULL", cut(code));
		t = TextDatumGetCString(elems[i]);
		if (tier_index(p, t) < 0)
			CONFIG_ERROR("reward \"%s\": unknown tier \"%s\" in program \"%s\"",
						 cut(code), cut(t), cut(p->code));
	}
}

/* tier_points: NULL, or an object of tiers of the program to points > 0 (LY007). */
static void
check_tier_points(Program *p, const char *code, FunctionCallInfo fcinfo, int n)
{
	Jsonb	   *j;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (PG_ARGISNULL(n))
		return;
	j = PG_GETARG_JSONB_P(n);
	if (!JB_ROOT_IS_OBJECT(j))
		CONFIG_ERROR("reward \"%s\": tier_points must be a JSON object of tier to points",
					 cut(code));
	it = JsonbIteratorInit(&j->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *tier;
		int64		points = 0;

		if (tok != WJB_KEY)
			continue;
		tier = pnstrdup(v.val.string.val, v.val.string.len);
		if (tier_index(p, tier) < 0)
			CONFIG_ERROR("reward \"%s\": unknown tier \"%s\" in tier_points of program \"%s\"",
						 cut(code), cut(tier), cut(p->code));
		tok = JsonbIteratorNext(&it, &v, true);
		if (v.type == jbvNumeric)
		{
			char	   *s = num_to_cstring(v.val.numeric);

			if (strspn(s, "0123456789") == strlen(s) && strlen(s) <= 18)
				points = num_to_int64(v.val.numeric, "points");
		}
		if (points <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("reward \"%s\": tier_points of tier \"%s\" must be a whole number of points greater than 0",
							cut(code), cut(tier)),
					 errhint("For example tier_points => '{\"gold\": 800}'.")));
	}
}

/*
 * add_reward(program, code, points, cash, stock, per_member, tiers,
 * tier_points, valid_from, valid_until, name, merchant): an upsert of every
 * setting; stock is the units left (NULL: unlimited, the stock row goes).
 */
Datum
loyalty_add_reward(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *code = arg_key(fcinfo, 1, "code");
	int64		points = arg_points(fcinfo, 2, "points");
	Numeric		cash;
	int64		stock = 0,
				per_member = 0;
	bool		has_stock = arg_count_opt(fcinfo, 4, false, "stock", 0, &stock);
	bool		has_limit = arg_count_opt(fcinfo, 5, true, "per_member", 1, &per_member);
	Program    *p;
	Datum		values[11];
	char		nulls[11];

	if (has_stock)
		check_stock_max("stock", stock);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cash must not be NULL"),
				 errhint("A reward paid with points only has cash 0.")));
	cash = PG_GETARG_NUMERIC(3);
	if (numeric_is_nan(cash) || numeric_is_inf(cash) || num_sign(cash) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cash must be a finite number of at least 0, not %s",
						cut(num_to_cstring(cash)))));
	check_window(fcinfo, 8, "reward", code);

	p = op_begin(prog);
	if (!PG_ARGISNULL(11))
		merchant_resolve(p, arg_text_opt(fcinfo, 11));	/* LY009 when unknown */
	check_tiers(p, code, fcinfo, 6);
	check_tier_points(p, code, fcinfo, 7);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int32GetDatum(p->id);
	values[1] = CStringGetTextDatum(code);
	values[2] = Int64GetDatum(points);
	values[3] = NumericGetDatum(cash);
	values[4] = Int32GetDatum((int32) per_member);
	nulls[4] = has_limit ? ' ' : 'n';
	for (int i = 5; i < 11; i++)
	{
		int			arg = i + 1;	/* tiers .. merchant */

		nulls[i] = PG_ARGISNULL(arg) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(arg) ? (Datum) 0 : PG_GETARG_DATUM(arg);
	}
	stmt_exec(ST_REWARD_UPSERT, values, nulls, false, 0, SPI_OK_INSERT);
	values[2] = Int64GetDatum(stock);
	if (has_stock)
		stmt_exec(ST_STOCK_SET, values, NULL, false, 0, SPI_OK_INSERT);
	else
		stmt_exec(ST_STOCK_DROP, values, NULL, false, 0, SPI_OK_DELETE);
	op_end(0);
	PG_RETURN_VOID();
}

void
reward_get(Program *p, const char *code, const char *tier, Reward *w)
{
	Datum		args[3] = {Int32GetDatum(p->id), CStringGetTextDatum(code),
		tier ? CStringGetTextDatum(tier) : (Datum) 0};
	char		nulls[3] = {' ', ' ', tier ? ' ' : 'n'};
	HeapTuple	t;
	TupleDesc	td;
	bool		isnull;
	Datum		d;

	stmt_exec(ST_REWARD_GET, args, nulls, false, 0, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_UNKNOWN),
				 errmsg("unknown reward \"%s\" in program \"%s\"", cut(code), cut(p->code))));
	t = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	w->code = code;
	w->points = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
	w->cash = DatumGetNumericCopy(SPI_getbinval(t, td, 2, &isnull));
	d = SPI_getbinval(t, td, 3, &isnull);
	w->per_member = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(t, td, 4, &isnull);
	w->tier_allowed = !isnull && DatumGetBool(d);
	w->has_from = stmt_get_ts(t, td, 5, &w->valid_from);
	w->has_until = stmt_get_ts(t, td, 6, &w->valid_until);
	w->tiers = SPI_getvalue(t, td, 7);
}

/* add_stock(program, reward, quantity) → the stock after. */
Datum
loyalty_add_stock(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *code = arg_key(fcinfo, 1, "reward");
	int64		quantity = arg_points(fcinfo, 2, "quantity");
	Program    *p;
	Reward		w;
	Datum		args[3];
	bool		isnull;
	int64		after;

	check_stock_max("quantity", quantity);
	p = op_begin(prog);
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(code);
	args[2] = Int64GetDatum(quantity);
	stmt_exec(ST_STOCK_ADD, args, NULL, false, 0, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 0)
	{
		reward_get(p, code, NULL, &w);	/* LY009 when unknown */
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("reward \"%s\" of program \"%s\" has unlimited stock", cut(code), cut(p->code)),
				 errhint("Give the reward a stock with add_reward(..., stock => ...) first.")));
	}
	after = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (after > MAX_STOCK)		/* the update is undone with the transaction */
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("stock of reward \"%s\" would be " INT64_FORMAT ", more than " INT64_FORMAT,
						cut(code), after, MAX_STOCK)));
	PG_RETURN_INT64(op_end(after));
}

/* A redemption's row (ST_REDEMPTION_GET), NULL-free except merchant and cancel_ref. */
typedef struct Redemption
{
	bool		found;
	char	   *reward;
	int32		quantity;
	int64		points;
	Numeric		cash;
	char	   *merchant;
	TimestampTz at;
	char	   *cancel_ref;
	LotPiece   *pieces;
	int			npieces;
} Redemption;

static void
redemption_get(Program *p, const char *member, const char *ref, Redemption *r)
{
	Datum		args[3] = {Int32GetDatum(p->id), CStringGetTextDatum(member),
		CStringGetTextDatum(ref)};
	HeapTuple	t;
	TupleDesc	td;
	bool		isnull;
	Datum	   *pts,
			   *exp,
			   *earned;
	bool	   *exp_nulls;
	int			n;

	memset(r, 0, sizeof(Redemption));
	stmt_exec(ST_REDEMPTION_GET, args, NULL, false, 0, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	t = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	r->found = true;
	r->reward = SPI_getvalue(t, td, 1);
	r->quantity = DatumGetInt32(SPI_getbinval(t, td, 2, &isnull));
	r->points = DatumGetInt64(SPI_getbinval(t, td, 3, &isnull));
	r->cash = DatumGetNumericCopy(SPI_getbinval(t, td, 4, &isnull));
	r->merchant = SPI_getvalue(t, td, 5);
	stmt_get_ts(t, td, 6, &r->at);
	r->cancel_ref = SPI_getvalue(t, td, 7);
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, td, 8, &isnull)), INT8OID, 8,
					  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &pts, NULL, &n);
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, td, 9, &isnull)), TIMESTAMPTZOID, 8,
					  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &exp, &exp_nulls, &n);
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, td, 10, &isnull)), TIMESTAMPTZOID, 8,
					  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &earned, NULL, &n);
	r->pieces = palloc0(sizeof(LotPiece) * (n + 1));
	r->npieces = n;
	for (int i = 0; i < n; i++)
	{
		r->pieces[i].take = DatumGetInt64(pts[i]);
		r->pieces[i].has_expiry = !exp_nulls[i];
		r->pieces[i].expires_at = exp_nulls[i] ? 0 : DatumGetTimestampTz(exp[i]);
		r->pieces[i].earned_at = DatumGetTimestampTz(earned[i]);
	}
}

/* The detail of a redemption's ledger rows (and its cancellation's). */
static char *
redemption_detail(const char *reward, int32 quantity, int64 each, Numeric cash)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, "{\"reward\": {\"code\": ");
	escape_json(&s, reward);
	appendStringInfo(&s, ", \"quantity\": %d, \"each\": " INT64_FORMAT ", \"cash\": %s}}",
					 quantity, each, num_to_cstring(cash));
	return s.data;
}

/* LY011 naming the member and the reward. */
static void
not_allowed(const char *member, const Reward *w, const char *why, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_NOT_ALLOWED),
			 errmsg("member \"%s\" may not redeem reward \"%s\" %s", cut(member), cut(w->code), why),
			 detail ? errdetail("%s", detail) : 0));
}

/* The checks of step 4: window, tier, the member's limit. */
static void
reward_allowed(Program *p, const char *member, const Reward *w, const char *tier,
			   int32 quantity, TimestampTz at)
{
	if (w->has_from && at < w->valid_from)
		not_allowed(member, w, psprintf("before %s", timestamptz_to_str(w->valid_from)),
					"A reward is redeemable on [valid_from, valid_until).");
	if (w->has_until && at >= w->valid_until)
		not_allowed(member, w, psprintf("from %s on", timestamptz_to_str(w->valid_until)),
					"A reward is redeemable on [valid_from, valid_until).");
	if (!w->tier_allowed)
		not_allowed(member, w, psprintf("in tier \"%s\"", cut(tier ? tier : "(none)")),
					psprintf("The reward is for tiers %s (the member's tier at %s).", w->tiers,
							 timestamptz_to_str(at)));
	if (w->per_member > 0)
	{
		Datum		args[3] = {Int32GetDatum(p->id), CStringGetTextDatum(member),
			CStringGetTextDatum(w->code)};
		bool		isnull;
		int64		held;

		stmt_exec(ST_REDEMPTION_HELD, args, NULL, false, 0, SPI_OK_SELECT);
		held = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (held + quantity > w->per_member)
			not_allowed(member, w, psprintf("%d more time%s: its limit is %d per member",
											quantity, quantity > 1 ? "s" : "", w->per_member),
						psprintf("The member redeemed " INT64_FORMAT " (cancelled redemptions do not count).",
								 held));
	}
}

/* The ref a redemption without one gets: 'redemption:<its ledger row id>', free. */
static char *
generated_ref(Program *p, const char *member)
{
	Datum		args[2] = {Int32GetDatum(p->id), CStringGetTextDatum(member)};
	bool		isnull;
	int64		id;
	char	   *ref;

	stmt_exec(ST_LEDGER_NEXT_ID, args, NULL, false, 0, SPI_OK_SELECT);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	ref = psprintf("redemption:" INT64_FORMAT, id);
	/* a caller's own ref of that text: one suffix more, until free */
	for (int k = 2; op_ref_used(p, member, ref); k++)
		ref = psprintf("redemption:" INT64_FORMAT ".%d", id, k);
	return ref;
}

/* Take the units from the stock row (none for unlimited stock): LY010. */
static void
stock_take(Program *p, const char *code, int32 quantity)
{
	Datum		args[3] = {Int32GetDatum(p->id), CStringGetTextDatum(code), Int64GetDatum(quantity)};
	bool		isnull;

	stmt_exec(ST_STOCK_TAKE, args, NULL, false, 0, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed > 0)
		return;
	stmt_exec(ST_STOCK_PEEK, args, NULL, false, 0, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_OUT_OF_STOCK),
				 errmsg("reward \"%s\" of program \"%s\" is out of stock: " INT64_FORMAT " left, not %d",
						cut(code), cut(p->code),
						DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
						quantity),
				 errhint("add_stock adds units.")));
}

/*
 * redeem_reward(program, member, reward, quantity, ref, at, merchant) → the
 * points spent (a retry: the first call's answer).
 */
Datum
loyalty_redeem_reward(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	char	   *code = arg_key(fcinfo, 2, "reward");
	int64		q = 0;
	int32		quantity;
	char	   *ref = PG_ARGISNULL(4) ? NULL : arg_key(fcinfo, 4, "ref");
	TimestampTz at = arg_at(fcinfo, 5);
	Program    *p;
	const char *merchant;
	Account		a;
	Redemption	prev;
	PriorOp		prior;
	TierState	st;
	TierStep   *steps;
	const char *tier;
	Reward		w;
	int64		price;
	Numeric		cash;
	LedgerRow	r = {0};
	LotPiece   *taken;
	int			n;
	int64	   *pts;
	TimestampTz *exp,
			   *earned;
	bool	   *exp_nulls;
	Datum		args[12];
	char		nulls[12];

	if (!arg_count_opt(fcinfo, 3, true, "quantity", 1, &q))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantity must not be NULL")));
	quantity = (int32) q;

	p = op_begin(prog);
	merchant = merchant_resolve(p, arg_text_opt(fcinfo, 6));
	require_member(p, member, &a);
	if (ref != NULL)
	{
		redemption_get(p, member, ref, &prev);
		if (prev.found && strcmp(prev.reward, code) == 0 && prev.quantity == quantity &&
			(prev.merchant == NULL ? merchant == NULL
			 : merchant != NULL && strcmp(prev.merchant, merchant) == 0))
			PG_RETURN_INT64(op_end(prev.points));	/* a retry: nothing written */
		if (prev.found)
			ereport(ERROR,
					(errcode(ERRCODE_LY_REF_REUSED),
					 errmsg("ref \"%s\" of member \"%s\" was already used with different arguments",
							cut(ref), cut(member)),
					 errdetail("The first call with this ref redeemed %d of reward \"%s\"; this call %d of \"%s\".",
							   prev.quantity, cut(prev.reward), quantity, cut(code)),
					 errhint("A retry must repeat the arguments of the first call; use a new ref for a new operation.")));
		/* used by another operation: LY005 */
		op_replayed(p, member, ref, NULL, 0, "redeem_reward", &prior);
	}
	else
		ref = generated_ref(p, member);

	tier_at(p, &a, at, &st, &steps);
	tier = st.tier >= 0 ? p->tiers[st.tier].code : NULL;
	reward_get(p, code, tier, &w);
	reward_allowed(p, member, &w, tier, quantity, at);
	if (pg_mul_s64_overflow(w.points, quantity, &price))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%d of reward \"%s\" at " INT64_FORMAT " points each is out of range",
						quantity, cut(code), w.points)));
	cash = num_mul(w.cash, num_int64(quantity));

	r.kind = "redeem";
	r.at = at;
	r.ref = ref;
	r.merchant = merchant;
	r.detail = redemption_detail(code, quantity, w.points, cash);
	op_spend(p, &a, &r, price, &taken, &n);
	stock_take(p, code, quantity);

	pts = palloc(sizeof(int64) * (n + 1));
	exp = palloc(sizeof(TimestampTz) * (n + 1));
	earned = palloc(sizeof(TimestampTz) * (n + 1));
	exp_nulls = palloc(sizeof(bool) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		pts[i] = taken[i].take;
		exp[i] = taken[i].expires_at;
		exp_nulls[i] = !taken[i].has_expiry;
		earned[i] = taken[i].earned_at;
	}
	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(ref);
	args[3] = CStringGetTextDatum(code);
	args[4] = Int32GetDatum(quantity);
	args[5] = Int64GetDatum(price);
	args[6] = NumericGetDatum(cash);
	args[7] = merchant ? CStringGetTextDatum(merchant) : (Datum) 0;
	nulls[7] = merchant ? ' ' : 'n';
	args[8] = TimestampTzGetDatum(at);
	args[9] = int8_array(pts, n);
	args[10] = ts_array(exp, exp_nulls, n);
	args[11] = ts_array(earned, NULL, n);
	stmt_exec(ST_REDEMPTION_INSERT, args, nulls, false, 0, SPI_OK_INSERT);
	PG_RETURN_INT64(op_end(price));
}

/*
 * cancel_redemption(program, member, redemption_ref, ref, at) → the points
 * returned (a retry: the first call's answer; a redemption cancelled
 * already by another ref: 0, nothing written).
 */
Datum
loyalty_cancel_redemption(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	char	   *rref = arg_key(fcinfo, 2, "redemption_ref");
	char	   *ref = arg_key(fcinfo, 3, "ref");
	TimestampTz at = arg_at(fcinfo, 4);
	Program    *p;
	Account		a;
	PriorOp		call = {.kind = "redeem", .original_ref = rref},
				prior;
	Redemption	red;
	LedgerRow	r = {0};
	Datum		args[5];

	p = op_begin(prog);
	require_member(p, member, &a);
	redemption_get(p, member, rref, &red);
	/* a cancellation is the redemption's merchant's (SPEC §9, settlement) */
	merchant_role_only(p, red.found ? red.merchant : NULL, "cancel redemptions");
	if (op_replayed(p, member, ref, &call, SAME_ORIGINAL_REF, "cancel_redemption", &prior))
		PG_RETURN_INT64(op_end(prior.points));
	if (!red.found)
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_ORIGINAL),
				 errmsg("unknown redemption \"%s\" of member \"%s\" in program \"%s\"",
						cut(rref), cut(member), cut(p->code))));
	if (red.cancel_ref != NULL)
		PG_RETURN_INT64(op_end(0));	/* cancelled already, by another ref */
	if (at < red.at)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cancellation at %s is before redemption \"%s\" at %s",
						pstrdup(timestamptz_to_str(at)), cut(rref), pstrdup(timestamptz_to_str(red.at)))));

	/* points whose expiry passed meanwhile expire at the cancellation */
	for (int i = 0; i < red.npieces; i++)
		if (red.pieces[i].has_expiry && red.pieces[i].expires_at < at)
			red.pieces[i].expires_at = at;
	check_credit_range(&a, red.points);
	lots_give(p, &a, at, ref, "redeem", red.pieces, red.npieces);
	r.kind = "redeem";
	r.points = red.points;
	r.result = red.points;
	r.at = at;
	r.ref = ref;
	r.original_ref = rref;
	r.merchant = red.merchant;
	r.detail = redemption_detail(red.reward, red.quantity,
								 red.points / red.quantity, red.cash);
	ledger_write(p, &a, &r);

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(red.reward);
	args[2] = Int64GetDatum(red.quantity);
	stmt_exec(ST_STOCK_ADD, args, NULL, false, 0, SPI_OK_UPDATE_RETURNING);

	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(rref);
	args[3] = TimestampTzGetDatum(at);
	args[4] = CStringGetTextDatum(ref);
	stmt_exec(ST_REDEMPTION_CANCEL, args, NULL, false, 0, SPI_OK_UPDATE);
	PG_RETURN_INT64(op_end(red.points));
}
