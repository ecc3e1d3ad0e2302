/*
 * mall.h — the points mall (SPEC §9): rewards, their stock, redemptions
 * and cancellations (mall.c).
 */
#ifndef LOYALTY_MALL_H
#define LOYALTY_MALL_H

#include "ops.h"

/* A reward as a redemption at one tier sees it (ST_REWARD_GET). */
typedef struct Reward
{
	const char *code;
	int64		points;			/* price of one unit at the member's tier */
	Numeric		cash;			/* cash part of one unit */
	int32		per_member;		/* 0: no limit */
	bool		tier_allowed;
	const char *tiers;			/* the tiers allowed, for messages (NULL: all) */
	bool		has_from;
	TimestampTz valid_from;
	bool		has_until;
	TimestampTz valid_until;
} Reward;

/* The reward at the tier `tier` (NULL: none); LY009 when unknown. */
extern void reward_get(Program *p, const char *code, const char *tier, Reward *w);

#endif
