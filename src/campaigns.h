/*
 * campaigns.h — campaign limits of multiplier and bonus rules
 * (max_per_member, budget) and the offers granted to chosen members
 * (SPEC §8), around the earning arithmetic of calc.c.
 *
 * An earn (and quote) runs:
 *
 *     facts_fill(...);                      ends with campaign_facts()
 *     calc_earn(p, &f, &res);
 *     campaign_apply(p, &a, &f, &res, write);
 *
 * campaign_facts() keeps out the rules the member has used up
 * (max_per_member) and says which offers it holds; campaign_apply() keeps
 * out the budgeted rules whose share would pass what is left of their
 * budget, recomputing until no line passes, and, when `write`, records the
 * budgets spent and uses the offers.
 */
#ifndef LOYALTY_CAMPAIGNS_H
#define LOYALTY_CAMPAIGNS_H

#include "account.h"
#include "calc.h"

extern void campaign_facts(Program *p, const Account *a, EarnFacts *f);
extern void campaign_apply(Program *p, const Account *a, EarnFacts *f, EarnResult *res,
						   bool write);

/* One grant of an offer rule to a member (grant_offer). */
typedef struct OfferGrant
{
	const char *rule;
	int32		uses;
	bool		has_from;
	TimestampTz valid_from;
	bool		has_until;
	TimestampTz valid_until;
	const char *ref;			/* NULL: none */
	TimestampTz at;				/* when granted */
} OfferGrant;

/* LY007 unless `code` is an offer rule of the program. */
extern void offer_rule_check(Program *p, const char *code);

/*
 * Write the grant for the (locked) member; with a ref already used by a
 * grant of the member: nothing when it had the same arguments, else LY005.
 */
extern void offer_grant(Program *p, const char *member, const OfferGrant *g);

#endif
