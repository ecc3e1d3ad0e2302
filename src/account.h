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
	const char *kind;
	int64		points;
	int64		result;
	Numeric		amount;			/* NULL when none */
	const char *category;
	const char *event;
	const char *original_ref;
	const char *counterparty;
	const char *reason;
	const char *lines;			/* a receipt's lines (receipt_canonical), NULL when none */
	const char *merchant;		/* NULL: the program */
} PriorOp;

extern bool account_lock(Program *p, const char *member, Account *a, Account *referrer);
extern bool account_peek(Program *p, const char *member, Account *a);
extern bool account_lock_nowait(Program *p, const char *member, Account *a);
extern bool member_before(const char *a, const char *b);	/* ORDER BY member's order */
extern void accounts_lock_pair(Program *p, const char *m1, const char *m2,
							   Account *a1, Account *a2);
extern void require_member(Program *p, const char *member, Account *a);
extern void check_credit_range(const Account *a, int64 points);
extern bool account_is_latest(const Account *a, TimestampTz at);

/*
 * The skeleton every operation follows (docs/architecture.md):
 *
 *     p = op_begin(prog);                      connect, version check, program
 *     require_member(p, member, &a);           lock (or enroll / lock a pair)
 *     if (op_replayed(p, member, ref, &call, SAME_..., "redeem", &prior))
 *         return op_end(prior.result);         a retry: the first call's result
 *     ... compute, write ...
 *     return op_end(result);
 *
 * op_replayed() looks the ref up after the lock, so a first call that
 * committed while this one waited is seen.  `call` describes this call in
 * the terms of the ledger row the first call wrote (its kind and the fields
 * named by `same`); a ref used by anything else is LY005.
 */
#define SAME_POINTS			0x01
#define SAME_AMOUNT			0x02	/* NULL matches only NULL */
#define SAME_CATEGORY		0x04
#define SAME_EVENT			0x08
#define SAME_ORIGINAL_REF	0x10
#define SAME_COUNTERPARTY	0x20
#define SAME_REASON			0x40
#define SAME_LINES			0x80	/* a receipt's lines; NULL matches only NULL */
#define SAME_MERCHANT		0x100	/* NULL matches only NULL */

extern Program *op_begin(const char *prog);
extern bool op_replayed(Program *p, const char *member, const char *ref, const PriorOp *call,
						int same, const char *what, PriorOp *prior);
extern const char *op_merchant_of(Program *p, const char *member, const char *ref);
extern bool op_ref_used(Program *p, const char *member, const char *ref);
extern int64 op_end(int64 result);

#endif
