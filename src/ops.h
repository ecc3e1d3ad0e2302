/*
 * ops.h — the operations as C functions, for callers inside the extension
 * (the orders trigger).  They run connected to SPI, with the extension's
 * privileges, after the caller checked the arguments like the SQL
 * functions do.
 */
#ifndef LOYALTY_OPS_H
#define LOYALTY_OPS_H

#include "lots.h"
#include "receipt.h"

/* merchant: where the purchase was made (checked by merchant_resolve), NULL: the program */
extern int64 op_earn(Program *p, const char *member, Numeric amount, const char *ref,
					 TimestampTz at, const char *category, const char *merchant);
/* A receipt of lines (earn_order): rc->is_receipt true, rc->total their sum. */
extern int64 op_earn_receipt(Program *p, const char *member, const Receipt *rc,
							 const char *ref, TimestampTz at, const char *merchant);
extern int64 op_refund(Program *p, const char *member, const char *original_ref,
					   Numeric amount, const char *ref, TimestampTz at);
/* A refund of the lines named (refund_lines): each line's amount, checked like refund_lines'. */
extern int64 op_refund_lines(Program *p, const char *member, const char *original_ref,
							 const ReceiptLine *lines, int n, const char *ref, TimestampTz at);
/*
 * Spend points of a locked member first to expire first, writing the debit
 * row r (ops_spend.c): LY001 when not enough is available at r->at.
 */
extern int64 op_spend(Program *p, Account *a, LedgerRow *r, int64 points, LotPiece **taken,
					  int *ntaken);

#endif
