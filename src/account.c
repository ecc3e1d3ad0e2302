/*
 * account.c — locking members, the idempotency look-up by ref.
 *
 * Locking rules (the whole extension follows them, so nothing deadlocks):
 *  - Every operation on a member first locks that member's row of
 *    loyalty.account with SELECT ... FOR UPDATE, before touching its lots,
 *    ledger or streaks.  Members are independent: operations on different
 *    members never wait on each other.
 *  - An operation on two members (transfer; earn that pays a referrer, a
 *    refund that claws it back) locks both rows in member order, one
 *    statement each (one shard each on Citus), in the order ORDER BY member
 *    sorts them, so any two such operations, and the batches, take the
 *    locks in the same order.
 *  - Scheduled procedures lock members the same way (maintenance.c), and
 *    never wait for a member lock while holding another.
 *  - The idempotency look-up by ref runs after the lock, as its own
 *    statement, so in READ COMMITTED it sees a concurrent first call that
 *    committed while we waited.
 */
#include "account.h"
#include "args.h"
#include "citus.h"
#include "config.h"
#include "numutil.h"
#include "statements.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

static void
account_from_row(Program *p, HeapTuple t, TupleDesc td, Account *a)
{
	bool		isnull;
	Datum		d;

	a->found = true;
	a->locked = true;			/* account_peek says otherwise */
	a->member = SPI_getvalue(t, td, 1);
	stmt_get_ts(t, td, 2, &a->joined_at);
	d = SPI_getbinval(t, td, 3, &isnull);
	a->has_birthday = !isnull;
	a->birthday = isnull ? 0 : DatumGetDateADT(d);
	a->referred_by = SPI_getvalue(t, td, 4);
	a->referral_paid = DatumGetBool(SPI_getbinval(t, td, 5, &isnull));
	a->tier = tier_index(p, SPI_getvalue(t, td, 6));
	if (a->tier < 0 && p->ntiers > 0)
		a->tier = 0;			/* tier removed from configuration */
	a->has_tier_since = stmt_get_ts(t, td, 7, &a->tier_since);
	a->has_tier_until = stmt_get_ts(t, td, 8, &a->tier_until);
	a->debt = DatumGetInt64(SPI_getbinval(t, td, 9, &isnull));
	a->purchases = DatumGetInt32(SPI_getbinval(t, td, 10, &isnull));
	a->has_last_earn = stmt_get_ts(t, td, 11, &a->last_earn_at);
	a->credited = DatumGetInt64(SPI_getbinval(t, td, 12, &isnull));
	a->has_last_at = stmt_get_ts(t, td, 13, &a->last_at);
	a->has_roll_until = stmt_get_ts(t, td, 14, &a->roll_until);
	a->held = DatumGetInt64(SPI_getbinval(t, td, 15, &isnull));
}

/*
 * Whether an operation at `at` is the member's latest in business time: no
 * operation of the member is dated after it.  The latest operation sees
 * the account's current state as the state at its instant; an earlier one
 * (a back-dated till, a late sync) reads history where it matters.
 */
bool
account_is_latest(const Account *a, TimestampTz at)
{
	return !a->has_last_at || at >= a->last_at;
}

/*
 * 22003 when crediting `points` to the member would take its lifetime
 * credits (hence possibly its balance) past bigint; nothing is written yet.
 */
void
check_credit_range(const Account *a, int64 points)
{
	int64		sum;

	if (pg_add_s64_overflow(a->credited, points, &sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("crediting " INT64_FORMAT " points to member \"%s\" is out of range",
						points, cut(a->member)),
				 errdetail("The member was credited " INT64_FORMAT " points before; a balance must fit in bigint.",
						   a->credited)));
}

/* Lock one member's account row (one statement, one shard). */
static bool
lock_by(Stmt s, Program *p, const char *member, Account *a)
{
	Datum		args[2];

	memset(a, 0, sizeof(Account));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	stmt_exec(s, args, NULL, false, 0, SPI_OK_SELECT);
	if (SPI_processed > 0)
		account_from_row(p, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, a);
	return a->found;
}

static bool
lock_one(Program *p, const char *member, Account *a)
{
	return lock_by(ST_ACCOUNT_LOCK, p, member, a);
}

/* Lock the member unless another transaction holds it: false when busy or unknown. */
bool
account_lock_nowait(Program *p, const char *member, Account *a)
{
	return lock_by(ST_ACCOUNT_LOCK_SKIP, p, member, a);
}

/*
 * Whether member a sorts before b as ORDER BY member sorts them (the
 * column's collation, the database's default): the batch procedures lock
 * members in that order, so two members are locked in it too.
 */
bool
member_before(const char *a, const char *b)
{
	return varstr_cmp(a, strlen(a), b, strlen(b), DEFAULT_COLLATION_OID) < 0;
}

/*
 * Lock the member's account.  When referrer is given and the program has a
 * referral rule, the member's unpaid referrer is locked too, both in member
 * order.  Who referred a member never changes once it is enrolled, so it
 * is read first without a lock.  Returns whether the member exists.
 */
bool
account_lock(Program *p, const char *member, Account *a, Account *referrer)
{
	if (referrer != NULL)
		memset(referrer, 0, sizeof(Account));
	if (referrer != NULL && p->any_referral)
	{
		Datum		args[2];

		args[0] = Int32GetDatum(p->id);
		args[1] = CStringGetTextDatum(member);
		/*
		 * Not read-only: a read-only statement would use the caller's
		 * snapshot, which may predate the member's enrolment (enroll() and
		 * earn() in one statement, or a concurrent enrolment that committed
		 * since): the referrer must be seen, else it would go unpaid.
		 */
		stmt_exec(ST_REFERRER, args, NULL, false, 1, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			bool		isnull;
			char	   *by = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			bool		paid = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &isnull));

			if (by != NULL && !paid && strcmp(by, member) != 0)
			{
				accounts_lock_pair(p, member, by, a, referrer);
				/* paid meanwhile: the referrer row is not used */
				if (referrer->found &&
					(!a->found || a->referred_by == NULL || a->referral_paid ||
					 strcmp(a->referred_by, referrer->member) != 0))
					referrer->found = false;
				return a->found;
			}
		}
	}
	return lock_one(p, member, a);
}

/* Read the member's account without locking it (quote, balance). */
bool
account_peek(Program *p, const char *member, Account *a)
{
	Datum		args[2];

	memset(a, 0, sizeof(Account));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	stmt_exec(ST_ACCOUNT_PEEK, args, NULL, true, 1, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		account_from_row(p, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, a);
		a->locked = false;
	}
	return a->found;
}

/*
 * Lock two different members in member order, one statement each: on
 * Citus each goes to its member's shard.
 */
void
accounts_lock_pair(Program *p, const char *m1, const char *m2, Account *a1, Account *a2)
{
	if (member_before(m2, m1))
	{
		lock_one(p, m2, a2);
		lock_one(p, m1, a1);
	}
	else
	{
		lock_one(p, m1, a1);
		lock_one(p, m2, a2);
	}
}

/* Lock a member that must exist (LY003 otherwise). */
void
require_member(Program *p, const char *member, Account *a)
{
	if (!account_lock(p, member, a, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_MEMBER),
				 errmsg("unknown member \"%s\" in program \"%s\"", cut(member), cut(p->code))));
}

static void
prior_op(Program *p, const char *member, const char *ref, PriorOp *op)
{
	Datum		args[3];
	HeapTuple	t;
	TupleDesc	td;
	bool		isnull;
	Datum		d;

	memset(op, 0, sizeof(PriorOp));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(ref);
	stmt_exec(ST_LEDGER_BY_REF, args, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	t = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	op->found = true;
	op->kind = SPI_getvalue(t, td, 1);
	op->points = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
	d = SPI_getbinval(t, td, 3, &isnull);
	op->result = isnull ? 0 : DatumGetInt64(d);
	d = SPI_getbinval(t, td, 4, &isnull);
	op->amount = isnull ? NULL : DatumGetNumericCopy(d);
	op->category = SPI_getvalue(t, td, 5);
	op->event = SPI_getvalue(t, td, 6);
	op->original_ref = SPI_getvalue(t, td, 7);
	op->counterparty = SPI_getvalue(t, td, 8);
	op->reason = SPI_getvalue(t, td, 9);
	op->lines = SPI_getvalue(t, td, 10);
	op->merchant = SPI_getvalue(t, td, 11);
}

static void
ref_reused(const char *ref, const char *member, const PriorOp *op, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_REF_REUSED),
			 errmsg("ref \"%s\" of member \"%s\" was already used with different arguments",
					cut(ref), cut(member)),
			 errdetail("The first call with this ref was %s; this call is %s.", op->kind, what),
			 errhint("A retry must repeat the arguments of the first call; use a new ref for a new operation.")));
}

/* Two optional texts are the same (NULL only as NULL). */
static bool
same_text(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

Program *
op_begin(const char *prog)
{
	ly_spi_connect();
	citus_cluster();
	return program_get(prog);
}

/*
 * Whether `ref` of the (locked) member was used by the same operation
 * before: then `prior` holds what it wrote and the caller returns its
 * result.  False when the ref is new.  LY005 when it was used by another
 * operation, or by anything when `call` is NULL (a ref that must be free).
 */
bool
op_replayed(Program *p, const char *member, const char *ref, const PriorOp *call,
			int same, const char *what, PriorOp *prior)
{
	prior_op(p, member, ref, prior);
	if (!prior->found)
		return false;
	if (call != NULL && strcmp(prior->kind, call->kind) == 0 &&
		(!(same & SAME_POINTS) || prior->points == call->points) &&
		(!(same & SAME_AMOUNT) ||
		 (prior->amount == NULL ? call->amount == NULL :
		  call->amount != NULL && num_eq(prior->amount, call->amount))) &&
		(!(same & SAME_CATEGORY) || same_text(prior->category, call->category)) &&
		(!(same & SAME_EVENT) || same_text(prior->event, call->event)) &&
		(!(same & SAME_ORIGINAL_REF) || same_text(prior->original_ref, call->original_ref)) &&
		(!(same & SAME_COUNTERPARTY) || same_text(prior->counterparty, call->counterparty)) &&
		(!(same & SAME_REASON) || same_text(prior->reason, call->reason)) &&
		(!(same & SAME_LINES) || same_text(prior->lines, call->lines)) &&
		(!(same & SAME_MERCHANT) || same_text(prior->merchant, call->merchant)))
		return true;
	ref_reused(ref, member, prior, what);
	return false;				/* not reached */
}

/* The merchant of the member's row with `ref` (NULL: the program's, or no such row). */
const char *
op_merchant_of(Program *p, const char *member, const char *ref)
{
	PriorOp		prior;

	prior_op(p, member, ref, &prior);
	return prior.merchant;
}

/* Whether the (locked) member used `ref` for any operation. */
bool
op_ref_used(Program *p, const char *member, const char *ref)
{
	PriorOp		prior;

	prior_op(p, member, ref, &prior);
	return prior.found;
}

/* The end of an operation's SQL work: its result, read after SPI_finish. */
int64
op_end(int64 result)
{
	SPI_finish();
	return result;
}
