/*
 * calc.c — the earning arithmetic, free of I/O.
 *
 * Given a program (parsed configuration) and the facts of one purchase, it
 * returns the points and the explanation lines that quote() shows:
 *
 *   rate    = matching category_rate, else points_per_unit / unit
 *   factors = tier earn_multiplier, then matching multiplier rules
 *   m       = product | 1 + sum(f - 1) | max(f), capped by max_multiplier
 *   points  = rounding(amount * rate * m) + matching bonuses
 *
 * Everything is exact numeric; the single rounding is num_round_div().
 * The lines telescope: base = R(amount*rate), the k-th factor's line is
 * R(amount*rate*m_k) - R(amount*rate*m_{k-1}) with m_k the combination of
 * the first k factors, so they always sum to exactly the credited points.
 */
#include "calc.h"
#include "loyalty.h"
#include "args.h"
#include "numutil.h"

#include "common/int.h"

bool
rule_in_force(const Rule *r, TimestampTz at)
{
	if (!r->active)
		return false;
	if (r->has_from && at < r->valid_from)
		return false;
	if (r->has_until && at >= r->valid_until)
		return false;
	return true;
}

static bool
str_in(const char *s, char **list, int n)
{
	if (s == NULL)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool
conditions_hold(const Program *p, const Rule *r, int ri, const EarnFacts *f)
{
	if (f->rule_off != NULL && f->rule_off[ri])
		return false;
	if (r->offer && (f->offer_held == NULL || !f->offer_held[ri]))
		return false;
	if (r->weekdays != 0 && (r->weekdays & (1 << f->local.isodow)) == 0)
		return false;
	if (r->ncategories > 0 && !str_in((char *) f->category, r->categories, r->ncategories))
		return false;
	if (r->ntiers > 0 &&
		(f->tier < 0 || !str_in(p->tiers[f->tier].code, r->tiers, r->ntiers)))
		return false;
	if (r->birthday_month && f->birthday_month != f->local.month)
		return false;
	if (r->min_amount != NULL && num_cmp(f->amount, r->min_amount) < 0)
		return false;
	if (r->first_purchase && !f->first_purchase)
		return false;
	if (r->min_orders > 0 &&
		(f->orders_before == NULL || f->orders_before[ri] < r->min_orders))
		return false;
	return true;
}

static Numeric
combine(StackingMode mode, Numeric m, Numeric f, bool first)
{
	switch (mode)
	{
		case STACK_MULTIPLY:
			return num_mul(m, f);
		case STACK_ADD:
			return num_add(m, num_sub(f, num_one()));
		case STACK_MAX:
			return (first || num_cmp(f, m) > 0) ? f : m;
	}
	return m;
}

static Numeric
capped(const Program *p, Numeric m)
{
	if (p->max_multiplier != NULL && num_cmp(m, p->max_multiplier) > 0)
		return p->max_multiplier;
	return m;
}

static void
add_line(EarnResult *out, const char *source, int rule, int64 points)
{
	EarnLine   *l = &out->lines[out->nlines++];

	l->source = source;
	l->rule = rule;
	l->points = points;
}

void
calc_earn(Program *p, const EarnFacts *f, EarnResult *out)
{
	Numeric		rate_num = p->points_per_unit;
	Numeric		rate_den = p->unit;
	Numeric		base;			/* amount * rate numerator */
	Numeric		m = num_one();
	int64		prev;
	int64		total;
	int			nfactors = 0;
	int		   *best_in_group;

	out->lines = palloc(sizeof(EarnLine) * (p->nrules + 2));
	out->nlines = 0;
	out->rate_rule = -1;

	/* rate: the matching category_rate (the last added), else the program's */
	if (f->category != NULL)
	{
		/* when several match, the one added last wins */
		for (int i = p->nrules - 1; i >= 0; i--)
		{
			Rule	   *r = &p->rules[i];

			if (r->kind == RULE_CATEGORY_RATE && rule_in_force(r, f->at) &&
				strcmp(r->category, f->category) == 0)
			{
				rate_num = r->ppu;
				rate_den = r->unit;
				out->rate_rule = i;
				break;
			}
		}
	}
	base = num_mul(f->amount, rate_num);
	prev = num_round_div(num_mul(base, capped(p, m)), rate_den, p->rounding);
	add_line(out, "base", -1, prev);

	/* factors: tier first, then multiplier rules in creation order */
	if (f->tier >= 0 && f->tier < p->ntiers)
	{
		Tier	   *t = &p->tiers[f->tier];
		int64		cur;

		m = combine(p->stacking, m, t->earn_multiplier, true);
		nfactors++;
		cur = num_round_div(num_mul(base, capped(p, m)), rate_den, p->rounding);
		if (cur != prev)
			add_line(out, psprintf("tier:%s", t->code), -1, cur - prev);
		prev = cur;
	}
	for (int i = 0; i < p->nrules; i++)
	{
		Rule	   *r = &p->rules[i];
		int64		cur;

		if (r->kind != RULE_MULTIPLIER || !rule_in_force(r, f->at) ||
			!conditions_hold(p, r, i, f))
			continue;
		m = combine(p->stacking, m, r->factor, nfactors == 0);
		nfactors++;
		cur = num_round_div(num_mul(base, capped(p, m)), rate_den, p->rounding);
		add_line(out, r->code, i, cur - prev);
		prev = cur;
	}
	total = prev;

	/* flat bonuses; within a group only the largest qualifying one */
	best_in_group = palloc(sizeof(int) * Max(p->nrules, 1));
	for (int i = 0; i < p->nrules; i++)
	{
		Rule	   *r = &p->rules[i];

		best_in_group[i] = -1;
		if (r->kind != RULE_BONUS || !rule_in_force(r, f->at) ||
			!conditions_hold(p, r, i, f))
			continue;
		best_in_group[i] = i;
	}
	for (int i = 0; i < p->nrules; i++)
	{
		Rule	   *r = &p->rules[i];
		bool		beaten = false;

		if (best_in_group[i] < 0)
			continue;
		if (r->group != NULL)
		{
			for (int j = 0; j < p->nrules && !beaten; j++)
			{
				Rule	   *o = &p->rules[j];

				if (j == i || best_in_group[j] < 0 || o->group == NULL ||
					strcmp(o->group, r->group) != 0)
					continue;
				/* larger wins; on a tie the earlier rule */
				if (o->points > r->points || (o->points == r->points && j < i))
					beaten = true;
			}
		}
		if (beaten)
			continue;
		if (pg_add_s64_overflow(total, r->points, &total))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("points out of range for amount %s", cut(num_to_cstring(f->amount)))));
		add_line(out, r->code, i, r->points);
	}
	out->total = total;
}

int64
calc_clawback(int64 points, Numeric amount, Numeric refunded, int64 clawed_back)
{
	int64		due;

	if (num_is_zero(amount))
		return 0;
	due = num_round_div(num_mul(num_int64(points), refunded), amount, ROUND_HALF_UP);
	return Max(due - clawed_back, 0);
}

bool
calc_event_pays(const Rule *r, int64 today, int64 ever)
{
	if (r->max_per_day > 0 && today >= r->max_per_day)
		return false;
	if (r->max_total > 0 && ever >= r->max_total)
		return false;
	return true;
}
