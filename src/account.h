/*
 * account.h — one member's account row, locked for the operation.
 */
#ifndef LOYALTY_ACCOUNT_H
#define LOYALTY_ACCOUNT_H

#include "loyalty.h"

typedef struct Account
{
	bool		found;
	char	   *member;
	TimestampTz joined_at;
	bool		has_birthday;
	DateADT		birthday;
	char	   *referred_by;	/* NULL when none */
	bool		referral_paid;
	int			tier;			/* index into Program.tiers; -1 when no tiers */
	bool		has_tier_until;
	TimestampTz tier_until;
	int64		debt;
	int32		purchases;
	bool		has_last_earn;
	TimestampTz last_earn_at;
	int64		credited;		/* points ever credited: bounds every balance */
	bool		credited_column;	/* read from a schema that has account.credited
									 * (0.2.0 on): writes maintain it */
} Account;

/* A prior operation found by its ref. */
typedef struct PriorOp
{
	bool		found;
	char	   *kind;
	int64		points;
	int64		result;
	Numeric		amount;			/* NULL when none */
	char	   *category;
	char	   *event;
	char	   *original_ref;
	char	   *counterparty;
	char	   *reason;
} PriorOp;

/* What a credit writes: one ledger row and (when points > 0 or a purchase) one lot. */
typedef struct Credit
{
	const char *kind;			/* earn, event, referral, adjust */
	int64		points;
	TimestampTz at;
	const char *ref;
	int64		result;
	Numeric		amount;
	const char *category;
	const char *event;
	const char *counterparty;
	const char *reason;
	const char *detail;			/* JSON text or NULL */
	bool		is_purchase;	/* counts in purchases / orders / spend */
	bool		qualifies;		/* counts in qualifying points */
	bool		is_earning;		/* pushes rolling expiry */
} Credit;

extern bool account_lock(Program *p, const char *member, Account *a,
						 Account *referrer);
extern bool account_peek(Program *p, const char *member, Account *a);
extern void accounts_lock_pair(Program *p, const char *m1, const char *m2,
							   Account *a1, Account *a2);
extern bool account_enroll(Program *p, const char *member, TimestampTz at,
						   bool has_birthday, DateADT birthday,
						   const char *referred_by);
extern void account_get_or_enroll(Program *p, const char *member, TimestampTz at,
								  Account *a, Account *referrer);
extern void require_member(Program *p, const char *member, Account *a);
extern void check_credit_range(const Account *a, int64 points);
extern void prior_op(Program *p, const char *member, const char *ref, PriorOp *op);
extern void ref_reused(const char *ref, const char *member, const PriorOp *op,
					   const char *what);

/* A ledger row written by ledger_write(). */
typedef struct LedgerRow
{
	const char *kind;
	int64		points;
	TimestampTz at;
	const char *ref;
	int64		result;
	Numeric		amount;
	const char *original_ref;
	const char *counterparty;
	const char *reason;
	bool		has_qual;
	TimestampTz qual_at;
	int64		qual_points;
	Numeric		qual_spend;
	int32		qual_orders;
} LedgerRow;

/* lots.c */
extern char *rules_json(int n, const char *const *codes, const int64 *points);
extern void ledger_write(Program *p, const char *member, const LedgerRow *r);
extern bool expiry_for(Program *p, TimestampTz at, TimestampTz *expires);
extern TimestampTz available_for(Program *p, TimestampTz at);
extern void credit_write(Program *p, Account *a, Credit *c);
extern int64 lots_balance(Program *p, const char *member, TimestampTz at, int64 debt,
						  int64 *pending, bool with_swept);
extern int64 available_balance(Program *p, const char *member, TimestampTz at,
							   int64 debt, int64 *pending);
typedef struct LotTake
{
	int64		id;
	int64		take;
	bool		has_expiry;
	TimestampTz expires_at;
	TimestampTz earned_at;
} LotTake;
extern int64 lots_take(Program *p, const char *member, TimestampTz at, int64 points,
					   int64 first, bool include_pending, LotTake **out, int *nout);
extern void lots_consume(Program *p, const char *member, TimestampTz at,
						 int64 points);

/* tiers.c */
extern int	tier_after_credit(Program *p, Account *a, TimestampTz at,
							  int64 add_points, Numeric add_spend, int add_orders,
							  TimestampTz *until, bool *has_until);
extern bool tier_window_end(Program *p, TimestampTz at, int ahead, TimestampTz *until);
extern void tier_history_write(Program *p, const char *member, TimestampTz at,
							   int from, int to, const char *reason,
							   bool has_until, TimestampTz until);

/* events.c */
extern int64 signup_points(Program *p, TimestampTz at, char **detail);

#endif
