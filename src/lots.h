/*
 * lots.h — credits into lots, first-to-expire-first spending, debt, and
 * balances in business time.
 */
#ifndef LOYALTY_LOTS_H
#define LOYALTY_LOTS_H

#include "tiers.h"

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
	const char *merchant;		/* where it was issued; NULL: the program */
	bool		is_purchase;	/* counts in purchases / orders / spend */
	bool		qualifies;		/* counts in qualifying points */
	bool		is_earning;		/* pending_for applies; pushes rolling expiry */
} Credit;

/* A ledger row that is not a credit (debits, refunds, transfers). */
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
	int64		pending_points; /* part of points that counts from pending_until */
	TimestampTz pending_until;
	const char *detail;			/* jsonb text, NULL when none */
	const char *merchant;		/* where it was spent / the original's; NULL: the program */
} LedgerRow;

/* Points taken from one lot. */
typedef struct LotPiece
{
	int64		id;
	int64		take;
	bool		has_expiry;
	TimestampTz expires_at;
	TimestampTz earned_at;
} LotPiece;

/* A member's balances at an instant, projected from its lots. */
typedef struct Balance
{
	int64		available;		/* spendable: available lots minus debt */
	int64		pending;		/* points of lots not yet available */
	int64		debt;			/* owed, including what pending lots will repay */
} Balance;

extern bool expiry_for(Program *p, TimestampTz at, TimestampTz available_at, TimestampTz *expires);
extern TimestampTz available_for(Program *p, TimestampTz at);
extern char *rules_json(int n, const char *const *codes, const int64 *points);

extern void credit_write(Program *p, Account *a, Credit *c);
extern void ledger_write(Program *p, Account *a, const LedgerRow *r);
extern int64 lots_take(Program *p, Account *a, TimestampTz at, int64 points, int64 exclude,
					   LotPiece **out, int *nout);
extern void lots_give(Program *p, Account *a, TimestampTz at, const char *ref, const char *source,
					  const LotPiece *pieces, int n);
extern void debt_settle(Program *p, Account *a, TimestampTz at);
extern void lot_expire_now(Program *p, const char *member, int64 lot_id,
						   TimestampTz expires_at, int64 points);
extern void lots_write_corrections(Program *p, const char *member, int n, const int64 *lot_ids,
								   const int64 *points, const TimestampTz *at, const char *reason);

extern void balance_projected(Program *p, const Account *a, TimestampTz at, Balance *b);
extern int64 balance_at(Program *p, const Account *a, TimestampTz at);

#endif
