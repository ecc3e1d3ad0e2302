/*
 * lots.c — crediting points into lots, spending them first-to-expire
 * first, debt, and balances in business time.
 *
 * A credit is one ledger row plus one lot.  A lot's points are, at any
 * moment, split into
 *   remaining  still in the lot (spendable while available and not expired),
 *   expired    moved out by expire_points (the 'expire' ledger rows),
 *   repaid     used to repay the member's debt (effective from the lot's
 *              available_at: a pending credit repays debt only when it
 *              becomes available),
 *   and what operations took (redeem, transfer, refunds).
 * The member's account row is locked by the caller (account.c), so the lot
 * arithmetic done here in C cannot race.
 *
 * Business time (SPEC §3).  Operations of a member are applied in the order
 * they are called, each at its own `at`:
 *  - a lot is usable at t when available_at <= t < expires_at; its content
 *    at t is remaining, plus expired when expire_points swept it although
 *    it expires only after t (a sweep with a later as_of).  Taking swept
 *    points back writes a correction: an 'expire' row of +points at the
 *    lot's expires_at, so the ledger says the lot expired that much less
 *    (history is never rewritten);
 *  - debt (account.debt) is what the lots could not cover; every later
 *    credit repays it first (lot.repaid), and a refund's new debt is
 *    reserved against lots still pending at its time, which repay it when
 *    they become available;
 *  - the spendable balance at t, projected from the lots, is
 *      sum(content of lots usable at t) - debt - sum(repaid of lots pending at t)
 *    and balance(at) of an instant before the member's latest operation is
 *    read from the ledger instead (balance_at).
 *
 * Invariant (verify()): sum(ledger.points) = sum(lot.remaining) - debt, and
 * account.held = sum(lot.remaining): every change to a lot's remaining
 * changes a->held in C, and the account row is written with it
 * (credit_write, ledger_write; the caller's last step), so a balance reads
 * only the lots that are not spendable at its instant.  Rolling expiry:
 * the lots with rolls expire at account.roll_until (rolling_advance).
 */
#include "lots.h"
#include "numutil.h"
#include "timeutil.h"
#include "statements.h"

#include "arrays.h"

#include "catalog/pg_type.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"

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

/*
 * When points earned at `at` (available at `available_at`) expire; false
 * when never.  end_of_period counts from availability, so a lot never
 * expires before it can be spent.
 */
bool
expiry_for(Program *p, TimestampTz at, TimestampTz available_at, TimestampTz *expires)
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
			*expires = next_period_start(p, local_add_interval(p->tz, available_at, &p->expiry_after));
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
#define SET_TS(i, has, v) \
	do { args[i] = TimestampTzGetDatum(v); nulls[i] = (has) ? ' ' : 'n'; } while (0)

/* The member's debt and held points, read in the statement's snapshot. */

/*
 * Rolling expiry, SPEC §2: every lot of the member expires at its last
 * earning + expiry_after.  The lots share that date through the account
 * (account.roll_until, lot.rolls), so an earning moves it with the one
 * write of the account row that credit_write makes anyway, whatever the
 * number of lots.  Here, before an earning at `at` (not back-dated) whose
 * lots expire at `expires`, only the lots that change class are written,
 * each once in its life:
 *  - the shared date passed at or before `at`: those lots expired then,
 *    and keep that date as their own (so do they when the shared date is
 *    after `expires`: expiry_after was shortened since, and an earning
 *    never brings a lot's expiry forward);
 *  - lots with a date of their own after `at` and before `expires` (a
 *    credit that is not an earning, a transfer in, a lot expire_points
 *    gave its date) join the rolling ones; those a sweep took early (one
 *    with a later as_of) come back, with a correction row.
 */
static void
rolling_advance(Program *p, Account *a, TimestampTz at, TimestampTz expires)
{
	Datum		args[4];

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	if (a->has_roll_until && (a->roll_until <= at || a->roll_until > expires))
	{
		args[2] = TimestampTzGetDatum(a->roll_until);
		stmt_exec(ST_LOTS_ROLL_CLOSE, args, NULL, false, 0, SPI_OK_UPDATE);
	}
	args[2] = TimestampTzGetDatum(at);
	args[3] = TimestampTzGetDatum(expires);
	stmt_exec(ST_LOTS_ROLL_JOIN, args, NULL, false, 0, SPI_OK_UPDATE);

	stmt_exec(ST_LOTS_ROLL_REVIVE, args, NULL, false, 0, SPI_OK_INSERT_RETURNING);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		a->held += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
}

void
credit_write(Program *p, Account *a, Credit *c)
{
#define NCREDIT 35
	Datum		args[NCREDIT];
	char		nulls[NCREDIT];
	int64		repay = Min(c->points, a->debt);
	TimestampTz available;
	TimestampTz expires = 0;
	bool		has_expiry;
	bool		backdated;
	bool		earning = c->is_earning && c->points > 0;
	Numeric		spend = (c->is_purchase && c->amount) ? c->amount : num_int64(0);
	int			orders = c->is_purchase ? 1 : 0;
	int64		qpoints = c->qualifies ? c->points : 0;
	TierState	st;
	TierStep   *steps;
	int			nsteps;
	TierStep	up;
	bool		upgraded;
	bool		tier_latest;
	bool		write_tier;
	bool		rolls;
	bool		roll_moves;

	/* pending_for delays earned points only; an adjustment is spendable at once */
	available = c->is_earning ? available_for(p, c->at) : c->at;

	/*
	 * Rolling expiry: every lot of the member expires at its last earning +
	 * expiry_after, so a back-dated earning (older than the last one) joins
	 * that shared date instead of getting an earlier one of its own.
	 */
	backdated = p->expiry == EXPIRY_ROLLING && a->has_last_earn && a->last_earn_at > c->at;
	has_expiry = expiry_for(p, backdated ? a->last_earn_at : c->at, available, &expires);

	/*
	 * The lot rolls (expires at the member's shared date) when it is an
	 * earning that moves that date, or a back-dated credit joining it; a
	 * credit that is not an earning gets a date of its own, which the
	 * next earning reaches (rolling_advance).
	 */
	roll_moves = p->expiry == EXPIRY_ROLLING && has_expiry && earning && !backdated;
	rolls = roll_moves || (p->expiry == EXPIRY_ROLLING && has_expiry && backdated &&
						   a->has_roll_until && expires == a->roll_until);

	check_credit_range(a, c->points);

	/* the tier in force at the credit's time, and an upgrade if it crosses one */
	nsteps = tier_at(p, a, c->at, &st, &steps);
	upgraded = tier_upgrade(p, a, &st, c->at, qpoints, spend, orders, &up);
	tier_latest = !a->has_tier_since || c->at >= a->tier_since;
	write_tier = tier_latest &&
		(nsteps > 0 || upgraded || st.tier != a->tier || st.has_until != a->has_tier_until ||
		 (st.has_until && st.until != a->tier_until));

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(c->at);
	args[3] = TimestampTzGetDatum(available);
	SET_TS(4, has_expiry, expires);
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
	args[20] = Int32GetDatum(orders);
	SET_TS(21, earning, c->at);
	{
		int			fin = upgraded ? up.to : st.tier;
		bool		fin_has_until = upgraded ? up.has_until : st.has_until;
		TimestampTz fin_until = upgraded ? up.until : st.until;

		if (write_tier && fin >= 0)
			SET_TEXT(22, p->tiers[fin].code);
		else
			nulls[22] = 'n';
		args[23] = BoolGetDatum(write_tier);
		SET_TS(24, fin_has_until, fin_until);
		args[25] = BoolGetDatum(c->points > 0 || c->is_purchase);
		args[26] = Int64GetDatum(repay);
		/* the ledger row's pending part: the whole credit until it is available */
		args[27] = Int64GetDatum(c->points);
		nulls[27] = available > c->at && c->points > 0 ? ' ' : 'n';
		SET_TS(28, available > c->at && c->points > 0, available);
		/* a change or a renewal: the latest tier state is dated at this credit */
		args[29] = BoolGetDatum(write_tier);
		args[30] = TimestampTzGetDatum(c->at);
		args[31] = BoolGetDatum(rolls);
		args[32] = BoolGetDatum(roll_moves);

		if (roll_moves)
			rolling_advance(p, a, c->at, expires);
		if (c->points > 0 || c->is_purchase)
			a->held += c->points - repay;
		args[33] = Int64GetDatum(a->held);
		SET_TEXT(34, c->merchant);
		stmt_exec(ST_CREDIT, args, nulls, false, 0, SPI_OK_UPDATE);
		if (roll_moves)
		{
			a->has_roll_until = true;
			a->roll_until = expires;
		}

		/* tier history: the evaluation steps (when this is the latest state), the upgrade */
		if (tier_latest)
			for (int i = 0; i < nsteps; i++)
				tier_history_write(p, a->member, c->at, &steps[i]);
		if (upgraded)
			tier_history_write(p, a->member, c->at, &up);

		a->debt -= repay;
		a->credited += c->points;
		a->purchases += orders;
		if (write_tier)
		{
			a->tier = fin;
			a->has_tier_until = fin_has_until;
			a->tier_until = fin_until;
			a->has_tier_since = true;
			a->tier_since = c->at;
		}
		else if (!tier_latest && c->qualifies)
			tier_reconcile(p, a, c->at);
	}
	if (earning && (!a->has_last_earn || c->at > a->last_earn_at))
	{
		a->has_last_earn = true;
		a->last_earn_at = c->at;
	}
	if (!a->has_last_at || c->at > a->last_at)
	{
		a->has_last_at = true;
		a->last_at = c->at;
	}
#undef NCREDIT
}

/*
 * One ledger row that is not a credit (debits, refunds, transfers), with
 * the account's debt (a->debt) and latest business time.
 */
void
ledger_write(Program *p, Account *a, const LedgerRow *r)
{
	Datum		args[21];
	char		nulls[21];

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(r->at);
	SET_TEXT(3, r->kind);
	SET_TEXT(19, r->detail);
	SET_TEXT(20, r->merchant);
	args[4] = Int64GetDatum(r->points);
	SET_TEXT(5, r->ref);
	args[6] = Int64GetDatum(r->result);
	args[7] = r->amount ? NumericGetDatum(r->amount) : (Datum) 0;
	nulls[7] = r->amount ? ' ' : 'n';
	SET_TEXT(8, r->original_ref);
	SET_TEXT(9, r->counterparty);
	SET_TEXT(10, r->reason);
	SET_TS(11, r->has_qual, r->qual_at);
	args[12] = Int64GetDatum(r->qual_points);
	args[13] = NumericGetDatum(r->qual_spend ? r->qual_spend : num_int64(0));
	args[14] = Int32GetDatum(r->qual_orders);
	args[15] = Int64GetDatum(r->pending_points);
	nulls[15] = r->pending_points != 0 ? ' ' : 'n';
	SET_TS(16, r->pending_points != 0, r->pending_until);
	args[17] = Int64GetDatum(a->debt);
	args[18] = Int64GetDatum(a->held);
	stmt_exec(ST_LEDGER_WRITE, args, nulls, false, 0, SPI_OK_INSERT);
	if (!a->has_last_at || r->at > a->last_at)
	{
		a->has_last_at = true;
		a->last_at = r->at;
	}
}

/* Ledger corrections of expiry: +points of lot_ids[i] at at[i] (kind 'expire'). */
void
lots_write_corrections(Program *p, const char *member, int n, const int64 *lot_ids,
					   const int64 *points, const TimestampTz *at, const char *reason)
{
	Datum		args[6];

	if (n == 0)
		return;
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = int8_array(lot_ids, n);
	args[3] = int8_array(points, n);
	args[4] = ts_array(at, NULL, n);
	args[5] = CStringGetTextDatum(reason);
	stmt_exec(ST_LEDGER_CORRECTIONS, args, NULL, false, 0, SPI_OK_INSERT);
}

/*
 * One of lots_take's streams of lots in spending order: the lots with a
 * date of their own, the lots swept early, or the lots that roll (all at
 * the member's rolling date, oldest first).  Rows are fetched 16 at
 * a time and copied out of SPI's result.
 */
typedef struct LotRow
{
	int64		id;
	int64		remaining;
	int64		expired;
	bool		has_expiry;
	TimestampTz expires_at;
	TimestampTz earned_at;
} LotRow;

typedef struct LotStream
{
	Portal		cur;			/* NULL: empty */
	bool		rolls;
	TimestampTz roll_until;
	LotRow		buf[16];
	int			n;
	int			pos;
} LotStream;

static LotRow *
stream_peek(LotStream *s)
{
	if (s->pos < s->n)
		return &s->buf[s->pos];
	if (s->cur == NULL)
		return NULL;
	SPI_cursor_fetch(s->cur, true, lengthof(s->buf));
	s->n = (int) SPI_processed;
	s->pos = 0;
	for (int i = 0; i < s->n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		LotRow	   *r = &s->buf[i];

		r->id = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
		r->remaining = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
		r->expired = DatumGetInt64(SPI_getbinval(t, td, 3, &isnull));
		d = SPI_getbinval(t, td, 4, &isnull);
		r->has_expiry = s->rolls || !isnull;
		r->expires_at = s->rolls ? s->roll_until : (isnull ? 0 : DatumGetTimestampTz(d));
		r->earned_at = DatumGetTimestampTz(SPI_getbinval(t, td, 5, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	if (s->n == 0)
	{
		SPI_cursor_close(s->cur);
		s->cur = NULL;
		return NULL;
	}
	return &s->buf[0];
}

/* Spending order: first to expire first (never-expiring last), oldest, id. */
static bool
lot_before(const LotRow *x, const LotRow *y)
{
	if (x->has_expiry != y->has_expiry)
		return x->has_expiry;
	if (x->has_expiry && x->expires_at != y->expires_at)
		return x->expires_at < y->expires_at;
	if (x->earned_at != y->earned_at)
		return x->earned_at < y->earned_at;
	return x->id < y->id;
}

/*
 * Write what was taken from n lots (ids): from_rem[i] of remaining and
 * from_exp[i] of what a sweep took early from a lot that expires only
 * after the operation (exp_at[i]), by statement s (ST_LOTS_TAKE: spent,
 * ST_LOTS_RESERVE: repaid debt); the early-swept points get their
 * correction rows.  Lowers a->held.
 */
static void
lots_write_taken(Program *p, Account *a, Stmt s, int n, int64 *ids, int64 *from_rem,
				 int64 *from_exp, const TimestampTz *exp_at)
{
	Datum		uargs[5];
	int			ncorr = 0;

	if (n == 0)
		return;
	uargs[0] = Int32GetDatum(p->id);
	uargs[1] = CStringGetTextDatum(a->member);
	uargs[2] = int8_array(ids, n);
	uargs[3] = int8_array(from_rem, n);
	uargs[4] = int8_array(from_exp, n);
	stmt_exec(s, uargs, NULL, false, 0, SPI_OK_UPDATE);
	for (int i = 0; i < n; i++)
	{
		a->held -= from_rem[i];
		if (from_exp[i] > 0)
			ncorr++;
	}
	if (ncorr > 0)
	{
		int64	   *cids = palloc(sizeof(int64) * ncorr);
		int64	   *cpts = palloc(sizeof(int64) * ncorr);
		TimestampTz *cats = palloc(sizeof(TimestampTz) * ncorr);
		int			k = 0;

		for (int i = 0; i < n; i++)
			if (from_exp[i] > 0)
			{
				cids[k] = ids[i];
				cpts[k] = from_exp[i];
				cats[k++] = exp_at[i];
			}
		lots_write_corrections(p, a->member, ncorr, cids, cpts, cats, "correction");
	}
}

/*
 * Take up to `points` from the member's lots usable at `at`, first to
 * expire first (ties: oldest first; never-expiring last), skipping lot
 * `exclude` (> 0: a refund's own purchase, taken by the caller).  Reads
 * only as many lots as it needs (three cursors in spending order, merged:
 * the lots with their own date through lot_open_idx, those swept early
 * through lot_swept_idx, the lots that roll through lot_rolls_idx), and
 * writes the takes in
 * one UPDATE; points taken back from a lot that expire_points swept early
 * get their correction rows.  Returns the points taken; the pieces are
 * returned through out/nout when asked.
 */
int64
lots_take(Program *p, Account *a, TimestampTz at, int64 points, int64 exclude,
		  LotPiece **out, int *nout)
{
	Datum		args[4];
	LotStream	st[3];
	int			n = 0,
				cap = 16;
	LotPiece   *pieces = palloc(sizeof(LotPiece) * cap);
	int64	   *from_rem = palloc(sizeof(int64) * cap);
	int64	   *from_exp = palloc(sizeof(int64) * cap);
	int64		left = points;

	if (points <= 0)
	{
		if (out)
			*out = pieces;
		if (nout)
			*nout = 0;
		return 0;
	}
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(at);
	args[3] = Int64GetDatum(exclude);
	/*
	 * Three streams, each one ordered index scan (a UNION ALL of them
	 * sorted as a whole reads every lot: the planner does not merge them):
	 * the lots with their own date, the lots a sweep took early that live
	 * at `at`, and the lots that roll while the member's date is after `at`.
	 */
	memset(st, 0, sizeof(st));
	st[0].cur = SPI_cursor_open(NULL, stmt_plan(ST_LOTS_FIFO_OWN), args, NULL, false);
	st[1].cur = SPI_cursor_open(NULL, stmt_plan(ST_LOTS_FIFO_SWEPT), args, NULL, false);
	if (a->has_roll_until && a->roll_until > at)
	{
		st[2].rolls = true;
		st[2].roll_until = a->roll_until;
		st[2].cur = SPI_cursor_open(NULL, stmt_plan(ST_LOTS_FIFO_ROLLING), args, NULL, false);
	}
	while (left > 0)
	{
		LotStream  *from = NULL;
		LotRow	   *r = NULL;
		int64		take;

		for (int k = 0; k < (int) lengthof(st); k++)
		{
			LotRow	   *x = stream_peek(&st[k]);

			if (x != NULL && (r == NULL || lot_before(x, r)))
			{
				r = x;
				from = &st[k];
			}
		}
		if (r == NULL)
			break;
		from->pos++;
		take = Min(r->remaining + r->expired, left);
		if (n == cap)
		{
			cap *= 2;
			pieces = repalloc(pieces, sizeof(LotPiece) * cap);
			from_rem = repalloc(from_rem, sizeof(int64) * cap);
			from_exp = repalloc(from_exp, sizeof(int64) * cap);
		}
		pieces[n].id = r->id;
		pieces[n].take = take;
		pieces[n].has_expiry = r->has_expiry;
		pieces[n].expires_at = r->expires_at;
		pieces[n].earned_at = r->earned_at;
		from_rem[n] = Min(r->remaining, take);
		from_exp[n] = take - from_rem[n];
		left -= take;
		n++;
	}
	for (int k = 0; k < (int) lengthof(st); k++)
		if (st[k].cur)
			SPI_cursor_close(st[k].cur);

	if (n > 0)
	{
		int64	   *ids = palloc(sizeof(int64) * n);
		TimestampTz *exp_at = palloc(sizeof(TimestampTz) * n);

		for (int i = 0; i < n; i++)
		{
			ids[i] = pieces[i].id;
			exp_at[i] = pieces[i].expires_at;
		}
		lots_write_taken(p, a, ST_LOTS_TAKE, n, ids, from_rem, from_exp, exp_at);
	}
	if (out)
		*out = pieces;
	if (nout)
		*nout = n;
	return points - left;
}

/*
 * Repay the member's debt (a->debt) from what it holds at `at`: first the
 * lots usable then (first to expire first: a debt owed again when a
 * pending purchase was refunded), then the lots still pending then, in the
 * order they become available (they repay it from their available_at).  The
 * points go to the lots' repaid; points a sweep took early from a lot that
 * expires only after `at` get their correction rows.  Updates a->debt; the
 * caller writes it (ledger_write).
 */
void
debt_settle(Program *p, Account *a, TimestampTz at)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int64	   *ids;
	int64	   *from_rem;
	int64	   *from_exp;
	TimestampTz *exp_at;
	int			n = 0;

	if (a->debt <= 0)
		return;
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(at);
	/* living content: remaining, or what a sweep took early (expires after `at`) */
	args[3] = TimestampTzGetDatum(a->roll_until);
	nulls[3] = a->has_roll_until ? ' ' : 'n';
	stmt_exec(ST_LOTS_PENDING, args, nulls, false, 0, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	ids = palloc(sizeof(int64) * SPI_processed);
	from_rem = palloc(sizeof(int64) * SPI_processed);
	from_exp = palloc(sizeof(int64) * SPI_processed);
	exp_at = palloc(sizeof(TimestampTz) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed && a->debt > 0; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		rem = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
		int64		exp = DatumGetInt64(SPI_getbinval(t, td, 3, &isnull));
		Datum		d = SPI_getbinval(t, td, 4, &isnull);

		ids[n] = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
		from_rem[n] = Min(rem, a->debt);
		a->debt -= from_rem[n];
		from_exp[n] = Min(exp, a->debt);
		a->debt -= from_exp[n];
		exp_at[n] = isnull ? 0 : DatumGetTimestampTz(d);
		n++;
	}
	/* points a sweep took early go to the debt instead: their correction rows */
	lots_write_taken(p, a, ST_LOTS_RESERVE, n, ids, from_rem, from_exp, exp_at);
}

/*
 * Write the expiry of a lot that expired (expires_at passed) but was not
 * swept yet, as expire_points would: its remaining moves to expired and an
 * 'expire' row of -points is dated at its expires_at.
 */
void
lot_expire_now(Program *p, const char *member, int64 lot_id, TimestampTz expires_at, int64 points)
{
	Datum		args[5];

	if (points <= 0)
		return;
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = Int64GetDatum(lot_id);
	args[3] = TimestampTzGetDatum(expires_at);
	args[4] = Int64GetDatum(points);
	stmt_exec(ST_LOTS_EXPIRE_NOW, args, NULL, false, 0, SPI_OK_INSERT);
}

/*
 * The member's balances at `at` projected from its lots (see the file
 * header): what an operation at `at` may spend.
 */
void
balance_projected(Program *p, const Account *a, TimestampTz at, Balance *b)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;
	HeapTuple	t;
	TupleDesc	td;
	int64		usable,
				pending,
				reserved,
				held,
				debt;
	int			debt_col;		/* the account's debt in the result */

	memset(b, 0, sizeof(Balance));
	if (!a->found)
		return;
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(at);
	args[3] = TimestampTzGetDatum(a->roll_until);
	nulls[3] = a->has_roll_until ? ' ' : 'n';

	if (!account_is_latest(a, at))
	{
		/*
		 * Before the member's latest operation (a back-dated one): lots
		 * written after `at` are not its to spend; every lot is read.
		 */
		stmt_exec(ST_BALANCE_SCAN, args, nulls, false, 1, SPI_OK_SELECT);
		t = SPI_tuptable->vals[0];
		td = SPI_tuptable->tupdesc;
		usable = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
		pending = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
		reserved = DatumGetInt64(SPI_getbinval(t, td, 3, &isnull));
		debt_col = 4;
	}
	else
	{
		/*
		 * At or after the member's latest operation: account.held is every
		 * point in its lots, and only the lots that are not spendable at
		 * `at` are read, each through its index: pending then
		 * (lot_pending_idx: a lot available after `at` was earned before
		 * it), expired then but not swept (lot_open_idx; the lots that roll,
		 * when the member's date passed), swept early but living then
		 * (lot_swept_idx).
		 */
		stmt_exec(ST_BALANCE_PROJECTED, args, nulls, false, 1, SPI_OK_SELECT);
		t = SPI_tuptable->vals[0];
		td = SPI_tuptable->tupdesc;
		held = a->locked ? a->held : DatumGetInt64(SPI_getbinval(t, td, 6, &isnull));
		usable = held - DatumGetInt64(SPI_getbinval(t, td, 1, &isnull))
			+ DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
		pending = DatumGetInt64(SPI_getbinval(t, td, 3, &isnull));
		reserved = DatumGetInt64(SPI_getbinval(t, td, 4, &isnull));
		debt_col = 5;
	}

	/*
	 * A locked member's held and debt are the operation's (some not
	 * written yet); a peeked one's are read in the same snapshot as its
	 * lots, so a concurrent operation is seen whole or not at all.
	 */
	debt = a->locked ? a->debt : DatumGetInt64(SPI_getbinval(t, td, debt_col, &isnull));
	b->available = usable - debt - reserved;
	b->pending = pending;
	b->debt = debt + reserved;
}

/*
 * balance(program, member, at), SPEC §3: for an instant before the
 * member's latest operation (and not after now), the balance after the
 * member's history up to `at`: every ledger row dated <= at, pending
 * credits counted from their available_at, lots whose expiry passed by
 * `at` and not yet swept counted as expired; otherwise the lots projected
 * to `at` (the same number when nothing is dated after `at`).
 */
int64
balance_at(Program *p, const Account *a, TimestampTz at)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;
	Balance		b;

	if (!a->found)
		return 0;
	if (account_is_latest(a, at) || at > GetCurrentTransactionStartTimestamp())
	{
		balance_projected(p, a, at, &b);
		return b.available;
	}
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(at);
	args[3] = TimestampTzGetDatum(a->roll_until);
	nulls[3] = a->has_roll_until ? ' ' : 'n';
	stmt_exec(ST_BALANCE_HISTORY, args, nulls, false, 1, SPI_OK_SELECT);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
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

/*
 * Give the (locked) member new lots of the pieces at `at`: each keeps its
 * points, expiry and earning dates and is available at once, and they repay
 * the member's debt first, soonest-expiring first (those not expired at
 * `at`; transfer: the sender's
 * pieces; cancel_redemption: the pieces the redemption spent).  `source` is
 * the lots' source, `ref` their ref.  Updates a->debt, a->held and
 * a->credited; the caller writes the ledger row (ledger_write), which
 * writes the account's debt and held, and has checked the credit's range.
 */
void
lots_give(Program *p, Account *a, TimestampTz at, const char *ref, const char *source,
		  const LotPiece *pieces, int n)
{
	int64	   *takes = palloc(sizeof(int64) * (n + 1));
	int64	   *rems = palloc(sizeof(int64) * (n + 1));
	int64	   *repaids = palloc(sizeof(int64) * (n + 1));
	TimestampTz *expires = palloc(sizeof(TimestampTz) * (n + 1));
	TimestampTz *earned = palloc(sizeof(TimestampTz) * (n + 1));
	bool	   *exp_nulls = palloc(sizeof(bool) * (n + 1));
	int64		points = 0;
	Datum		args[11];

	for (int i = 0; i < n; i++)
	{
		/* a piece that expired by `at` (a cancellation's) repays nothing */
		bool		alive = !pieces[i].has_expiry || pieces[i].expires_at > at;
		int64		repay = alive ? Min(pieces[i].take, a->debt) : 0;

		a->debt -= repay;
		takes[i] = pieces[i].take;
		rems[i] = pieces[i].take - repay;
		repaids[i] = repay;
		expires[i] = pieces[i].expires_at;
		exp_nulls[i] = !pieces[i].has_expiry;
		earned[i] = pieces[i].earned_at;
		points += pieces[i].take;
	}
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	args[2] = TimestampTzGetDatum(at);
	args[3] = CStringGetTextDatum(ref);
	args[4] = int8_array(takes, n);
	args[5] = ts_array(expires, exp_nulls, n);
	args[6] = ts_array(earned, NULL, n);
	args[7] = int8_array(rems, n);
	args[8] = int8_array(repaids, n);
	args[9] = Int64GetDatum(points);
	args[10] = CStringGetTextDatum(source);
	stmt_exec(ST_LOTS_TRANSFER_IN, args, NULL, false, 0, SPI_OK_UPDATE);
	a->credited += points;
	for (int i = 0; i < n; i++)
		a->held += rems[i];
}
