/*
 * tracking.h — what the app-table trackers share (src/tracking.c): the
 * orders tables of track_orders (orders.c) and the order-lines tables of
 * track_order_lines (order_lines.c).
 *
 * Relations and privileges (the caller's checks, the switch to the
 * extension's owner for loyalty's own writes), the column types loyalty
 * reads and their conversion in C by built-in functions (never a cast),
 * the refs derived from an order's ref, and the calls into the ledger.
 */
#ifndef LOYALTY_TRACKING_H
#define LOYALTY_TRACKING_H

#include "loyalty.h"
#include "receipt.h"
#include "statements.h"

#include "commands/trigger.h"
#include "utils/tuplestore.h"

#define KEY_MAX		200			/* SPEC §3: member and ref, in characters */

/* Relations */
extern char *rel_name(Oid relid);
extern bool rel_exists(Oid relid);
extern bool owns_rel(Oid relid);
extern bool has_schema_usage(Oid nsp);
extern List *rel_parents(Oid relid);
extern Oid	loyalty_namespace(void);
/* relid exists (LY007), the caller owns it and has USAGE on its schema (42501); its quoted name */
extern char *rel_access(Oid relid, const char *verb);
/* a Citus table cannot be tracked (0A000) */
extern void refuse_citus_table(Oid relid, const char *name);
/* the code of program `id` for messages ("#id" when it is gone); needs SPI */
extern char *program_code(int32 id);

/*
 * Run as the extension's owner between as_owner() and as_caller().  An
 * error in between needs no cleanup: the abort of the (sub)transaction
 * restores the user id and security context it started with.
 */
typedef struct UserSwitch
{
	Oid			owner;
	Oid			saved_uid;
	int			saved_ctx;
} UserSwitch;

extern Oid	extension_owner(void);
extern void user_switch_init(UserSwitch *u);
extern void as_owner(UserSwitch *u);
extern void as_caller(UserSwitch *u);

/* SPI runs that restore the caller's memory context and free their results */
extern void plan_run(Stmt s, Datum *args, const char *nulls, int expect, const char *what);
extern void sql_run(const char *sql, int expect);

/* Column types: built-in ones (the base type of a domain) */
extern bool key_type(Oid t);	/* text, varchar, char, smallint, integer, bigint */
extern bool number_type(Oid t); /* numeric, the integers, real, double precision */
extern bool time_type(Oid t);	/* timestamptz, timestamp, date */

/* What a mapped column holds, and so which types it may have */
typedef enum ColKind
{
	COL_KEY,					/* member, ref, order, line, category: key_type */
	COL_NUMBER,					/* amount, refund: number_type */
	COL_TIME					/* at: time_type */
} ColKind;

/*
 * Find column `col` (the `role` of a tracking, e.g. "amount_column") in
 * desc and check its type for `kind` (LY007, naming relname; the hint says
 * which function tracks the table again).  Sets *att and *base (its base type).
 */
extern void column_resolve(TupleDesc desc, const char *relname, const char *role, const char *col,
						   ColKind kind, const char *track_fn, AttrNumber *att, Oid *base);

/* Values, converted in C by built-in functions (never a cast) */
extern char *key_text(Oid base, Datum d);
extern Numeric number_value(Oid base, Datum d);
extern TimestampTz time_value(Program *p, Oid base, Datum d, const char *col);
extern bool num_finite(Numeric n);
/* a usable member or ref: not NULL, not empty, at most KEY_MAX characters */
extern bool key_ok(const char *s);
/* <ref><suffix>, shortened with a hash beyond KEY_MAX characters */
extern char *derived_ref(const char *ref, const char *suffix);

/*
 * A table earns through one tracking only (LY007 otherwise): the
 * order-lines table whose tracking uses relid, as its lines or its orders
 * table (InvalidOid: none), and whether track_orders tracks relid.  As the
 * extension's owner, connected to SPI.
 */
extern Oid	lines_tracking_of(Oid relid);
extern bool orders_tracked(Oid relid);

/* loyalty.<name>() without arguments (a trigger function), InvalidOid when it is not there */
extern Oid	loyalty_function(const char *name);

/* A statement trigger of ours without its transition tables (a hand-made one): 39P01 */
extern void no_transition_table(TriggerData *td, const char *what, const char *track_fn);

/*
 * What an sql_drop event dropped (pg_event_trigger_dropped_objects(), SPI
 * connected): the tables (and their quoted names, beside them), the
 * columns of tables (pairs: relid, column name) and the triggers whose
 * name `ours` accepts (pairs: relid, trigger name).
 */
typedef struct Dropped
{
	List	   *tables;
	List	   *names;
	List	   *cols;
	List	   *trigs;
} Dropped;

extern void dropped_objects(Dropped *d, bool (*ours) (const char *trigger));

/* Read a transition table from its start with a read pointer of our own. */
extern void transition_rewind(Tuplestorestate *ts);

/* What the ledger knows of one order: the member's earn with that ref. */
typedef struct OrderState
{
	bool		known;			/* the ledger has an earn for (member, ref) */
	bool		mine;			/* ... written by the current transaction */
	Numeric		amount;			/* the purchase lot's amount */
	Numeric		refunded;		/* and what has been refunded of it */
} OrderState;

/*
 * The calls into the ledger (connected to SPI, as the extension's owner):
 * the state of one order and the operations, with enable_seqscan = off like
 * the SQL functions.
 */
extern void order_state(Program *p, const char *member, const char *ref, OrderState *st);
extern void order_earn(Program *p, const char *member, Numeric amount, const char *ref,
					   TimestampTz at, const char *category);
extern void order_earn_receipt(Program *p, const char *member, const Receipt *rc,
							   const char *ref, TimestampTz at);
extern void order_refund(Program *p, const char *member, const char *original_ref,
						 Numeric amount, const char *ref, TimestampTz at);
extern void order_refund_lines(Program *p, const char *member, const char *original_ref,
							   const ReceiptLine *lines, int n, const char *ref, TimestampTz at);

#endif
