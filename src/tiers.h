/*
 * tiers.h — tier windows, qualifying values, the tier in force at an
 * instant, upgrades inside operations and evaluation at a period's end.
 */
#ifndef LOYALTY_TIERS_H
#define LOYALTY_TIERS_H

#include "account.h"

/* A member's tier and the end of its period (none: it holds for ever). */
typedef struct TierState
{
	int			tier;			/* index into Program.tiers; -1 when no tiers */
	bool		has_until;
	TimestampTz until;
} TierState;

/* One change of tier found by an evaluation or an upgrade, not yet written. */
typedef struct TierStep
{
	int			from;
	int			to;
	bool		has_until;
	TimestampTz until;
	const char *reason;			/* upgrade | downgrade */
	bool		evaluation;		/* made by an evaluation, not by an operation */
} TierStep;

extern void tier_window_of(Program *p, TimestampTz at, TimestampTz *start, TimestampTz *end);
extern bool tier_window_end(Program *p, TimestampTz at, int ahead, TimestampTz *until);
extern void tier_last_window(Program *p, TimestampTz end_of_period,
							 TimestampTz *start, TimestampTz *end);
extern Numeric qualifying_value(Program *p, const char *member, TimestampTz start, TimestampTz end);
extern int	tier_for_value(Program *p, Numeric value);
extern void tier_after_evaluation(Program *p, int current, Numeric value, TimestampTz period_end,
								  TierState *next);
extern int	tier_evaluate(Program *p, const char *member, TierState *st, TimestampTz upto,
						  TierStep **steps);

extern int	tier_at(Program *p, const Account *a, TimestampTz at, TierState *st,
					TierStep **steps);
extern bool tier_upgrade(Program *p, const Account *a, const TierState *st, TimestampTz at,
						 int64 add_points, Numeric add_spend, int add_orders, TierStep *step);
extern void tier_history_write(Program *p, const char *member, TimestampTz at,
							   const TierStep *step);
extern void tier_replay(Program *p, const char *member, TimestampTz at, TierState *st);
extern void tier_reconcile(Program *p, Account *a, TimestampTz since);

#endif
