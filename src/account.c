/*
 * account.c — locking members, enrolment, idempotency look-ups.
 *
 * Locking rules (the whole extension follows them, so nothing deadlocks):
 *  - Every operation on a member first locks that member's row of
 *    loyalty.account with SELECT ... FOR UPDATE, before touching its lots,
 *    ledger or streaks.  Members are independent: operations on different
 *    members never wait on each other.
 *  - An operation on two members (transfer; earn that pays a referrer) locks
 *    both rows in ONE statement, ordered by member (ORDER BY member FOR
 *    UPDATE locks after sorting), so any two such operations take the locks
 *    in the same order.
 *  - Scheduled procedures lock members the same way, one member at a time
 *    (maintenance.c), and never hold a member lock while waiting for another.
 *  - The idempotency look-up by ref runs after the lock, as its own
 *    statement, so in READ COMMITTED it sees a concurrent first call that
 *    committed while we waited.
 */
#include "account.h"

#include "catalog/namespace.h"
#include "common/int.h"
#include "utils/lsyscache.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"

/* [0]: a 0.1.0 schema (no account.credited yet), [1]: the current one */
static SPIPlanPtr plan_lock[2];
static SPIPlanPtr plan_lock_referrer[2];
static SPIPlanPtr plan_lock_pair[2];
static SPIPlanPtr plan_peek[2];
static SPIPlanPtr plan_enroll = NULL;
static SPIPlanPtr plan_prior = NULL;
static SPIPlanPtr plan_birthday = NULL;
static SPIPlanPtr plan_exists = NULL;

#define ACCOUNT_COLUMNS_WITH(credited) \
	"member, joined_at, birthday, referred_by, referral_paid, tier, tier_until, " \
	"debt, purchases, last_earn_at, " credited " "
/* the same statement for both schemas: q is a macro taking the column list */
#define BY_SCHEMA(v, q) ((v) ? q(ACCOUNT_COLUMNS_WITH("credited")) : q(ACCOUNT_COLUMNS_WITH("0::int8")))

/*
 * Whether loyalty.account has the credited column (0.2.0 on).  The C code of
 * a new version keeps working on a database whose extension was not yet
 * updated (ALTER EXTENSION loyalty UPDATE): three syscache look-ups, once per
 * account read; the writes that follow go by Account.credited_column (the
 * schema cannot change while we hold the member's row lock).
 */
static bool
schema_has_credited(void)
{
	Oid			nsp = get_namespace_oid("loyalty", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("account", nsp) : InvalidOid;

	return OidIsValid(rel) && get_attnum(rel, "credited") != InvalidAttrNumber;
}

static void
account_from_row(Program *p, HeapTuple t, TupleDesc td, Account *a, int v)
{
	bool		isnull;
	Datum		d;
	char	   *tier;

	a->found = true;
	a->member = SPI_getvalue(t, td, 1);
	a->joined_at = DatumGetTimestampTz(SPI_getbinval(t, td, 2, &isnull));
	d = SPI_getbinval(t, td, 3, &isnull);
	a->has_birthday = !isnull;
	a->birthday = isnull ? 0 : DatumGetDateADT(d);
	a->referred_by = SPI_getvalue(t, td, 4);
	a->referral_paid = DatumGetBool(SPI_getbinval(t, td, 5, &isnull));
	tier = SPI_getvalue(t, td, 6);
	a->tier = tier_index(p, tier);
	if (a->tier < 0 && p->ntiers > 0)
		a->tier = 0;			/* tier removed from configuration */
	d = SPI_getbinval(t, td, 7, &isnull);
	a->has_tier_until = !isnull;
	a->tier_until = isnull ? 0 : DatumGetTimestampTz(d);
	a->debt = DatumGetInt64(SPI_getbinval(t, td, 8, &isnull));
	a->purchases = DatumGetInt32(SPI_getbinval(t, td, 9, &isnull));
	d = SPI_getbinval(t, td, 10, &isnull);
	a->has_last_earn = !isnull;
	a->last_earn_at = isnull ? 0 : DatumGetTimestampTz(d);
	a->credited = DatumGetInt64(SPI_getbinval(t, td, 11, &isnull));
	a->credited_column = v != 0;
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
						points, a->member),
				 errdetail("The member was credited " INT64_FORMAT " points before; a balance must fit in bigint.",
						   a->credited)));
}

/*
 * Lock the member's account.  When referrer is given and the program has a
 * referral rule, the member's unpaid referrer is locked in the same
 * statement (sorted).  Returns whether the member exists.
 */
bool
account_lock(Program *p, const char *member, Account *a, Account *referrer)
{
	Datum		args[2];
	Oid			types[2] = {INT4OID, TEXTOID};
	SPIPlanPtr	plan;
	int			v = schema_has_credited() ? 1 : 0;

	memset(a, 0, sizeof(Account));
	if (referrer)
		memset(referrer, 0, sizeof(Account));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	if (referrer != NULL && p->any_referral)
#define Q_LOCK_REFERRER(cols) \
	"SELECT " cols "FROM loyalty.account " \
	"WHERE program_id = $1 AND (member = $2 OR member = " \
	"  (SELECT r.referred_by FROM loyalty.account r " \
	"   WHERE r.program_id = $1 AND r.member = $2 AND NOT r.referral_paid)) " \
	"ORDER BY member FOR UPDATE"
#define Q_LOCK(cols) \
	"SELECT " cols "FROM loyalty.account WHERE program_id = $1 AND member = $2 FOR UPDATE"
		plan = plan_get(&plan_lock_referrer[v], BY_SCHEMA(v, Q_LOCK_REFERRER), 2, types);
	else
		plan = plan_get(&plan_lock[v], BY_SCHEMA(v, Q_LOCK), 2, types);
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: locking account failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		char	   *m = SPI_getvalue(t, SPI_tuptable->tupdesc, 1);

		if (strcmp(m, member) == 0)
			account_from_row(p, t, SPI_tuptable->tupdesc, a, v);
		else if (referrer != NULL)
			account_from_row(p, t, SPI_tuptable->tupdesc, referrer, v);
	}
	/* a referrer row locked only because of a stale read is not used */
	if (referrer != NULL && referrer->found &&
		(!a->found || a->referred_by == NULL || a->referral_paid ||
		 strcmp(a->referred_by, referrer->member) != 0))
		referrer->found = false;
	return a->found;
}

/* Read the member's account without locking it (quote, balance). */
bool
account_peek(Program *p, const char *member, Account *a)
{
	Datum		args[2];
	Oid			types[2] = {INT4OID, TEXTOID};
	int			v = schema_has_credited() ? 1 : 0;

	memset(a, 0, sizeof(Account));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
#define Q_PEEK(cols) \
	"SELECT " cols "FROM loyalty.account WHERE program_id = $1 AND member = $2"
	plan_get(&plan_peek[v], BY_SCHEMA(v, Q_PEEK), 2, types);
	if (SPI_execute_plan(plan_peek[v], args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading account failed");
	if (SPI_processed > 0)
		account_from_row(p, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, a, v);
	return a->found;
}

/* Lock two different members in member order, in one statement. */
void
accounts_lock_pair(Program *p, const char *m1, const char *m2, Account *a1, Account *a2)
{
	Datum		args[3];
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	int			v = schema_has_credited() ? 1 : 0;

	memset(a1, 0, sizeof(Account));
	memset(a2, 0, sizeof(Account));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(m1);
	args[2] = CStringGetTextDatum(m2);
#define Q_LOCK_PAIR(cols) \
	"SELECT " cols "FROM loyalty.account " \
	"WHERE program_id = $1 AND (member = $2 OR member = $3) ORDER BY member FOR UPDATE"
	plan_get(&plan_lock_pair[v], BY_SCHEMA(v, Q_LOCK_PAIR), 3, types);
	if (SPI_execute_plan(plan_lock_pair[v], args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: locking accounts failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		char	   *m = SPI_getvalue(t, SPI_tuptable->tupdesc, 1);

		if (strcmp(m, m1) == 0)
			account_from_row(p, t, SPI_tuptable->tupdesc, a1, v);
		else if (strcmp(m, m2) == 0)
			account_from_row(p, t, SPI_tuptable->tupdesc, a2, v);
	}
}

static bool
member_exists(Program *p, const char *member)
{
	Datum		args[2];
	Oid			types[2] = {INT4OID, TEXTOID};

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	plan_get(&plan_exists,
			 "SELECT 1 FROM loyalty.account WHERE program_id = $1 AND member = $2",
			 2, types);
	if (SPI_execute_plan(plan_exists, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading account failed");
	return SPI_processed > 0;
}

static const Rule *
referral_rule(Program *p, TimestampTz at)
{
	for (int i = 0; i < p->nrules; i++)
		if (p->rules[i].kind == RULE_REFERRAL && rule_in_force(&p->rules[i], at))
			return &p->rules[i];
	return NULL;
}

/*
 * Create the member's account if it does not exist; credit the signup event
 * and the referee's referral points.  Returns true when this call created it.
 * An existing member only gets a missing birthday filled in.
 */
bool
account_enroll(Program *p, const char *member, TimestampTz at,
			   bool has_birthday, DateADT birthday, const char *referred_by)
{
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Oid			types[5] = {INT4OID, TEXTOID, TIMESTAMPTZOID, DATEOID, TEXTOID};
	Account		a;
	int64		signup;
	char	   *signup_detail;
	const Rule *ref_rule;

	if (referred_by != NULL)
	{
		if (strcmp(referred_by, member) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("member \"%s\" cannot refer itself", member)));
		if (!member_exists(p, referred_by))
			ereport(ERROR,
					(errcode(ERRCODE_LY_NO_MEMBER),
					 errmsg("unknown referrer \"%s\" in program \"%s\"", referred_by, p->code),
					 errhint("The referrer must be enrolled before the members it refers.")));
	}

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(at);
	args[3] = DateADTGetDatum(birthday);
	nulls[3] = has_birthday ? ' ' : 'n';
	args[4] = referred_by ? CStringGetTextDatum(referred_by) : (Datum) 0;
	nulls[4] = referred_by ? ' ' : 'n';
	plan_get(&plan_enroll,
			 "INSERT INTO loyalty.account (program_id, member, joined_at, birthday, referred_by, tier) "
			 "VALUES ($1, $2, $3, $4, $5, "
			 "  (SELECT t.code FROM loyalty.tier t WHERE t.program_id = $1 "
			 "   ORDER BY t.threshold LIMIT 1)) "
			 "ON CONFLICT (program_id, member) DO NOTHING",
			 5, types);
	if (SPI_execute_plan(plan_enroll, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "loyalty: enrolling member failed");
	if (SPI_processed == 0)
	{
		if (has_birthday)
		{
			Oid			btypes[3] = {INT4OID, TEXTOID, DATEOID};

			Datum		bargs[3];

			bargs[0] = args[0];
			bargs[1] = args[1];
			bargs[2] = args[3];
			plan_get(&plan_birthday,
					 "UPDATE loyalty.account SET birthday = $3 "
					 "WHERE program_id = $1 AND member = $2 AND birthday IS NULL",
					 3, btypes);
			if (SPI_execute_plan(plan_birthday, bargs, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "loyalty: updating birthday failed");
		}
		return false;
	}

	/* a new member: signup event and referee points, as credits */
	signup = signup_points(p, at, &signup_detail);
	ref_rule = referred_by ? referral_rule(p, at) : NULL;
	if (signup > 0 || (ref_rule && ref_rule->referee_points > 0))
	{
		account_lock(p, member, &a, NULL);
		if (signup > 0)
		{
			Credit		c = {0};

			c.kind = "event";
			c.event = "signup";
			c.detail = signup_detail;
			c.points = signup;
			c.result = signup;
			c.at = at;
			c.qualifies = true;
			c.is_earning = true;
			credit_write(p, &a, &c);
		}
		if (ref_rule && ref_rule->referee_points > 0)
		{
			Credit		c = {0};

			c.kind = "referral";
			c.points = ref_rule->referee_points;
			c.detail = rules_json(1, (const char *const[]) {ref_rule->code}, &c.points);
			c.result = c.points;
			c.at = at;
			c.counterparty = referred_by;
			c.reason = "referee";
			c.qualifies = true;
			c.is_earning = true;
			credit_write(p, &a, &c);
		}
	}
	return true;
}

/* Lock the member, enrolling it first when unknown (earning operations). */
void
account_get_or_enroll(Program *p, const char *member, TimestampTz at,
					  Account *a, Account *referrer)
{
	if (account_lock(p, member, a, referrer))
		return;
	account_enroll(p, member, at, false, 0, NULL);
	if (!account_lock(p, member, a, referrer))
		elog(ERROR, "loyalty: member \"%s\" vanished after enrolment", member);
}

/* Lock a member that must exist (LY003 otherwise). */
void
require_member(Program *p, const char *member, Account *a)
{
	if (!account_lock(p, member, a, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_MEMBER),
				 errmsg("unknown member \"%s\" in program \"%s\"", member, p->code)));
}

void
prior_op(Program *p, const char *member, const char *ref, PriorOp *op)
{
	Datum		args[3];
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	HeapTuple	t;
	TupleDesc	td;
	bool		isnull;
	Datum		d;

	memset(op, 0, sizeof(PriorOp));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(ref);
	plan_get(&plan_prior,
			 "SELECT kind, points, result, amount, category, event, original_ref, "
			 "       counterparty, reason "
			 "FROM loyalty.ledger WHERE program_id = $1 AND member = $2 AND ref = $3 "
			 "ORDER BY id LIMIT 1",
			 3, types);
	if (SPI_execute_plan(plan_prior, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading ledger failed");
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
}

void
ref_reused(const char *ref, const char *member, const PriorOp *op, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_LY_REF_REUSED),
			 errmsg("ref \"%s\" of member \"%s\" was already used with different arguments",
					ref, member),
			 errdetail("The first call with this ref was %s; this call is %s.", op->kind, what),
			 errhint("A retry must repeat the arguments of the first call; use a new ref for a new operation.")));
}
