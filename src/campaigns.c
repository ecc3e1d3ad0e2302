/*
 * campaigns.c — campaign limits and offers (SPEC §8).
 *
 * Params of multiplier and bonus rules:
 *   max_per_member  the rule applies to at most that many purchases of one
 *                   member: its uses are the member's earn rows whose lines
 *                   name the rule (read from the ledger, so a replay never
 *                   counts twice and a refund gives nothing back);
 *   budget          the most points the rule awards in the program: its
 *                   share of a purchase is its line (a bonus's points, a
 *                   multiplier's extra points), and a purchase whose share
 *                   would pass what is left gets nothing from the rule;
 *   offer           the rule applies only to members holding an unused
 *                   grant of it (loyalty.offer); each purchase it applies
 *                   to uses one.
 *
 * A rule kept out (used up, over budget, no grant) is as if its conditions
 * did not hold: the next bonus of its group may apply instead, and the
 * multipliers after it compute their lines without it.  So a budget is
 * decided on the lines of the final calculation: the first line that
 * passes its budget drops its rule, the purchase is computed again, until
 * no line passes.
 *
 * Locking: the budget rows (loyalty.rule_budget: one per rule, the points
 * spent) are shared by every member of the program.  An earn locks them
 * only when a budgeted rule applies, after the member (and its referrer),
 * all of them in one statement in rule order, and keeps them until it
 * commits: two purchases racing for the last of a budget are serialised,
 * the second sees what the first spent.  quote() reads them without a lock
 * and writes nothing.
 */
#include "campaigns.h"
#include "args.h"
#include "arrays.h"
#include "statements.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static bool
has_limit(const Rule *r)
{
	return r->max_per_member > 0 || r->budget > 0 || r->offer;
}

static int
rule_index(const Program *p, const char *code)
{
	for (int i = 0; i < p->nrules; i++)
		if (strcmp(p->rules[i].code, code) == 0)
			return i;
	return -1;
}

/* A copy of f->rule_off that campaigns may add to. */
static bool *
rules_off(Program *p, EarnFacts *f)
{
	bool	   *off = palloc0(sizeof(bool) * Max(p->nrules, 1));

	if (f->rule_off != NULL)
		memcpy(off, f->rule_off, sizeof(bool) * p->nrules);
	f->rule_off = off;
	return off;
}

/*
 * Before calc_earn: the rules in force whose max_per_member the member
 * reached are off, and the offers it holds at f->at are known.  A member
 * not enrolled yet has used nothing and holds nothing.
 */
void
campaign_facts(Program *p, const Account *a, EarnFacts *f)
{
	char	  **limited;
	int			nlimited = 0;
	bool		any_offer = false;
	Datum		args[3];

	if (!a->found)
		return;
	limited = palloc(sizeof(char *) * Max(p->nrules, 1));
	for (int i = 0; i < p->nrules; i++)
	{
		Rule	   *r = &p->rules[i];

		if (!has_limit(r) || !rule_in_force(r, f->at))
			continue;
		if (r->max_per_member > 0)
			limited[nlimited++] = r->code;
		any_offer |= r->offer;
	}
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	/* locked: read what committed while this operation waited for the member */
	if (nlimited > 0)
	{
		bool	   *off = rules_off(p, f);

		args[2] = text_array(limited, nlimited);
		stmt_exec(ST_RULE_USES, args, NULL, !a->locked, 0, SPI_OK_SELECT);
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			bool		isnull;
			int			ri = rule_index(p, SPI_getvalue(SPI_tuptable->vals[k],
														 SPI_tuptable->tupdesc, 1));
			int32		uses = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k],
														   SPI_tuptable->tupdesc, 2, &isnull));

			if (ri >= 0 && uses >= p->rules[ri].max_per_member)
				off[ri] = true;
		}
	}
	if (any_offer)
	{
		bool	   *held = palloc0(sizeof(bool) * Max(p->nrules, 1));

		args[2] = TimestampTzGetDatum(f->at);
		stmt_exec(ST_OFFERS_HELD, args, NULL, !a->locked, 0, SPI_OK_SELECT);
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			int			ri = rule_index(p, SPI_getvalue(SPI_tuptable->vals[k],
														 SPI_tuptable->tupdesc, 1));

			if (ri >= 0)
				held[ri] = true;
		}
		f->offer_held = held;
	}
}

/* What each budgeted rule has spent; read[i]: its row was read. */
typedef struct Budgets
{
	bool	   *read;
	int64	   *spent;
	bool		lock;
} Budgets;

static bool
budgeted_line(const Program *p, const EarnLine *l)
{
	return l->rule >= 0 && p->rules[l->rule].budget > 0;
}

/*
 * Read (and when b->lock, lock) the budget rows of the rules marked in
 * `want`, one statement, in rule order.  A budgeted rule that never spent
 * may have no row yet: locking makes it first.
 */
static void
budgets_read(Program *p, Budgets *b, const bool *want)
{
	char	  **codes = palloc(sizeof(char *) * Max(p->nrules, 1));
	int			n = 0;
	Datum		args[2];

	for (int i = 0; i < p->nrules; i++)
		if (want[i] && !b->read[i])
			codes[n++] = p->rules[i].code;
	if (n == 0)
		return;
	args[0] = Int32GetDatum(p->id);
	args[1] = text_array(codes, n);
	stmt_exec(b->lock ? ST_BUDGET_LOCK : ST_BUDGET_READ, args, NULL, !b->lock, 0, SPI_OK_SELECT);
	if (b->lock && SPI_processed < (uint64) n)
	{
		for (int k = 0; k < n; k++)
		{
			Datum		add[2] = {Int32GetDatum(p->id), CStringGetTextDatum(codes[k])};

			stmt_exec(ST_BUDGET_ADD, add, NULL, false, 0, SPI_OK_INSERT);
		}
		stmt_exec(ST_BUDGET_LOCK, args, NULL, false, 0, SPI_OK_SELECT);
	}
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int			ri = rule_index(p, SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1));

		if (ri >= 0)
			b->spent[ri] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k],
													   SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (int i = 0; i < p->nrules; i++)
		if (want[i])
			b->read[i] = true;
}

/*
 * The budget rows a purchase may need, all locked at once: its budgeted
 * lines, and the budgeted bonuses of their groups (dropping a bonus lets
 * the next of its group apply).
 */
static void
budgets_first_read(Program *p, const EarnFacts *f, const EarnResult *res, Budgets *b)
{
	bool	   *want = palloc0(sizeof(bool) * Max(p->nrules, 1));

	for (int k = 0; k < res->nlines; k++)
	{
		const Rule *r;

		if (!budgeted_line(p, &res->lines[k]))
			continue;
		want[res->lines[k].rule] = true;
		r = &p->rules[res->lines[k].rule];
		if (r->kind != RULE_BONUS || r->group == NULL)
			continue;
		for (int j = 0; j < p->nrules; j++)
		{
			const Rule *o = &p->rules[j];

			if (o->kind == RULE_BONUS && o->budget > 0 && o->group != NULL &&
				strcmp(o->group, r->group) == 0 && rule_in_force(o, f->at))
				want[j] = true;
		}
	}
	budgets_read(p, b, want);
}

/*
 * The first line whose share passes what is left of its rule's budget, -1
 * when none: an exhausted budget (nothing left) stops its rule altogether.
 */
static int
line_over_budget(Program *p, const EarnResult *res, Budgets *b)
{
	bool	   *want = palloc0(sizeof(bool) * Max(p->nrules, 1));

	/* a budgeted rule no earlier calculation applied (not expected) */
	for (int k = 0; k < res->nlines; k++)
		if (budgeted_line(p, &res->lines[k]))
			want[res->lines[k].rule] = true;
	budgets_read(p, b, want);
	for (int k = 0; k < res->nlines; k++)
	{
		const EarnLine *l = &res->lines[k];
		int64		left;

		if (!budgeted_line(p, l))
			continue;
		left = p->rules[l->rule].budget - b->spent[l->rule];
		if (left <= 0 || Max(l->points, 0) > left)
			return k;
	}
	return -1;
}

/*
 * After calc_earn: the budgeted rules that cannot pay their share are
 * dropped (res recomputed), then, when `write`, the budgets are charged
 * and one grant of each offer rule that applied is used.
 */
void
campaign_apply(Program *p, const Account *a, EarnFacts *f, EarnResult *res, bool write)
{
	bool		any_budget = false;
	bool		any_offer = false;
	Datum		args[4];

	for (int k = 0; k < res->nlines; k++)
	{
		if (res->lines[k].rule < 0)
			continue;
		any_budget |= p->rules[res->lines[k].rule].budget > 0;
		any_offer |= p->rules[res->lines[k].rule].offer;
	}
	if (any_budget)
	{
		Budgets		b;
		bool	   *off = rules_off(p, f);
		int			k;

		b.read = palloc0(sizeof(bool) * Max(p->nrules, 1));
		b.spent = palloc0(sizeof(int64) * Max(p->nrules, 1));
		b.lock = write;
		budgets_first_read(p, f, res, &b);
		while ((k = line_over_budget(p, res, &b)) >= 0)
		{
			off[res->lines[k].rule] = true;
			calc_earn(p, f, res);
		}
	}
	if (!write || !a->found || !(any_budget || any_offer))
		return;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(a->member);
	for (int k = 0; k < res->nlines; k++)
	{
		const EarnLine *l = &res->lines[k];
		const Rule *r;

		if (l->rule < 0)
			continue;
		r = &p->rules[l->rule];
		args[2] = CStringGetTextDatum(r->code);
		if (r->budget > 0 && l->points > 0)
		{
			Datum		spend[3] = {args[0], args[2], Int64GetDatum(l->points)};

			stmt_exec(ST_BUDGET_SPEND, spend, NULL, false, 0, SPI_OK_UPDATE);
		}
		if (r->offer)
		{
			args[3] = TimestampTzGetDatum(f->at);
			stmt_exec(ST_OFFER_USE, args, NULL, false, 0, SPI_OK_UPDATE);
			if (SPI_processed != 1)
				elog(ERROR, "loyalty: member \"%s\" has no grant of offer \"%s\" to use",
					 a->member, r->code);
		}
	}
}

void
offer_rule_check(Program *p, const char *code)
{
	int			ri = rule_index(p, code);

	if (ri < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("unknown rule \"%s\" in program \"%s\"", cut(code), cut(p->code)),
				 errhint("Add the rule with loyalty.add_rule() and \"offer\": true first.")));
	if (!p->rules[ri].offer)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("rule \"%s\" of program \"%s\" is not an offer", cut(code), cut(p->code)),
				 errhint("Only a multiplier or bonus rule with \"offer\": true in its params is granted to members.")));
}

static bool
same_bound(bool has, TimestampTz v, HeapTuple t, TupleDesc td, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(t, td, col, &isnull);

	return isnull ? !has : has && DatumGetTimestampTz(d) == v;
}

void
offer_grant(Program *p, const char *member, const OfferGrant *g)
{
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	if (g->ref != NULL)
	{
		/* after the member's lock: a first call that committed meanwhile is seen */
		args[2] = CStringGetTextDatum(g->ref);
		stmt_exec(ST_OFFER_BY_REF, args, NULL, false, 1, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			HeapTuple	t = SPI_tuptable->vals[0];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *rule = SPI_getvalue(t, td, 1);
			int32		uses = DatumGetInt32(SPI_getbinval(t, td, 2, &isnull));

			if (strcmp(rule, g->rule) == 0 && uses == g->uses &&
				same_bound(g->has_from, g->valid_from, t, td, 3) &&
				same_bound(g->has_until, g->valid_until, t, td, 4))
				return;			/* a retry: granted already */
			ereport(ERROR,
					(errcode(ERRCODE_LY_REF_REUSED),
					 errmsg("ref \"%s\" of member \"%s\" was already used with different arguments",
							cut(g->ref), cut(member)),
					 errdetail("The first grant with this ref was of offer \"%s\" with %d uses.",
							   cut(rule), uses),
					 errhint("A retry must repeat the arguments of the first call; use a new ref for a new grant.")));
		}
	}
	args[2] = CStringGetTextDatum(g->rule);
	args[3] = Int32GetDatum(g->uses);
	args[4] = TimestampTzGetDatum(g->valid_from);
	nulls[4] = g->has_from ? ' ' : 'n';
	args[5] = TimestampTzGetDatum(g->valid_until);
	nulls[5] = g->has_until ? ' ' : 'n';
	args[6] = g->ref != NULL ? CStringGetTextDatum(g->ref) : (Datum) 0;
	nulls[6] = g->ref != NULL ? ' ' : 'n';
	args[7] = TimestampTzGetDatum(g->at);
	stmt_exec(ST_OFFER_INSERT, args, nulls, false, 0, SPI_OK_INSERT);
}
