/*
 * receipt.h — the lines of a receipt as the SQL functions take them
 * (earn_order, quote_order, refund_lines: a JSON array of
 * {"line", "category", "amount"}), checked, and written back into a ledger
 * row's detail.
 */
#ifndef LOYALTY_RECEIPT_H
#define LOYALTY_RECEIPT_H

#include "calc.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* A purchase: its lines and their total; earn() is one line, not a receipt. */
typedef struct Receipt
{
	int			n;
	ReceiptLine *lines;
	Numeric		total;
	bool		is_receipt;		/* from earn_order: the ledger row keeps the lines */
} Receipt;

/* The most lines one receipt may have. */
#define RECEIPT_MAX_LINES 1000

/*
 * The lines of `lines` (a JSON array of objects): "line" (text or number;
 * default the position "1", "2", ...; unique), "category" (text or null;
 * not for refunds), "amount" (a positive number).  Anything else about a
 * line is ignored.  Bad lines are 22023 naming the line.
 */
extern ReceiptLine *receipt_parse(Jsonb *lines, bool with_category, int *n);

/*
 * The lines as one text, to tell a replay from a reused ref: line, category
 * and amount (trailing zeros dropped) of each, in order — what
 * ST_LEDGER_BY_REF computes from a ledger row's detail->'lines'.
 */
extern char *receipt_canonical(const ReceiptLine *l, int n);

/* , "lines": [{"line": ..., "category": ..., "amount": ..., "k": ...}, ...] */
extern void receipt_json(StringInfo s, const ReceiptLine *l, int n, const Numeric *k);

#endif
