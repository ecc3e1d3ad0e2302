/*
 * calc.h — the pure earning arithmetic: base points, tier multiplier, rules,
 * stacking and caps, split into lines that sum exactly.
 */
#ifndef LOYALTY_CALC_H
#define LOYALTY_CALC_H

#include "loyalty.h"
#include "timeutil.h"

/* One line of a receipt (earn() is a receipt of one line). */
typedef struct ReceiptLine
{
	const char *key;			/* "line": unique in the receipt */
	const char *category;		/* may be NULL */
	Numeric		amount;			/* > 0 */
} ReceiptLine;

typedef struct EarnFacts
{
	Numeric		amount;			/* the receipt's total */
	const char *category;		/* a one-line receipt's category; may be NULL */
	int			nitems;			/* the receipt's lines, >= 1 */
	const ReceiptLine *items;
	TimestampTz at;
	LocalTime	local;
	int			tier;			/* index into Program.tiers, -1 when none */
	int			birthday_month; /* 0: unknown */
	bool		first_purchase;
	int32	   *orders_before;	/* per rule: purchases in its window; may be NULL */
	const bool *rule_off;		/* per rule: kept from applying (campaigns.c); may be NULL */
	const bool *offer_held;		/* per rule: the member holds a grant of the offer; NULL: none */
	const char *merchant;		/* where the purchase was made; NULL: the program */
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
	int			rate_rule;		/* category_rate rule used, -1 for the program rate
								 * (a receipt's lines: the first line's) */
	/* per receipt line */
	int		   *item_rate;		/* its category_rate rule, -1 for the program rate */
	Numeric    *item_weight;	/* k_i: the line's e_i = amount_i x k_i / D, so the
								 * share of the points is amount_i x k_i / sum */
	int64	   *rate_points;	/* per rule: base points of the lines at its rate */
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

/*
 * The same for a receipt: after refunds of r_i of line i (cumulative,
 * this refund included), round_half_up(points x sum(k_i r_i) / sum(k_i a_i))
 * less what was clawed before (SPEC: round(P x sum w_i r_i / a_i) with
 * w_i = e_i / sum e and e_i = a_i k_i / D).  All k_i zero: by amounts.
 */
extern int64 calc_receipt_clawback(int64 points, int n, const Numeric *amount, const Numeric *k,
								   const Numeric *refunded, int64 clawed_back);

/*
 * refund(amount) of a receipt: `amount` spread over the lines in proportion
 * to what is left of each (left_i), at `scale` decimals (the largest of the
 * amounts'), by largest remainders: never more than a line's left, summing
 * exactly to amount.  Returns the parts (palloc'd).
 */
extern Numeric *calc_spread(Numeric amount, int n, const Numeric *left, int scale);

/* Whether an event rule still pays with `today` / `ever` payouts so far (its caps). */
extern bool calc_event_pays(const Rule *r, int64 today, int64 ever);

#endif
