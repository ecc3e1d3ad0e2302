/*
 * orders.h — orders tables the app already has (src/orders.c):
 * track_orders, untrack_orders, the statement triggers on the app's table
 * and the event triggers that keep them right.  What it shares with the
 * order-lines tables (order_lines.c) is in tracking.h.
 */
#ifndef LOYALTY_ORDERS_H
#define LOYALTY_ORDERS_H

#include "tracking.h"

#endif
