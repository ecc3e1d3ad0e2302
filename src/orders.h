/*
 * orders.h — orders tables the app already has (src/orders.c).
 *
 * The calls into the ledger that the orders trigger and the backfill make:
 * the state of one order, and the two operations.  They go through kept SPI
 * plans today; they are kept in this small surface so that they can become
 * direct C calls of the operations without touching the rules around them.
 */
#ifndef LOYALTY_ORDERS_H
#define LOYALTY_ORDERS_H

#include "loyalty.h"

/* What the ledger knows of one order: the member's earn with that ref. */
typedef struct OrderState
{
	bool		known;			/* the ledger has an earn for (member, ref) */
	bool		mine;			/* ... written by the current transaction */
	Numeric		amount;			/* the purchase lot's amount */
	Numeric		refunded;		/* and what has been refunded of it */
} OrderState;

extern void order_state(Program *p, const char *member, const char *ref, OrderState *st);
extern void order_earn(Program *p, const char *member, Numeric amount, const char *ref,
					   TimestampTz at, const char *category);
extern void order_refund(Program *p, const char *member, const char *original_ref,
						 Numeric amount, const char *ref, TimestampTz at);

#endif
