/*
 * account.h — one member's account row, locked for the operation, and the
 * idempotency look-up by ref.
 */
#ifndef LOYALTY_ACCOUNT_H
#define LOYALTY_ACCOUNT_H

#include "config_words.h"

typedef struct Account
{
	bool		found;
	bool		locked;			/* by this operation (account_lock); else peeked */
	char	   *member;
	TimestampTz joined_at;
	bool		has_birthday;
	DateADT		birthday;
	char	   *referred_by;	/* NULL when none */
	bool		referral_paid;
	/* the latest-dated tier state (tier history's last change) */
	int			tier;			/* index into Program.tiers; -1 when no tiers */
	bool		has_tier_since;
	TimestampTz tier_since;		/* date of the last tier change */
	bool		has_tier_until;
	TimestampTz tier_until;		/* that tier's period ends here */
	int64		debt;			/* owed and not yet covered by any lot */
	int32		purchases;
	bool		has_last_earn;
	TimestampTz last_earn_at;	/* latest earning (rolling expiry) */
	int64		credited;		/* points ever credited: bounds every balance */
	bool		has_last_at;
	TimestampTz last_at;		/* latest business time of the member's operations */
	bool		has_roll_until;
	TimestampTz roll_until;		/* rolling expiry: when the lots that roll expire */
	int64		held;			/* sum of the member's lot.remaining, kept current by
								 * every change to a lot; written with the account row
								 * (credit_write, ledger_write) */
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

extern bool account_lock(Program *p, const char *member, Account *a, Account *referrer);
extern bool account_peek(Program *p, const char *member, Account *a);
extern void accounts_lock_pair(Program *p, const char *m1, const char *m2,
							   Account *a1, Account *a2);
extern void require_member(Program *p, const char *member, Account *a);
extern void check_credit_range(const Account *a, int64 points);
extern void prior_op(Program *p, const char *member, const char *ref, PriorOp *op);
extern void ref_reused(const char *ref, const char *member, const PriorOp *op,
					   const char *what);
extern bool account_is_latest(const Account *a, TimestampTz at);

#endif
