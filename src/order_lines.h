/*
 * order_lines.h — order-lines tables the app already has (src/order_lines.c):
 * track_order_lines / untrack_order_lines, the triggers on the app's lines
 * table (one receipt per order, earned when the transaction's lines are
 * complete) and the sql_drop event trigger that keeps them right.  What it
 * shares with orders.c is in tracking.h.
 */
#ifndef LOYALTY_ORDER_LINES_H
#define LOYALTY_ORDER_LINES_H

#include "tracking.h"

#endif
