/*
 * calc.h — the pure earning arithmetic: base points, tier multiplier, rules,
 * stacking and caps, split into lines that sum exactly.
 */
#ifndef LOYALTY_CALC_H
#define LOYALTY_CALC_H

#include "loyalty.h"
#include "timeutil.h"

typedef struct EarnFacts
{
	Numeric		amount;
	const char *category;		/* may be NULL */
	TimestampTz at;
	LocalTime	local;
	int			tier;			/* index into Program.tiers, -1 when none */
	int			birthday_month; /* 0: unknown */
	bool		first_purchase;
	int32	   *orders_before;	/* per rule: purchases in its window; may be NULL */
	const bool *rule_off;		/* per rule: kept from applying (campaigns.c); may be NULL */
	const bool *offer_held;		/* per rule: the member holds a grant of the offer; NULL: none */
} EarnFacts;

typedef struct EarnLine
{
	const char *source;			/* "base", "tier:<code>", rule code */
	int			rule;			/* rule index, -1 for base / tier */
	int64		points;
} EarnLine;

typedef struct EarnResult
{
	int64		total;
	int			nlines;
	EarnLine   *lines;			/* palloc'd, sums exactly to total */
	int			rate_rule;		/* category_rate rule used, -1 for the program rate */
} EarnResult;

extern bool rule_in_force(const Rule *r, TimestampTz at);
extern void calc_earn(Program *p, const EarnFacts *f, EarnResult *out);

/*
 * Points to claw back now from a credit of `points` for a purchase of
 * `amount` of which `refunded` is refunded after this refund and
 * `clawed_back` was clawed before: cumulative and proportional,
 * round_half_up(points x refunded / amount) - clawed_back, never negative.
 */
extern int64 calc_clawback(int64 points, Numeric amount, Numeric refunded, int64 clawed_back);

/* Whether an event rule still pays with `today` / `ever` payouts so far (its caps). */
extern bool calc_event_pays(const Rule *r, int64 today, int64 ever);

#endif
