/*
 * enroll.c — enrolment (explicit or by a first credit), signup event
 * points, referee and referrer points.
 *
 * A member is created in the lowest tier; event rules on 'signup' pay on
 * enrolment and only then; a referred member gets the referral rule's
 * referee_points at enrolment, and its referrer is paid on the referee's
 * first purchase (the referrer's account is locked with the referee's, in
 * member order, one statement each: account.c).
 */
#include "enroll.h"
#include "args.h"
#include "calc.h"
#include "numutil.h"
#include "statements.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/builtins.h"

static bool
member_exists(Program *p, const char *member)
{
	Datum		args[2];

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	stmt_exec(ST_ACCOUNT_EXISTS, args, NULL, false, 1, SPI_OK_SELECT);
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

int64
signup_points(Program *p, TimestampTz at, char **detail)
{
	int64		total = 0;
	const char **codes = palloc(sizeof(char *) * Max(p->nrules, 1));
	int64	   *pts = palloc(sizeof(int64) * Max(p->nrules, 1));
	int			n = 0;

	for (int i = 0; i < p->nrules; i++)
	{
		Rule	   *r = &p->rules[i];

		if (r->kind == RULE_EVENT && strcmp(r->event, "signup") == 0 && rule_in_force(r, at))
		{
			total += r->points;
			codes[n] = r->code;
			pts[n++] = r->points;
		}
	}
	if (detail)
		*detail = rules_json(n, codes, pts);
	return total;
}

/*
 * Create the member's account if it does not exist; credit the signup event
 * and the referee's referral points.  Returns true when this call created it.
 * An existing member only gets a missing birthday filled in (its referrer,
 * if given, is ignored and not checked).
 */
bool
member_enroll(Program *p, const char *member, TimestampTz at,
			  bool has_birthday, DateADT birthday, const char *referred_by)
{
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Account		a;
	int64		signup;
	char	   *signup_detail;
	const Rule *ref_rule;

	if (referred_by != NULL && !member_exists(p, member))
	{
		if (strcmp(referred_by, member) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("member \"%s\" cannot refer itself", cut(member))));
		if (!member_exists(p, referred_by))
			ereport(ERROR,
					(errcode(ERRCODE_LY_NO_MEMBER),
					 errmsg("unknown referrer \"%s\" in program \"%s\"", cut(referred_by), cut(p->code)),
					 errhint("The referrer must be enrolled before the members it refers.")));
	}

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = TimestampTzGetDatum(at);
	args[3] = DateADTGetDatum(birthday);
	nulls[3] = has_birthday ? ' ' : 'n';
	args[4] = referred_by ? CStringGetTextDatum(referred_by) : (Datum) 0;
	nulls[4] = referred_by ? ' ' : 'n';
	/* every member starts in the lowest tier (the cache holds them ascending) */
	args[5] = p->ntiers > 0 ? CStringGetTextDatum(p->tiers[0].code) : (Datum) 0;
	nulls[5] = p->ntiers > 0 ? ' ' : 'n';
	stmt_exec(ST_ACCOUNT_INSERT, args, nulls, false, 0, SPI_OK_INSERT);
	if (SPI_processed == 0)
	{
		if (has_birthday)
		{
			Datum		bargs[3];

			bargs[0] = args[0];
			bargs[1] = args[1];
			bargs[2] = args[3];
			stmt_exec(ST_ACCOUNT_SET_BIRTHDAY, bargs, NULL, false, 0, SPI_OK_UPDATE);
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
member_get_or_enroll(Program *p, const char *member, TimestampTz at,
					 Account *a, Account *referrer)
{
	if (account_lock(p, member, a, referrer))
		return;
	member_enroll(p, member, at, false, 0, NULL);
	if (!account_lock(p, member, a, referrer))
		elog(ERROR, "loyalty: member \"%s\" vanished after enrolment", member);
}

/*
 * The referee's first purchase (purchase_points credited) pays its
 * referrer referrer_points + rounding(points × referrer_share), once.
 */
void
referral_pay(Program *p, Account *referee, Account *referrer, int64 purchase_points,
			 TimestampTz at)
{
	Datum		args[2];
	const Rule *r;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(referee->member);
	stmt_exec(ST_ACCOUNT_REFERRAL_PAID, args, NULL, false, 0, SPI_OK_UPDATE);
	referee->referral_paid = true;

	r = referral_rule(p, at);
	if (referrer->found && r != NULL)
	{
		int64		pts;
		int64		share;
		Credit		rc = {0};

		share = num_round_div(num_mul(num_int64(purchase_points), r->referrer_share),
							  num_one(), p->rounding);
		if (pg_add_s64_overflow(r->referrer_points, share, &pts))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("referral payout of rule \"%s\" is out of range", cut(r->code)),
					 errdetail("The referee's first purchase earned " INT64_FORMAT " points.",
							   purchase_points)));
		if (pts > 0)
		{
			rc.kind = "referral";
			rc.points = pts;
			rc.result = pts;
			rc.at = at;
			rc.counterparty = referee->member;
			rc.reason = "referrer";
			rc.detail = rules_json(1, (const char *const[]) {r->code}, &pts);
			rc.qualifies = true;
			rc.is_earning = true;
			credit_write(p, referrer, &rc);
		}
	}
}
