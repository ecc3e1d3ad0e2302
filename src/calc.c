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
#include "lib/stringinfo.h"

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

/* some line of the receipt has a category of list */
static bool
any_item_in(const EarnFacts *f, char **list, int n)
{
	for (int i = 0; i < f->nitems; i++)
		if (str_in(f->items[i].category, list, n))
			return true;
	return false;
}

/*
 * The rule's conditions about the receipt and the member (all but a
 * multiplier's categories, which are about each line): min_amount compares
 * the total, or with categories the subtotal of the lines in them;
 * categories_all wants a line in each; a bonus's categories want some line
 * in them.  A one-line receipt is the purchase of earn().
 */
static bool
conditions_hold(const Program *p, const Rule *r, int ri, const EarnFacts *f)
{
	if (f->rule_off != NULL && f->rule_off[ri])
		return false;
	if (r->offer && (f->offer_held == NULL || !f->offer_held[ri]))
		return false;
	if (r->weekdays != 0 && (r->weekdays & (1 << f->local.isodow)) == 0)
		return false;
	if (r->ncategories > 0 && !any_item_in(f, r->categories, r->ncategories))
		return false;
	for (int c = 0; c < r->ncategories_all; c++)
		if (!any_item_in(f, &r->categories_all[c], 1))
			return false;
	if (r->ntiers > 0 &&
		(f->tier < 0 || !str_in(p->tiers[f->tier].code, r->tiers, r->ntiers)))
		return false;
	if (r->nmerchants > 0 &&
		(f->merchant == NULL || !str_in(f->merchant, r->merchants, r->nmerchants)))
		return false;
	if (r->birthday_month && f->birthday_month != f->local.month)
		return false;
	if (r->min_amount != NULL)
	{
		Numeric		compared = f->amount;

		if (r->ncategories > 0)
		{
			compared = num_int64(0);
			for (int i = 0; i < f->nitems; i++)
				if (str_in(f->items[i].category, r->categories, r->ncategories))
					compared = num_add(compared, f->items[i].amount);
		}
		if (num_cmp(compared, r->min_amount) < 0)
			return false;
	}
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

/*
 * sum_i amount_i x n_i x cap(m_i) x q_i over the lines, q_i = D / d_i: the
 * numerator of sum e_i over the common denominator D (the product of the
 * lines' distinct rate units), so that one division rounds the receipt.
 */
static Numeric
receipt_sum(const Program *p, const EarnFacts *f, Numeric *const *m, const Numeric *nq,
			const bool *only)
{
	Numeric		sum = num_int64(0);

	for (int i = 0; i < f->nitems; i++)
		if (only == NULL || only[i])
			sum = num_add(sum, num_mul(num_mul(f->items[i].amount, nq[i]), capped(p, *m[i])));
	return sum;
}

void
calc_earn(Program *p, const EarnFacts *f, EarnResult *out)
{
	int			n = f->nitems;
	Numeric    *num = palloc(sizeof(Numeric) * n);	/* the line's rate: num / den */
	Numeric    *den = palloc(sizeof(Numeric) * n);
	Numeric    *nq = palloc(sizeof(Numeric) * n);	/* num_i x D / den_i */
	Numeric   **m = palloc(sizeof(Numeric *) * n);	/* the line's multiplier so far */
	Numeric    *mv = palloc(sizeof(Numeric) * n);
	int		   *nfactors = palloc0(sizeof(int) * n);
	Numeric		D = num_one();
	int64		prev;
	int64		total;
	int		   *best_in_group;

	out->lines = palloc(sizeof(EarnLine) * (p->nrules + 2));
	out->nlines = 0;
	out->item_rate = palloc(sizeof(int) * n);
	out->item_weight = palloc(sizeof(Numeric) * n);
	out->rate_points = palloc0(sizeof(int64) * Max(p->nrules, 1));

	/* each line's rate: the matching category_rate (the last added), else the program's */
	for (int i = 0; i < n; i++)
	{
		num[i] = p->points_per_unit;
		den[i] = p->unit;
		out->item_rate[i] = -1;
		mv[i] = num_one();
		m[i] = &mv[i];
		if (f->items[i].category == NULL)
			continue;
		for (int j = p->nrules - 1; j >= 0; j--)
		{
			Rule	   *r = &p->rules[j];

			if (r->kind == RULE_CATEGORY_RATE && rule_in_force(r, f->at) &&
				strcmp(r->category, f->items[i].category) == 0)
			{
				num[i] = r->ppu;
				den[i] = r->unit;
				out->item_rate[i] = j;
				break;
			}
		}
	}
	out->rate_rule = out->item_rate[0];
	/*
	 * D: the product of the distinct units (few: the program's and the
	 * category rates'), collected once; num_i x D / den_i is num_i times
	 * the other distinct units, exactly
	 */
	{
		Numeric    *units = palloc(sizeof(Numeric) * n);
		int			nunits = 0;

		for (int i = 0; i < n; i++)
		{
			bool		seen = false;

			for (int u = 0; u < nunits && !seen; u++)
				seen = num_eq(units[u], den[i]);
			if (!seen)
			{
				units[nunits++] = den[i];
				D = num_mul(D, den[i]);
			}
		}
		for (int i = 0; i < n; i++)
		{
			nq[i] = num[i];
			for (int u = 0; u < nunits; u++)
				if (!num_eq(units[u], den[i]))
					nq[i] = num_mul(nq[i], units[u]);
		}
	}

	prev = num_round_div(receipt_sum(p, f, m, nq, NULL), D, p->rounding);
	add_line(out, "base", -1, prev);

	/* factors: tier first (every line), then multiplier rules in creation order */
	if (f->tier >= 0 && f->tier < p->ntiers)
	{
		Tier	   *t = &p->tiers[f->tier];
		int64		cur;

		for (int i = 0; i < n; i++)
			mv[i] = combine(p->stacking, mv[i], t->earn_multiplier, nfactors[i]++ == 0);
		cur = num_round_div(receipt_sum(p, f, m, nq, NULL), D, p->rounding);
		if (cur != prev)
			add_line(out, psprintf("tier:%s", t->code), -1, cur - prev);
		prev = cur;
	}
	for (int ri = 0; ri < p->nrules; ri++)
	{
		Rule	   *r = &p->rules[ri];
		bool		applies = false;
		int64		cur;

		if (r->kind != RULE_MULTIPLIER || !rule_in_force(r, f->at) ||
			!conditions_hold(p, r, ri, f))
			continue;
		/* a multiplier's categories are about each line */
		for (int i = 0; i < n; i++)
		{
			if (r->ncategories > 0 &&
				!str_in((char *) f->items[i].category, r->categories, r->ncategories))
				continue;
			mv[i] = combine(p->stacking, mv[i], r->factor, nfactors[i]++ == 0);
			applies = true;
		}
		if (!applies)
			continue;
		cur = num_round_div(receipt_sum(p, f, m, nq, NULL), D, p->rounding);
		add_line(out, r->code, ri, cur - prev);
		prev = cur;
	}
	total = prev;

	/* the lines' weights, and the base points of each category rate's lines */
	{
		bool		all_zero = true;
		bool	   *only = palloc(sizeof(bool) * n);
		Numeric    *one = palloc(sizeof(Numeric) * n);

		for (int i = 0; i < n; i++)
		{
			out->item_weight[i] = num_mul(nq[i], capped(p, mv[i]));
			all_zero = all_zero && num_is_zero(out->item_weight[i]);
			one[i] = num_one();
		}
		if (all_zero)			/* no points at all: by amounts */
			for (int i = 0; i < n; i++)
				out->item_weight[i] = num_one();
		for (int i = 0; i < n; i++)
			m[i] = &one[i];		/* the base: no factor */
		for (int ri = 0; ri < p->nrules; ri++)
		{
			bool		any = false;

			for (int i = 0; i < n; i++)
				any |= only[i] = (out->item_rate[i] == ri);
			if (!any)
				continue;
			out->rate_points[ri] = num_round_div(receipt_sum(p, f, m, nq, only), D, p->rounding);
		}
	}

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

int64
calc_receipt_clawback(int64 points, int n, const Numeric *amount, const Numeric *k,
					  const Numeric *refunded, int64 clawed_back)
{
	Numeric		num = num_int64(0);
	Numeric		den = num_int64(0);
	int64		due;

	for (int i = 0; i < n; i++)
	{
		num = num_add(num, num_mul(k[i], refunded[i]));
		den = num_add(den, num_mul(k[i], amount[i]));
	}
	if (num_is_zero(den))
		return 0;
	due = num_round_div(num_mul(num_int64(points), num), den, ROUND_HALF_UP);
	return Max(due - clawed_back, 0);
}

/* u / 10^scale (u >= 0) as a numeric, written exactly */
static Numeric
ulps_numeric(int64 u, int scale)
{
	char		digits[32];
	StringInfoData s;
	int			len;

	snprintf(digits, sizeof(digits), INT64_FORMAT, u);
	len = strlen(digits);
	initStringInfo(&s);
	for (int i = len; i < scale + 1; i++)
		appendStringInfoChar(&s, '0');
	appendStringInfoString(&s, digits);
	if (scale > 0)
	{
		int			point = s.len - scale;

		appendStringInfoChar(&s, '0');	/* room for the point */
		memmove(s.data + point + 1, s.data + point, scale);
		s.data[point] = '.';
	}
	return num_from_cstring(s.data);
}

Numeric *
calc_spread(Numeric amount, int n, const Numeric *left, int scale)
{
	Numeric    *part = palloc(sizeof(Numeric) * n);
	int64	   *ulps = palloc(sizeof(int64) * n);
	Numeric    *rest = palloc(sizeof(Numeric) * n);
	Numeric		pow = num_one();
	Numeric		all = num_int64(0);
	Numeric		amount_u;
	int64		given = 0;
	int64		want;

	for (int i = 0; i < scale; i++)
		pow = num_mul(pow, num_int64(10));
	for (int i = 0; i < n; i++)
		all = num_add(all, left[i]);
	amount_u = num_mul(amount, pow);
	want = num_round_div(amount_u, num_one(), ROUND_FLOOR);
	for (int i = 0; i < n; i++)
	{
		Numeric		exact = num_mul(amount_u, left[i]);	/* / all: the line's share in ulps */

		ulps[i] = num_is_zero(all) ? 0 : num_round_div(exact, all, ROUND_FLOOR);
		rest[i] = num_is_zero(all) ? num_int64(0) : num_sub(exact, num_mul(num_int64(ulps[i]), all));
		given += ulps[i];
	}
	/* the ulps left over, one each to the lines with the largest remainders */
	while (given < want)
	{
		int			best = -1;

		for (int i = 0; i < n; i++)
			if (num_sign(rest[i]) > 0 && (best < 0 || num_cmp(rest[i], rest[best]) > 0))
				best = i;
		if (best < 0)
			break;
		ulps[best]++;
		rest[best] = num_int64(0);
		given++;
	}
	for (int i = 0; i < n; i++)
		part[i] = ulps_numeric(ulps[i], scale);
	return part;
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
