/*
 * loyalty.h — shared types of the loyalty extension.
 *
 * Flow is one-way: the SQL-callable functions (ops_*.c, config_api.c) check
 * arguments, lock the member (account.c), read configuration from the
 * per-backend cache (config.c), compute with the pure arithmetic (calc.c,
 * timeutil.c) and run the statements of the catalogue (statements.c).
 */
#ifndef LOYALTY_H
#define LOYALTY_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "pgtime.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* ---- SQLSTATEs of SPEC §6 ---- */
#define ERRCODE_LY_INSUFFICIENT   MAKE_SQLSTATE('L','Y','0','0','1')
#define ERRCODE_LY_NO_PROGRAM     MAKE_SQLSTATE('L','Y','0','0','2')
#define ERRCODE_LY_NO_MEMBER      MAKE_SQLSTATE('L','Y','0','0','3')
#define ERRCODE_LY_NO_ORIGINAL    MAKE_SQLSTATE('L','Y','0','0','4')
#define ERRCODE_LY_REF_REUSED     MAKE_SQLSTATE('L','Y','0','0','5')
#define ERRCODE_LY_OVER_REFUND    MAKE_SQLSTATE('L','Y','0','0','6')
#define ERRCODE_LY_CONFIG         MAKE_SQLSTATE('L','Y','0','0','7')
#define ERRCODE_LY_CODE_USED      MAKE_SQLSTATE('L','Y','0','0','8')
#define ERRCODE_LY_UNKNOWN        MAKE_SQLSTATE('L','Y','0','0','9')	/* code, reward, merchant */
#define ERRCODE_LY_OUT_OF_STOCK   MAKE_SQLSTATE('L','Y','0','1','0')
#define ERRCODE_LY_NOT_ALLOWED    MAKE_SQLSTATE('L','Y','0','1','1')
#define ERRCODE_LY_UNKNOWN_ITEM   ERRCODE_LY_UNKNOWN

/* ---- configuration enums ---- */
typedef enum { ROUND_FLOOR, ROUND_HALF_UP, ROUND_CEIL } RoundingMode;
typedef enum { STACK_MULTIPLY, STACK_ADD, STACK_MAX } StackingMode;
typedef enum { EXPIRY_NONE, EXPIRY_FIXED, EXPIRY_END_OF_PERIOD, EXPIRY_ROLLING } ExpiryPolicy;
typedef enum { PERIOD_MONTH, PERIOD_QUARTER, PERIOD_YEAR } PeriodUnit;
typedef enum { BASIS_POINTS, BASIS_SPEND, BASIS_ORDERS } TierBasis;
typedef enum { WINDOW_CALENDAR_YEAR, WINDOW_ROLLING_YEAR, WINDOW_LIFETIME } TierWindow;
typedef enum { DOWNGRADE_TO_QUALIFIED, DOWNGRADE_ONE_STEP, DOWNGRADE_NEVER } DowngradePolicy;
typedef enum
{
	RULE_MULTIPLIER, RULE_BONUS, RULE_CATEGORY_RATE, RULE_EVENT, RULE_STREAK, RULE_REFERRAL
} RuleKind;

typedef struct Tier
{
	char	   *code;
	Numeric		threshold;
	Numeric		earn_multiplier;
	Numeric		points_per_value;	/* never NULL: program rate filled in */
} Tier;

typedef struct Rule
{
	char	   *code;
	RuleKind	kind;
	bool		active;
	bool		has_from;
	bool		has_until;
	TimestampTz valid_from;
	TimestampTz valid_until;

	/* conditions (multiplier, bonus) */
	uint8		weekdays;		/* bit d set: ISO weekday d allowed; 0 = any */
	int			ncategories;
	char	  **categories;
	int			ncategories_all;	/* the receipt has lines in every one */
	char	  **categories_all;
	int			ntiers;
	char	  **tiers;
	int			nmerchants;		/* the purchase was made at one of them */
	char	  **merchants;
	bool		birthday_month;
	Numeric		min_amount;		/* NULL: no condition */
	bool		first_purchase;
	int32		min_orders;		/* 0: no condition */
	Interval	orders_window;

	/* effects */
	Numeric		factor;			/* multiplier */
	int64		points;			/* bonus, event, streak */
	char	   *group;			/* bonus */
	char	   *category;		/* category_rate */
	Numeric		ppu;			/* category_rate */
	Numeric		unit;			/* category_rate */
	char	   *event;			/* event, streak */
	int64		max_per_day;	/* event: 0 = no cap */
	int64		max_total;		/* event: 0 = no cap */
	int32		days;			/* streak */
	int64		referrer_points;
	Numeric		referrer_share;
	int64		referee_points;

	/* campaign limits (multiplier, bonus; campaigns.c) */
	int32		max_per_member; /* 0: no limit */
	int64		budget;			/* points the rule may award in the program; 0: none */
	bool		offer;			/* applies only to members holding a grant of it */
} Rule;

typedef struct Program
{
	int32		id;
	char	   *code;
	Numeric		points_per_unit;
	Numeric		unit;
	RoundingMode rounding;
	StackingMode stacking;
	Numeric		max_multiplier; /* NULL: no cap */
	Numeric		points_per_value;
	ExpiryPolicy expiry;
	bool		has_expiry_after;
	Interval	expiry_after;
	PeriodUnit	expiry_period;
	Interval	pending_for;
	bool		has_pending;
	TierBasis	tier_basis;
	TierWindow	tier_window;
	DowngradePolicy downgrade;
	char	   *timezone;
	pg_tz	   *tz;

	int			ntiers;			/* ascending threshold; [0] has threshold 0 */
	Tier	   *tiers;
	int			nrules;			/* in creation order */
	Rule	   *rules;
	int			nmerchants;		/* alliance merchants (merchants.c), by code */
	char	  **merchants;
	bool		any_min_orders; /* some rule needs an order count */
	bool		any_referral;
} Program;

#endif							/* LOYALTY_H */
