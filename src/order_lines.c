/*
 * order_lines.c — order-lines tables the app already has:
 * track_order_lines / untrack_order_lines, the triggers on the app's lines
 * table and the sql_drop event trigger that keeps them right (README
 * "Order lines tables").
 *
 * What runs where
 * ---------------
 * track_order_lines() records which columns of the app's lines table hold
 * the order, the line, the amount, the category, the refunded amount and the
 * member (or which orders table holds the member, joined on the order
 * number), in loyalty.tracked_lines_table (view loyalty.tracked_order_lines),
 * and puts four triggers on the table, all executing
 * loyalty._order_lines_trigger():
 *   loyalty_order_lines_earn     CONSTRAINT, AFTER INSERT OR UPDATE OF the
 *                                order (and member) column, FOR EACH ROW,
 *                                DEFERRABLE INITIALLY DEFERRED
 *   loyalty_order_lines_update   AFTER UPDATE  REFERENCING OLD TABLE, NEW TABLE
 *   loyalty_order_lines_delete   AFTER DELETE  REFERENCING OLD TABLE
 *   loyalty_order_lines_truncate BEFORE TRUNCATE (refuses it)
 * and, when the member comes from an orders table, three statement triggers
 * on it, shared by the trackings that use it (made again by each
 * track_order_lines, dropped by the untrack of the last one):
 *   loyalty_order_lines_orders_update   AFTER UPDATE REFERENCING OLD TABLE, NEW TABLE
 *   loyalty_order_lines_orders_delete   AFTER DELETE REFERENCING OLD TABLE
 *   loyalty_order_lines_orders_truncate BEFORE TRUNCATE
 * A line's refund reads its order's member from the orders table, so an
 * order that has earned keeps its member and number (LY005) and its row
 * while something of it is left to refund (LY005); TRUNCATE is refused
 * (55000).  The ledger is read only for rows whose member or number changed,
 * or that are deleted; orders not earned yet change freely.
 *
 * One receipt per order
 * ---------------------
 * An order is (member, order number); its receipt's ref is the order
 * number as text and its lines are the table's lines of that order.  The
 * lines of one order may come in several statements of one transaction (an
 * ORM inserts line by line), so the order earns when the transaction's lines
 * are complete: the deferred row trigger fires at COMMIT (or at SET
 * CONSTRAINTS ... IMMEDIATE), and the first of its events for an order
 * reads that order's current lines with one index-friendly query and earns
 * them as one receipt through the same operation as earn_order().  The
 * order is then remembered for the rest of the transaction (xact_done, with
 * the lines it earned): the events of its other lines find it there and do
 * nothing; a live line it does not have was added after the order earned
 * (inserted after SET CONSTRAINTS ... IMMEDIATE): LY005.  A line inserted
 * and then deleted or moved to another order within the transaction is
 * still an event; it makes its order be read, never counted itself.  Lines
 * of an order that earned in an earlier transaction: LY005.  The memory is
 * dropped at the end of the transaction; a subtransaction that aborts takes
 * the orders it earned with it (its earns are undone, and PostgreSQL fires
 * the events it fired again).
 *
 * The rules for changes (statement triggers, immediate)
 * ----------------------------------------------------
 * A line is "earned" when its order's receipt in the ledger has that line.
 *   UPDATE pair  not earned: nothing (the order earns at commit with its
 *                lines as they are then).  Earned: its order, member, line,
 *                amount or category cannot change (LY005); the refund column
 *                cannot go down (22023), raised it refunds the line up to it
 *                (refund_lines, ref <order>#refund@<line>:<refunded>),
 *                reconciled against what the ledger refunded of the line.
 *   DELETE row   earned: refund what is left of the line
 *                (<order>#delete@<line>).
 *   TRUNCATE     refused (55000).
 *   backfill     every order in the table: unknown -> earned as at commit;
 *                known with the same lines -> the refund columns reconciled
 *                upward; otherwise left alone and counted in one WARNING.
 *
 * Privileges
 * ----------
 * As in orders.c: track_order_lines and untrack_order_lines run as their
 * caller, who must own the lines table and the orders table (whose triggers
 * it makes) and may read the orders table (42501).  The trigger function is not SECURITY DEFINER: the queries on
 * the app's tables (the order's lines, the member in the orders table) run
 * as the role whose statement or COMMIT fires the trigger; only loyalty's
 * own reads and writes (the configuration, the ledger) switch to the
 * extension's owner.  The app's values are converted by built-in C
 * functions (tracking.c); the queries compare with OPERATOR(pg_catalog.=)
 * between built-in types.
 *
 * Plain tables only: partitioned tables, partitions and inheritance are
 * refused (LY007), as are Citus tables (0A000).
 */
#include "order_lines.h"
#include "args.h"
#include "config.h"
#include "numutil.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(loyalty_track_order_lines);
PG_FUNCTION_INFO_V1(loyalty_untrack_order_lines);
PG_FUNCTION_INFO_V1(loyalty_order_lines_trigger);
PG_FUNCTION_INFO_V1(loyalty_order_lines_dropped);

#define BATCH_ROWS	1000		/* backfill: orders fetched at a time */

/* The mapped columns, in the order of loyalty.tracked_lines_table. */
enum
{
	L_ORDER, L_LINE, L_AMOUNT, L_CATEGORY, L_MEMBER, L_AT, L_REFUND, L_OREF, L_OMEMBER, NL
};
static const char *const lcol_role[NL] = {
	"order_column", "line_column", "amount_column", "category_column", "member_column",
	"at_column", "refund_column", "orders_ref_column", "orders_member_column"
};

static const char *const trig_names[] = {
	"loyalty_order_lines_earn", "loyalty_order_lines_update",
	"loyalty_order_lines_delete", "loyalty_order_lines_truncate"
};

/* on the orders table (shared by the trackings that use it): refuse what would orphan earned lines */
static const char *const orders_trig_names[] = {
	"loyalty_order_lines_orders_update", "loyalty_order_lines_orders_delete",
	"loyalty_order_lines_orders_truncate"
};

typedef struct LinesConf
{
	Oid			relid;
	int32		program_id;
	Oid			orders;			/* InvalidOid: member_column on the lines table */
	char	   *col[NL];		/* NULL: not mapped */
	AttrNumber	att[NL];		/* in its table (lines, or orders: see on_orders) */
	Oid			type[NL];		/* base type */
	char	   *relname;
	char	   *ordersname;
} LinesConf;

/* An order that earned in this transaction, and the lines it earned. */
typedef struct DoneOrder
{
	char	   *key;			/* hash key: relid, member, order */
	SubTransactionId subid;		/* the subtransaction that earned it */
	int			n;
	char	  **lines;
} DoneOrder;

/* The lines of one order as the table has them, converted. */
typedef struct OrderLines
{
	char	   *ref;
	char	   *member;
	TimestampTz at;
	int			n;
	ReceiptLine *lines;
	Numeric    *refund;			/* per line, 0 when NULL or not mapped */
	Numeric		total;
} OrderLines;

/* The receipt lines the ledger has for an order (ST_RECEIPT_LINES). */
typedef struct LedgerLines
{
	int			n;
	char	  **key;
	Numeric    *amount;
	Numeric    *refunded;
} LedgerLines;

/* What an error is about (errcontext). */
typedef struct LinesErr
{
	const char *what;
	const char *relname;
	const char *order;
	const char *line;
} LinesErr;

/* per transaction, in TopTransactionContext */
static List *xact_confs = NIL;
static HTAB *xact_done = NULL;
static bool callbacks_on = false;
/* track_order_lines replacing its triggers: the sql_drop check lets them go */
static bool dropping_own_triggers = false;

/* per backend: the kept plans of the queries on the app's tables */
typedef struct KeptPlan
{
	Oid			relid;
	int			which;
	char	   *sql;
	SPIPlanPtr	plan;
} KeptPlan;
static List *kept_plans = NIL;

/* ------------------------------------------------------------------------
 * Per-transaction memory
 * ------------------------------------------------------------------------ */

static void
xact_forget(void)
{
	xact_confs = NIL;
	xact_done = NULL;
	dropping_own_triggers = false;
}

static void
lines_xact_cb(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PARALLEL_PRE_COMMIT &&
		event != XACT_EVENT_PRE_PREPARE)
		xact_forget();
}

static void
lines_subxact_cb(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid,
				 void *arg)
{
	HASH_SEQ_STATUS seq;
	DoneOrder  *d;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	/* the configuration read again; its earns are undone and its events fire again */
	xact_confs = NIL;
	dropping_own_triggers = false;
	if (xact_done == NULL)
		return;
	hash_seq_init(&seq, xact_done);
	while ((d = hash_seq_search(&seq)) != NULL)
		if (d->subid >= mySubid)	/* earned in it, or in one of its children */
			(void) hash_search(xact_done, &d->key, HASH_REMOVE, NULL);
}

static uint32
done_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
done_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The per-transaction memory is forgotten at the end of each (sub)transaction that holds it. */
static void
callbacks_register(void)
{
	if (!callbacks_on)
	{
		RegisterXactCallback(lines_xact_cb, NULL);
		RegisterSubXactCallback(lines_subxact_cb, NULL);
		callbacks_on = true;
	}
}

static HTAB *
done_table(void)
{
	HASHCTL		ctl;

	callbacks_register();
	if (xact_done != NULL)
		return xact_done;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(DoneOrder);
	ctl.hash = done_hash;
	ctl.match = done_match;
	ctl.hcxt = TopTransactionContext;
	xact_done = hash_create("loyalty order lines earned", 256, &ctl,
							HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	return xact_done;
}

/* ------------------------------------------------------------------------
 * The configuration of a lines table
 * ------------------------------------------------------------------------ */

/* Whether column k is one of the orders table's (the at column is when an orders table is given). */
static bool
on_orders(const LinesConf *c, int k)
{
	return k == L_OREF || k == L_OMEMBER || (k == L_AT && OidIsValid(c->orders));
}

static ColKind
lcol_kind(int k)
{
	return k == L_AMOUNT || k == L_REFUND ? COL_NUMBER : k == L_AT ? COL_TIME : COL_KEY;
}

static bool
int_type(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID;
}

/* Find the mapped columns in the tables' descriptors and check their types (LY007). */
static void
conf_resolve(LinesConf *c, TupleDesc lines, TupleDesc orders)
{
	for (int k = 0; k < NL; k++)
	{
		TupleDesc	desc = on_orders(c, k) ? orders : lines;
		const char *rel = on_orders(c, k) ? c->ordersname : c->relname;

		c->att[k] = InvalidAttrNumber;
		c->type[k] = InvalidOid;
		if (c->col[k] == NULL)
			continue;
		column_resolve(desc, rel, lcol_role[k], c->col[k], lcol_kind(k), "track_order_lines",
					   &c->att[k], &c->type[k]);
	}
	if (OidIsValid(c->orders) && int_type(c->type[L_ORDER]) != int_type(c->type[L_OREF]))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("order_column \"%s\" of %s (%s) cannot be matched with orders_ref_column \"%s\" of %s (%s)",
						c->col[L_ORDER], c->relname, format_type_be(c->type[L_ORDER]),
						c->col[L_OREF], c->ordersname, format_type_be(c->type[L_OREF])),
				 errdetail("Both must be of a text type, or both of an integer type.")));
}

/* Resolve c against its tables as they are now (the orders table locked for reading). */
static void
conf_resolve_now(LinesConf *c, TupleDesc lines)
{
	Relation	orel = NULL;

	if (OidIsValid(c->orders))
	{
		if (!rel_exists(c->orders))
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("the orders table of order lines %s (OID %u) does not exist", c->relname, c->orders),
					 errhint("Track the table again with loyalty.track_order_lines().")));
		orel = relation_open(c->orders, AccessShareLock);
		c->ordersname = rel_name(c->orders);
	}
	conf_resolve(c, lines, orel ? RelationGetDescr(orel) : NULL);
	if (orel)
		relation_close(orel, NoLock);
}

/* The recorded configuration of relid (as the owner, connected to SPI), NULL when not tracked. */
static LinesConf *
conf_read(Oid relid)
{
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	MemoryContext cxt = CurrentMemoryContext;
	LinesConf  *c = NULL;
	bool		isnull;

	stmt_exec(ST_LINES_GET, args, NULL, true, 1, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	td = SPI_tuptable->tupdesc;
		Datum		d;

		c = palloc0(sizeof(LinesConf));
		c->relid = relid;
		c->program_id = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		for (int k = 0; k < NL; k++)
			c->col[k] = SPI_getvalue(tup, td, 2 + k);
		d = SPI_getbinval(tup, td, 2 + NL, &isnull);
		c->orders = isnull ? InvalidOid : DatumGetObjectId(d);
		c->relname = rel_name(relid);
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	return c;
}

/* This transaction's copy of relid's configuration (reads it once, connected to SPI). */
static LinesConf *
conf_for(Oid relid, TupleDesc lines, UserSwitch *u)
{
	ListCell   *lc;
	LinesConf  *c;
	MemoryContext old;

	foreach(lc, xact_confs)
	{
		c = lfirst(lc);
		if (c->relid == relid)
			return c;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	as_owner(u);
	c = conf_read(relid);
	as_caller(u);
	if (c != NULL)
	{
		conf_resolve_now(c, lines);
		callbacks_register();	/* xact_confs lives in TopTransactionContext */
		xact_confs = lappend(xact_confs, c);
	}
	MemoryContextSwitchTo(old);
	return c;
}

/* The conf of a trigger call without SPI when it is known already (NULL: not yet). */
static LinesConf *
conf_cached(Oid relid)
{
	ListCell   *lc;

	foreach(lc, xact_confs)
	{
		LinesConf  *c = lfirst(lc);

		if (c->relid == relid)
			return c;
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * The queries on the app's tables (run as the caller)
 * ------------------------------------------------------------------------ */

enum
{
	Q_LINES, Q_MEMBER
};

static SPIPlanPtr
kept_plan(Oid relid, int which, const char *sql, int nargs, Oid *types)
{
	ListCell   *lc;
	KeptPlan   *k = NULL;
	SPIPlanPtr	p;
	MemoryContext old;

	foreach(lc, kept_plans)
	{
		KeptPlan   *e = lfirst(lc);

		if (e->relid == relid && e->which == which)
			k = e;
	}
	if (k != NULL && strcmp(k->sql, sql) == 0 && k->plan != NULL && SPI_plan_is_valid(k->plan))
		return k->plan;
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (k == NULL)
	{
		k = palloc0(sizeof(KeptPlan));
		k->relid = relid;
		k->which = which;
		kept_plans = lappend(kept_plans, k);
	}
	MemoryContextSwitchTo(old);
	if (k->plan != NULL)
		SPI_freeplan(k->plan);
	k->plan = NULL;
	if (k->sql != NULL)
		pfree(k->sql);
	k->sql = MemoryContextStrdup(TopMemoryContext, sql);
	p = SPI_prepare(sql, nargs, types);
	if (p == NULL)
		elog(ERROR, "loyalty: preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "loyalty: keeping the plan of \"%s\" failed", sql);
	k->plan = p;
	return p;
}

static const char *
qcol(const LinesConf *c, int k, const char *alias)
{
	if (c->col[k] == NULL)
		return "NULL";
	return psprintf("%s.%s", alias, quote_identifier(c->col[k]));
}

/*
 * The lines of one order ($1 the order number, $2 the member when the lines
 * table has it): line, amount, category, refund, at, member, whether the
 * orders table has the order.
 */
static SPIPlanPtr
lines_plan(const LinesConf *c)
{
	StringInfoData q;
	Oid			types[2] = {c->type[L_ORDER], c->type[L_MEMBER]};
	bool		joined = OidIsValid(c->orders);

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT %s, %s, %s, %s, %s, %s, %s FROM ONLY %s l",
					 qcol(c, L_LINE, "l"), qcol(c, L_AMOUNT, "l"), qcol(c, L_CATEGORY, "l"),
					 qcol(c, L_REFUND, "l"), qcol(c, L_AT, joined ? "o" : "l"),
					 qcol(c, joined ? L_OMEMBER : L_MEMBER, joined ? "o" : "l"),
					 joined ? psprintf("%s IS NOT NULL", qcol(c, L_OREF, "o")) : "true",
					 c->relname);
	if (joined)
		appendStringInfo(&q, " LEFT JOIN %s o ON %s OPERATOR(pg_catalog.=) %s",
						 c->ordersname, qcol(c, L_OREF, "o"), qcol(c, L_ORDER, "l"));
	appendStringInfo(&q, " WHERE %s OPERATOR(pg_catalog.=) $1", qcol(c, L_ORDER, "l"));
	if (!joined)
		appendStringInfo(&q, " AND %s OPERATOR(pg_catalog.=) $2", qcol(c, L_MEMBER, "l"));
	appendStringInfo(&q, " ORDER BY %s", qcol(c, L_LINE, "l"));
	return kept_plan(c->relid, Q_LINES, q.data, joined ? 1 : 2, types);
}

/* The member of an order in the orders table ($1 the lines' order number). */
static SPIPlanPtr
member_plan(const LinesConf *c)
{
	Oid			types[1] = {c->type[L_ORDER]};

	return kept_plan(c->relid, Q_MEMBER,
					 psprintf("SELECT %s FROM %s o WHERE %s OPERATOR(pg_catalog.=) $1",
							  qcol(c, L_OMEMBER, "o"), c->ordersname, qcol(c, L_OREF, "o")),
					 1, types);
}

/* The member of order `order` (a value of the order column), NULL when unknown. */
static char *
order_member(const LinesConf *c, Datum order, Datum member, bool member_null)
{
	Datum		args[1] = {order};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *m = NULL;
	int			rc;

	if (!OidIsValid(c->orders))
		return member_null ? NULL : key_text(c->type[L_MEMBER], member);
	rc = SPI_execute_plan(member_plan(c), args, NULL, true, 1);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading the member of an order failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			m = key_text(c->type[L_OMEMBER], d);
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	return m;
}

/*
 * An order of an orders table and a change of its row are serialized: the
 * earn takes a share lock of (orders table, the order number's bucket)
 * before it reads the member, a change of the member or number (or a
 * DELETE) an exclusive one before it reads the ledger; both are held to the
 * end of the transaction.  So under READ COMMITTED a change committed while
 * an order is earning is checked against that earn, and an earn waiting for
 * a change reads the member it made.  Earns do not wait for each other.
 * The numbers share ORDER_LOCK_BUCKETS locks per orders table (a COPY of
 * many orders holds that many at most); field 4 keeps them apart from
 * pg_advisory_lock()'s keys (1 and 2).
 */
#define ORDER_LOCK_BUCKETS	128
#define ORDER_LOCK_FIELD4	0x4C59

static void
order_lock(Oid orders, const char *ref, LOCKMODE mode)
{
	LOCKTAG		tag;
	uint32		h = hash_bytes((const unsigned char *) ref, strlen(ref)) % ORDER_LOCK_BUCKETS;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) orders, h, ORDER_LOCK_FIELD4);
	(void) LockAcquire(&tag, mode, false, false);
}

/* A value of column k of order ref that cannot earn: 22023 "<role> "<col>" of <table> <what>". */
static void
need(bool ok, const LinesConf *c, int k, const char *ref, const char *what)
{
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" of %s %s (order \"%s\")", lcol_role[k], c->col[k],
						on_orders(c, k) ? c->ordersname : c->relname, what, cut(ref))));
}

/*
 * Read order `order` (and `member`, when the lines table has it) as the
 * caller and check it as earn_order() would (22023, LY006).  n = 0 when
 * the order has no lines.
 */
static void
order_lines_read(const LinesConf *c, Program *p, Datum order, Datum member, OrderLines *ol)
{
	Datum		args[2] = {order, member};
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;
	bool		has_at = false;

	memset(ol, 0, sizeof(OrderLines));
	ol->ref = key_text(c->type[L_ORDER], order);
	if (OidIsValid(c->orders))
		order_lock(c->orders, ol->ref, ShareLock);
	rc = SPI_execute_plan(lines_plan(c), args, NULL, false, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading the lines of an order failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return;
	if (SPI_processed > RECEIPT_MAX_LINES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order \"%s\" of %s has " UINT64_FORMAT " lines, more than the %d of a receipt",
						cut(ol->ref), c->relname, SPI_processed, RECEIPT_MAX_LINES)));
	ol->n = (int) SPI_processed;
	ol->lines = palloc0(sizeof(ReceiptLine) * ol->n);
	ol->refund = palloc0(sizeof(Numeric) * ol->n);
	ol->total = num_int64(0);
	for (int i = 0; i < ol->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		ReceiptLine *l = &ol->lines[i];
		bool		isnull;
		Datum		d;

		d = SPI_getbinval(tup, td, 1, &isnull);
		need(!isnull, c, L_LINE, ol->ref, "must not be NULL");
		l->key = key_text(c->type[L_LINE], d);
		need(key_ok(l->key), c, L_LINE, ol->ref,
			 psprintf("must not be empty or longer than %d characters", KEY_MAX));
		for (int j = 0; j < i; j++)
			if (strcmp(ol->lines[j].key, l->key) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("order \"%s\" of %s has line \"%s\" twice", cut(ol->ref), c->relname, cut(l->key)),
						 errhint("A line number is unique in its order.")));
		d = SPI_getbinval(tup, td, 2, &isnull);
		need(!isnull, c, L_AMOUNT, ol->ref, "must not be NULL");
		l->amount = number_value(c->type[L_AMOUNT], d);
		if (!num_finite(l->amount) || num_sign(l->amount) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("amount_column \"%s\" of %s must be a number greater than 0, not %s (order \"%s\", line \"%s\")",
							c->col[L_AMOUNT], c->relname, cut(num_to_cstring(l->amount)), cut(ol->ref), cut(l->key))));
		ol->total = num_add(ol->total, l->amount);
		d = SPI_getbinval(tup, td, 3, &isnull);
		if (!isnull)
		{
			char	   *cat = key_text(c->type[L_CATEGORY], d);

			if (cat[0] != '\0')
			{
				check_key(cat, "category");
				l->category = cat;
			}
		}
		d = SPI_getbinval(tup, td, 4, &isnull);
		ol->refund[i] = isnull ? num_int64(0) : number_value(c->type[L_REFUND], d);
		if (!num_finite(ol->refund[i]) || num_sign(ol->refund[i]) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refund_column \"%s\" of %s must be a number not below 0, not %s (order \"%s\", line \"%s\")",
							c->col[L_REFUND], c->relname, cut(num_to_cstring(ol->refund[i])), cut(ol->ref), cut(l->key))));
		if (num_cmp(ol->refund[i], l->amount) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_OVER_REFUND),
					 errmsg("refund_column \"%s\" of %s says %s was refunded of line \"%s\" of order \"%s\", more than its amount %s",
							c->col[L_REFUND], c->relname, cut(num_to_cstring(ol->refund[i])), cut(l->key),
							cut(ol->ref), cut(num_to_cstring(l->amount)))));
		d = SPI_getbinval(tup, td, 5, &isnull);
		if (!isnull)
		{
			TimestampTz at = time_value(p, c->type[L_AT], d, c->col[L_AT]);

			need(!TIMESTAMP_NOT_FINITE(at), c, L_AT, ol->ref, "must be a finite time");
			if (!has_at || at < ol->at)
				ol->at = at;
			has_at = true;
		}
		if (i == 0)
		{
			bool		found;

			found = DatumGetBool(SPI_getbinval(tup, td, 7, &isnull));
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("order \"%s\" of %s has no row in orders table %s",
								cut(ol->ref), c->relname, c->ordersname),
						 errdetail("The member of an order is read from %s.", c->ordersname),
						 errhint("Insert the order before the end of the transaction that inserts its lines.")));
			d = SPI_getbinval(tup, td, 6, &isnull);
			ol->member = isnull ? NULL : key_text(c->type[OidIsValid(c->orders) ? L_OMEMBER : L_MEMBER], d);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	need(ol->member != NULL, c, OidIsValid(c->orders) ? L_OMEMBER : L_MEMBER,
		 ol->ref, "must not be NULL");
	need(key_ok(ol->member), c, OidIsValid(c->orders) ? L_OMEMBER : L_MEMBER,
		 ol->ref, psprintf("must not be empty or longer than %d characters", KEY_MAX));
	need(key_ok(ol->ref), c, L_ORDER, ol->ref,
		 psprintf("must not be empty or longer than %d characters", KEY_MAX));
	if (!has_at)
		ol->at = GetCurrentTransactionStartTimestamp();
}

/* ------------------------------------------------------------------------
 * The ledger side (as the owner)
 * ------------------------------------------------------------------------ */

static void
ledger_lines(Program *p, const char *member, const char *ref, LedgerLines *ll)
{
	Datum		args[3];
	MemoryContext cxt = CurrentMemoryContext;
	bool		isnull;

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(ref);
	stmt_exec(ST_RECEIPT_LINES, args, NULL, true, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	ll->n = (int) SPI_processed;
	ll->key = palloc(sizeof(char *) * Max(ll->n, 1));
	ll->amount = palloc(sizeof(Numeric) * Max(ll->n, 1));
	ll->refunded = palloc(sizeof(Numeric) * Max(ll->n, 1));
	for (int i = 0; i < ll->n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;

		ll->key[i] = SPI_getvalue(t, td, 1);
		ll->amount[i] = DatumGetNumericCopy(SPI_getbinval(t, td, 2, &isnull));
		ll->refunded[i] = DatumGetNumericCopy(SPI_getbinval(t, td, 4, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
}

static int
ledger_line_find(const LedgerLines *ll, const char *key)
{
	for (int i = 0; i < ll->n; i++)
		if (ll->key[i] != NULL && strcmp(ll->key[i], key) == 0)
			return i;
	return -1;
}

/* Refund line `line` up to `target` (its refund column), against what the ledger refunded of it. */
static void
line_refund_up_to(Program *p, const char *member, const char *ref, const char *line,
				  Numeric target, Numeric refunded, TimestampTz now)
{
	Numeric		delta = num_sub(target, refunded);
	ReceiptLine l = {.key = line, .category = NULL, .amount = delta};

	if (num_sign(delta) > 0)
		order_refund_lines(p, member, ref, &l, 1,
						   derived_ref(ref, psprintf("#refund@%s:%s", line, num_to_cstring(target))),
						   now);
}

/* The order's lines are the ledger's receipt: the same lines with the same amounts, in order. */
static bool
same_lines(const OrderLines *ol, const LedgerLines *ll)
{
	if (ol->n != ll->n)
		return false;
	for (int i = 0; i < ol->n; i++)
		if (ll->key[i] == NULL || strcmp(ol->lines[i].key, ll->key[i]) != 0 ||
			num_cmp(ol->lines[i].amount, ll->amount[i]) != 0)
			return false;
	return true;
}

/*
 * Earn the order's receipt, then the lines' refund columns; a known order
 * is LY005 (backfill: reconciled, or counted in *left_alone).
 */
static void
order_lines_earn(const LinesConf *c, Program *p, OrderLines *ol, int64 *left_alone)
{
	OrderState	st;
	Receipt		rc = {.n = ol->n, .lines = ol->lines, .total = ol->total, .is_receipt = true};
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	order_state(p, ol->member, ol->ref, &st);
	if (st.known && left_alone != NULL)
	{
		LedgerLines ll;

		ledger_lines(p, ol->member, ol->ref, &ll);
		if (!same_lines(ol, &ll))
		{
			(*left_alone)++;
			return;
		}
		for (int i = 0; i < ol->n; i++)
			if (num_cmp(ol->refund[i], ll.refunded[i]) < 0)
			{
				(*left_alone)++;
				return;
			}
		for (int i = 0; i < ol->n; i++)
			line_refund_up_to(p, ol->member, ol->ref, ol->lines[i].key, ol->refund[i],
							  ll.refunded[i], now);
		return;
	}
	if (st.known)
		ereport(ERROR,
				(errcode(ERRCODE_LY_REF_REUSED),
				 errmsg("order \"%s\" of member \"%s\" has earned already", cut(ol->ref), cut(ol->member)),
				 errdetail(st.mine
						   ? "Its lines earned when they were complete, at SET CONSTRAINTS ... IMMEDIATE or the end of a statement; lines inserted after that cannot change its points."
						   : "An order earns once, when the transaction that inserts its lines commits; lines inserted later cannot change its points."),
				 errhint("Insert all lines of an order in one transaction, or give the new lines a new order number.")));
	order_earn_receipt(p, ol->member, &rc, ol->ref, ol->at);
	/* another transaction earned it between the look-up and the earn: not these lines' */
	order_state(p, ol->member, ol->ref, &st);
	if (!st.known || !st.mine)
		ereport(ERROR,
				(errcode(ERRCODE_LY_REF_REUSED),
				 errmsg("order \"%s\" of member \"%s\" was earned by another transaction meanwhile",
						cut(ol->ref), cut(ol->member)),
				 errhint("Give the order a new number.")));
	for (int i = 0; i < ol->n; i++)
		line_refund_up_to(p, ol->member, ol->ref, ol->lines[i].key, ol->refund[i],
						  num_int64(0), now);
}

static void
lines_errcontext(void *arg)
{
	LinesErr   *e = (LinesErr *) arg;

	if (e->order == NULL)
		return;
	if (e->line != NULL)
		errcontext("loyalty: %s %s, line \"%s\" of order \"%s\"", e->what, e->relname,
				   cut(e->line), cut(e->order));
	else
		errcontext("loyalty: %s %s, order \"%s\"", e->what, e->relname, cut(e->order));
}

/* ------------------------------------------------------------------------
 * The trigger: loyalty._order_lines_trigger()
 * ------------------------------------------------------------------------ */

/* The row was deleted or updated by this transaction (a deferred event may see its old version). */
static bool
row_gone(HeapTuple tup)
{
	HeapTupleHeader h = tup->t_data;
	TransactionId xmax;

	if (h->t_infomask & HEAP_XMAX_INVALID)
		return false;
	if (HEAP_XMAX_IS_LOCKED_ONLY(h->t_infomask))
		return false;
	xmax = HeapTupleHeaderGetUpdateXid(h);
	return TransactionIdIsValid(xmax) && TransactionIdIsCurrentTransactionId(xmax);
}

static Datum
attr(HeapTuple tup, TupleDesc desc, AttrNumber a, bool *isnull)
{
	if (a == InvalidAttrNumber)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return heap_getattr(tup, a, desc, isnull);
}

static char *
attr_text(const LinesConf *c, int k, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = attr(tup, desc, c->att[k], &isnull);

	return isnull ? NULL : key_text(c->type[k], d);
}

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * The deferred row event of an inserted (or re-keyed) line: the first
 * event of an order earns it; the others find it done.
 */
static void
row_event(TriggerData *td)
{
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	HeapTuple	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	LinesConf  *c = conf_cached(relid);
	bool		connected = false;
	UserSwitch	u;
	char	   *order,
			   *member,
			   *key;
	DoneOrder  *d;
	bool		found;
	Datum		ov,
				mv;
	bool		on,
				mn;

	if (c == NULL)
	{
		ly_spi_connect();
		connected = true;
		user_switch_init(&u);
		if ((c = conf_for(relid, desc, &u)) == NULL)
		{
			SPI_finish();		/* untracked meanwhile: not ours any more */
			return;
		}
	}
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) &&
		str_eq(attr_text(c, L_ORDER, td->tg_trigtuple, desc), attr_text(c, L_ORDER, tup, desc)) &&
		str_eq(attr_text(c, L_MEMBER, td->tg_trigtuple, desc), attr_text(c, L_MEMBER, tup, desc)))
	{
		/* the same order: its insert event or the UPDATE's statement trigger accounts for it */
		if (connected)
			SPI_finish();
		return;
	}
	ov = attr(tup, desc, c->att[L_ORDER], &on);
	mv = attr(tup, desc, c->att[L_MEMBER], &mn);
	order = on ? NULL : key_text(c->type[L_ORDER], ov);
	member = mn ? NULL : key_text(c->type[L_MEMBER], mv);
	if (order == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order_column \"%s\" of %s must not be NULL", c->col[L_ORDER], c->relname)));
	if (c->col[L_MEMBER] != NULL && member == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("member_column \"%s\" of %s must not be NULL (order \"%s\")",
						c->col[L_MEMBER], c->relname, cut(order))));
	key = psprintf("%u\x1f%s\x1f%s", relid, member ? member : "", order);
	d = hash_search(done_table(), &key, HASH_FIND, NULL);
	if (d != NULL)
	{
		char	   *line = attr_text(c, L_LINE, tup, desc);
		bool		has = false;

		for (int i = 0; i < d->n && !has; i++)
			has = line != NULL && strcmp(d->lines[i], line) == 0;
		if (!has && !row_gone(tup))
			ereport(ERROR,
					(errcode(ERRCODE_LY_REF_REUSED),
					 errmsg("line \"%s\" was added to order \"%s\" of %s after the order earned",
							cut(line ? line : "NULL"), cut(order), c->relname),
					 errdetail("An order earns once, with the lines it has when its lines are complete (at COMMIT, or at SET CONSTRAINTS ... IMMEDIATE)."),
					 errhint("Insert all lines of an order before its points are computed, or give the new lines a new order number.")));
		if (connected)
			SPI_finish();
		return;
	}

	/* the first event of this order: read its lines and earn them */
	{
		Program    *p;
		OrderLines	ol;
		LinesErr	e = {.what = "order lines of", .relname = c->relname, .order = order};
		ErrorContextCallback errcb;
		MemoryContext old;

		if (!connected)
		{
			ly_spi_connect();
			connected = true;
			user_switch_init(&u);
		}
		errcb.callback = lines_errcontext;
		errcb.arg = &e;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		as_owner(&u);
		p = program_get_by_id(c->program_id);
		as_caller(&u);
		order_lines_read(c, p, datumCopy(ov, get_typbyval(c->type[L_ORDER]), get_typlen(c->type[L_ORDER])),
						 mv, &ol);
		if (ol.n > 0)
		{
			as_owner(&u);
			order_lines_earn(c, p, &ol, NULL);
			as_caller(&u);
		}
		error_context_stack = errcb.previous;

		old = MemoryContextSwitchTo(TopTransactionContext);
		key = pstrdup(key);
		d = hash_search(done_table(), &key, HASH_ENTER, &found);
		d->subid = GetCurrentSubTransactionId();
		d->n = ol.n;
		d->lines = palloc(sizeof(char *) * Max(ol.n, 1));
		for (int i = 0; i < ol.n; i++)
			d->lines[i] = pstrdup(ol.lines[i].key);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

/* One old/new pair of an UPDATE (n NULL: a DELETE) of the lines table. */
static void
change_row(const LinesConf *c, Program *p, UserSwitch *u, TupleDesc desc,
		   HeapTuple o, HeapTuple n, LinesErr *e)
{
	bool		isnull;
	Datum		ov = attr(o, desc, c->att[L_ORDER], &isnull);
	bool		mnull;
	Datum		mv = attr(o, desc, c->att[L_MEMBER], &mnull);
	char	   *ref,
			   *member,
			   *line;
	LedgerLines ll;
	int			i;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (isnull)
		return;
	ref = key_text(c->type[L_ORDER], ov);
	line = attr_text(c, L_LINE, o, desc);
	e->order = ref;
	e->line = line;
	member = order_member(c, ov, mv, mnull);	/* as the caller */
	if (!key_ok(member) || !key_ok(ref) || line == NULL)
		return;
	as_owner(u);
	ledger_lines(p, member, ref, &ll);
	as_caller(u);
	if ((i = ledger_line_find(&ll, line)) < 0)
		return;					/* not earned (yet): the order earns at commit as it is then */

	if (n == NULL)
	{
		Numeric		left = num_sub(ll.amount[i], ll.refunded[i]);
		ReceiptLine l = {.key = line, .category = NULL, .amount = left};

		if (num_sign(left) > 0)
		{
			as_owner(u);
			order_refund_lines(p, member, ref, &l, 1, derived_ref(ref, psprintf("#delete@%s", line)), now);
			as_caller(u);
		}
		return;
	}

	/* an earned line: what it earned for cannot change */
	{
		static const int fixed[] = {L_ORDER, L_MEMBER, L_LINE, L_CATEGORY, L_AMOUNT};

		for (int f = 0; f < (int) lengthof(fixed); f++)
		{
			int			k = fixed[f];
			bool		same;
			char	   *before,
					   *after;

			if (c->att[k] == InvalidAttrNumber)
				continue;
			if (k == L_AMOUNT)
			{
				bool		bn,
							an;
				Datum		bd = attr(o, desc, c->att[k], &bn);
				Datum		ad = attr(n, desc, c->att[k], &an);

				before = bn ? "NULL" : num_to_cstring(number_value(c->type[k], bd));
				after = an ? "NULL" : num_to_cstring(number_value(c->type[k], ad));
				same = !bn && !an && num_cmp(number_value(c->type[k], bd), number_value(c->type[k], ad)) == 0;
			}
			else
			{
				before = attr_text(c, k, o, desc);
				after = attr_text(c, k, n, desc);
				same = str_eq(before, after);
			}
			if (!same)
				ereport(ERROR,
						(errcode(ERRCODE_LY_REF_REUSED),
						 errmsg("%s \"%s\" of line \"%s\" of order \"%s\" of member \"%s\" cannot change from %s to %s",
								lcol_role[k], c->col[k], cut(line), cut(ref), cut(member),
								cut(before ? before : "NULL"), cut(after ? after : "NULL")),
						 errdetail("The order earned its points with this line; points are computed once, when an order earns."),
						 errhint(c->col[L_REFUND]
								 ? "Record a refund of the line in the refund column, or delete the line (which refunds it) and insert the purchase again as a new order."
								 : "Delete the line (which refunds it) and insert the purchase again as a new order.")));
		}
	}
	if (c->att[L_REFUND] != InvalidAttrNumber)
	{
		bool		bn,
					an;
		Datum		bd = attr(o, desc, c->att[L_REFUND], &bn);
		Datum		ad = attr(n, desc, c->att[L_REFUND], &an);
		Numeric		before = bn ? num_int64(0) : number_value(c->type[L_REFUND], bd);
		Numeric		after = an ? num_int64(0) : number_value(c->type[L_REFUND], ad);

		if (!num_finite(after) || num_sign(after) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refund_column \"%s\" of %s must be a number not below 0, not %s",
							c->col[L_REFUND], c->relname, cut(num_to_cstring(after)))));
		if (num_cmp(after, before) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refund_column \"%s\" of line \"%s\" of order \"%s\" of member \"%s\" cannot go down from %s to %s",
							c->col[L_REFUND], cut(line), cut(ref), cut(member),
							cut(num_to_cstring(before)), cut(num_to_cstring(after))),
					 errdetail("A refund cannot be taken back."),
					 errhint("A purchase made again is a new order, with a new number.")));
		if (num_cmp(after, before) == 0)
			return;
		if (num_cmp(after, ll.amount[i]) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_OVER_REFUND),
					 errmsg("refund_column \"%s\" of line \"%s\" of order \"%s\" of member \"%s\" says %s was refunded, more than the line's amount %s",
							c->col[L_REFUND], cut(line), cut(ref), cut(member),
							cut(num_to_cstring(after)), cut(num_to_cstring(ll.amount[i])))));
		as_owner(u);
		line_refund_up_to(p, member, ref, line, after, ll.refunded[i], now);
		as_caller(u);
	}
}


/* The UPDATE and DELETE statement triggers. */
static void
statement_event(TriggerData *td, LinesConf *c, UserSwitch *u)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	bool		is_update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	Tuplestorestate *olds = td->tg_oldtable;
	Tuplestorestate *news = is_update ? td->tg_newtable : NULL;
	TupleTableSlot *so,
			   *sn = NULL;
	MemoryContext rowcxt,
				old;
	Program    *p;
	LinesErr	e = {.what = is_update ? "UPDATE of" : "DELETE from", .relname = c->relname};
	ErrorContextCallback errcb;

	if (td->tg_trigger->tgoldtable == NULL || (is_update && td->tg_trigger->tgnewtable == NULL))
		no_transition_table(td, "order-lines", "track_order_lines");
	if (olds == NULL)
		return;
	as_owner(u);
	p = program_get_by_id(c->program_id);
	as_caller(u);
	so = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	transition_rewind(olds);
	if (is_update)
	{
		sn = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		transition_rewind(news);
	}
	errcb.callback = lines_errcontext;
	errcb.arg = &e;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "loyalty order lines row",
								   ALLOCSET_DEFAULT_SIZES);
	while (tuplestore_gettupleslot(olds, true, false, so))
	{
		bool		should_free;
		HeapTuple	ot,
					nt = NULL;

		if (is_update && !tuplestore_gettupleslot(news, true, false, sn))
			elog(ERROR, "loyalty: the transition tables of an UPDATE of %s differ in length", c->relname);
		MemoryContextReset(rowcxt);
		old = MemoryContextSwitchTo(rowcxt);
		ot = ExecFetchSlotHeapTuple(so, true, &should_free);
		if (is_update)
			nt = ExecFetchSlotHeapTuple(sn, true, &should_free);
		e.order = NULL;
		change_row(c, p, u, desc, ot, nt, &e);
		e.order = NULL;
		MemoryContextSwitchTo(old);
	}
	error_context_stack = errcb.previous;
	MemoryContextDelete(rowcxt);
	ExecDropSingleTupleTableSlot(so);
	if (sn)
		ExecDropSingleTupleTableSlot(sn);
}

static bool
name_in(const char *name, const char *const *names, int n)
{
	for (int k = 0; k < n; k++)
		if (strcmp(name, names[k]) == 0)
			return true;
	return false;
}

/* The lines tables tracked with orders table relid (as the owner, connected to SPI). */
static List *
lines_of_orders(Oid relid)
{
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	MemoryContext cxt = CurrentMemoryContext;
	List	   *lines = NIL;

	stmt_exec(ST_LINES_OF_ORDERS, args, NULL, true, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		lines = lappend_oid(lines, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 1, &isnull)));
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	return lines;
}

/* Orders table relid is used by no tracking but that of lines table `except` (as the owner). */
static bool
orders_unshared(Oid relid, Oid except)
{
	List	   *lines = lines_of_orders(relid);

	return lines == NIL || (list_length(lines) == 1 && linitial_oid(lines) == except);
}

/* The configurations of the trackings whose orders table is relid (connected to SPI). */
static List *
orders_confs(Oid relid, UserSwitch *u)
{
	List	   *lines;
	List	   *out = NIL;
	ListCell   *lc;

	as_owner(u);
	lines = lines_of_orders(relid);
	as_caller(u);
	foreach(lc, lines)
	{
		Oid			lid = lfirst_oid(lc);
		LinesConf  *c = conf_cached(lid);

		if (c == NULL && rel_exists(lid))
		{
			Relation	rel = table_open(lid, AccessShareLock);

			c = conf_for(lid, RelationGetDescr(rel), u);
			table_close(rel, NoLock);
		}
		if (c != NULL && c->orders == relid)
			out = lappend(out, c);
	}
	return out;
}

/*
 * One old/new pair of an UPDATE (n NULL: a DELETE) of the orders table of
 * tracking c: an order that has earned keeps its member and its number
 * (LY005), and its row stays while anything of it is left to refund (LY005).
 * The ledger is read only when the member or the number changed, or the row
 * is deleted.
 */
static void
orders_change_row(const LinesConf *c, Program *p, UserSwitch *u, TupleDesc desc,
				  HeapTuple o, HeapTuple n)
{
	char	   *ref = attr_text(c, L_OREF, o, desc);
	char	   *member = attr_text(c, L_OMEMBER, o, desc);
	OrderState	st;

	if (n != NULL && str_eq(ref, attr_text(c, L_OREF, n, desc)) &&
		str_eq(member, attr_text(c, L_OMEMBER, n, desc)))
		return;
	if (!key_ok(ref) || !key_ok(member))
		return;					/* an order that cannot have earned */
	order_lock(c->orders, ref, ExclusiveLock);
	as_owner(u);
	order_state(p, member, ref, &st);
	as_caller(u);
	if (!st.known)
		return;					/* not earned (yet): its lines earn at commit with the row as it is then */
	if (n != NULL)
	{
		int			k = str_eq(member, attr_text(c, L_OMEMBER, n, desc)) ? L_OREF : L_OMEMBER;
		char	   *after = attr_text(c, k, n, desc);

		ereport(ERROR,
				(errcode(ERRCODE_LY_REF_REUSED),
				 errmsg("%s \"%s\" of order \"%s\" of member \"%s\" in %s cannot change from %s to %s",
						lcol_role[k], c->col[k], cut(ref), cut(member), c->ordersname,
						cut(k == L_OREF ? ref : member), cut(after ? after : "NULL")),
				 errdetail("Its order lines earned points for this member and order number; their refunds read both from %s.",
						   c->ordersname),
				 errhint("Delete the order's lines (which refunds them) and insert the purchase again as a new order.")));
	}
	if (num_cmp(st.refunded, st.amount) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_REF_REUSED),
				 errmsg("order \"%s\" of member \"%s\" cannot be deleted from %s: its order lines earned points",
						cut(ref), cut(member), c->ordersname),
				 errdetail("Deleting the order would leave its lines without a member, and their refunds and deletes would refund nothing."),
				 errhint("Delete the order's lines first (which refunds them), then the order.")));
}

/* The statement triggers of the orders table: UPDATE, DELETE, TRUNCATE. */
static void
orders_event(TriggerData *td, UserSwitch *u)
{
	Oid			relid = RelationGetRelid(td->tg_relation);
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	bool		is_update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	List	   *confs = orders_confs(relid, u);
	ListCell   *lc;
	TupleTableSlot *so,
			   *sn = NULL;
	MemoryContext rowcxt,
				old;
	List	   *programs = NIL;

	if (confs == NIL)
		return;					/* untracked meanwhile, or left behind by a dropped lines table */
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("TRUNCATE of %s is not allowed: it holds the members of tracked order lines %s",
						rel_name(relid), ((LinesConf *) linitial(confs))->relname),
				 errdetail("TRUNCATE would leave earned order lines without a member, and their refunds and deletes would refund nothing."),
				 errhint("Delete the order lines (which refunds them) and then the orders, or stop tracking the lines "
						 "with loyalty.untrack_order_lines() first.")));
	if (td->tg_trigger->tgoldtable == NULL || (is_update && td->tg_trigger->tgnewtable == NULL))
		no_transition_table(td, "orders", "track_order_lines");
	if (td->tg_oldtable == NULL)
		return;
	as_owner(u);
	foreach(lc, confs)
		programs = lappend(programs, program_get_by_id(((LinesConf *) lfirst(lc))->program_id));
	as_caller(u);
	so = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	transition_rewind(td->tg_oldtable);
	if (is_update)
	{
		sn = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		transition_rewind(td->tg_newtable);
	}
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "loyalty orders row", ALLOCSET_DEFAULT_SIZES);
	while (tuplestore_gettupleslot(td->tg_oldtable, true, false, so))
	{
		bool		should_free;
		HeapTuple	ot,
					nt = NULL;

		if (is_update && !tuplestore_gettupleslot(td->tg_newtable, true, false, sn))
			elog(ERROR, "loyalty: the transition tables of an UPDATE of %s differ in length", rel_name(relid));
		MemoryContextReset(rowcxt);
		old = MemoryContextSwitchTo(rowcxt);
		ot = ExecFetchSlotHeapTuple(so, true, &should_free);
		if (is_update)
			nt = ExecFetchSlotHeapTuple(sn, true, &should_free);
		for (int i = 0; i < list_length(confs); i++)
			orders_change_row(list_nth(confs, i), list_nth(programs, i), u, desc, ot, nt);
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(rowcxt);
	ExecDropSingleTupleTableSlot(so);
	if (sn)
		ExecDropSingleTupleTableSlot(sn);
}

Datum
loyalty_order_lines_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			relid;
	LinesConf  *c;
	UserSwitch	u;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loyalty._order_lines_trigger() must be called as a trigger")));
	if (TRIGGER_FIRED_FOR_ROW(td->tg_event))
	{
		if (!TRIGGER_FIRED_AFTER(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("row trigger \"%s\" of loyalty's order lines must fire AFTER INSERT or UPDATE",
							td->tg_trigger->tgname)));
		row_event(td);
		return PointerGetDatum(NULL);
	}

	if (!TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) &&
		(!TRIGGER_FIRED_AFTER(td->tg_event) || TRIGGER_FIRED_BY_INSERT(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("statement trigger \"%s\" of loyalty's order lines must fire AFTER UPDATE or DELETE",
						td->tg_trigger->tgname)));
	relid = RelationGetRelid(td->tg_relation);
	ly_spi_connect();
	user_switch_init(&u);
	if (name_in(td->tg_trigger->tgname, orders_trig_names, lengthof(orders_trig_names)))
	{
		orders_event(td, &u);
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	c = conf_for(relid, RelationGetDescr(td->tg_relation), &u);
	if (c == NULL)
	{
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("TRUNCATE of %s is not allowed: its order lines are tracked by loyalty", c->relname),
				 errdetail("TRUNCATE would remove order lines without refunding their points."),
				 errhint("DELETE the rows instead, which refunds them, or stop tracking the table "
						 "with loyalty.untrack_order_lines() first.")));
	statement_event(td, c, &u);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------------------
 * track_order_lines / untrack_order_lines
 * ------------------------------------------------------------------------ */


/* Drop relid's triggers executing fn (as the current user). */
static void
triggers_drop(Oid relid, Oid fn)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *names = NIL;
	ListCell   *lc;

	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		if (((Form_pg_trigger) GETSTRUCT(tup))->tgfoid == fn)
			names = lappend(names, pstrdup(NameStr(((Form_pg_trigger) GETSTRUCT(tup))->tgname)));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	/* an error in between: reset at the end of the (sub)transaction (xact_forget) */
	dropping_own_triggers = true;
	foreach(lc, names)
		sql_run(psprintf("DROP TRIGGER %s ON %s", quote_identifier(lfirst(lc)), rel_name(relid)),
				SPI_OK_UTILITY);
	dropping_own_triggers = false;
}

static void
triggers_create(const LinesConf *c)
{
	const char *fn = "EXECUTE FUNCTION loyalty._order_lines_trigger()";

	sql_run(psprintf("CREATE CONSTRAINT TRIGGER loyalty_order_lines_earn AFTER INSERT OR UPDATE OF %s%s%s ON %s "
					 "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW %s",
					 quote_identifier(c->col[L_ORDER]), c->col[L_MEMBER] ? ", " : "",
					 c->col[L_MEMBER] ? quote_identifier(c->col[L_MEMBER]) : "", c->relname, fn),
			SPI_OK_UTILITY);
	sql_run(psprintf("CREATE TRIGGER loyalty_order_lines_update AFTER UPDATE ON %s "
					 "REFERENCING OLD TABLE AS loyalty_old NEW TABLE AS loyalty_new FOR EACH STATEMENT %s",
					 c->relname, fn), SPI_OK_UTILITY);
	sql_run(psprintf("CREATE TRIGGER loyalty_order_lines_delete AFTER DELETE ON %s "
					 "REFERENCING OLD TABLE AS loyalty_old FOR EACH STATEMENT %s",
					 c->relname, fn), SPI_OK_UTILITY);
	sql_run(psprintf("CREATE TRIGGER loyalty_order_lines_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT %s",
					 c->relname, fn), SPI_OK_UTILITY);
}

/* The triggers on the orders table (the same for every tracking that uses it). */
static void
orders_triggers_create(Oid orders)
{
	const char *fn = "EXECUTE FUNCTION loyalty._order_lines_trigger()";
	char	   *name = rel_name(orders);

	sql_run(psprintf("CREATE TRIGGER %s AFTER UPDATE ON %s "
					 "REFERENCING OLD TABLE AS loyalty_old NEW TABLE AS loyalty_new FOR EACH STATEMENT %s",
					 orders_trig_names[0], name, fn), SPI_OK_UTILITY);
	sql_run(psprintf("CREATE TRIGGER %s AFTER DELETE ON %s "
					 "REFERENCING OLD TABLE AS loyalty_old FOR EACH STATEMENT %s",
					 orders_trig_names[1], name, fn), SPI_OK_UTILITY);
	sql_run(psprintf("CREATE TRIGGER %s BEFORE TRUNCATE ON %s FOR EACH STATEMENT %s",
					 orders_trig_names[2], name, fn), SPI_OK_UTILITY);
}

/*
 * The lines table (or the orders table) can be tracked: a plain heap table,
 * not a partition, no inheritance (LY007).  Statements naming a partition or
 * a parent would change its rows without firing the table's triggers.
 */
static void
lines_trackable(Oid relid, const char *name, bool orders)
{
	char		relkind = get_rel_relkind(relid);
	Relation	rel;
	bool		heap;
	char		persistence;

	if (relkind == RELKIND_PARTITIONED_TABLE || get_rel_relispartition(relid))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg(orders ? "orders %s is a partitioned table or a partition: the orders of tracked order lines are kept in plain tables only"
						: "%s is a partitioned table or a partition: order lines are tracked in plain tables only", name),
				 errhint(orders ? "Keep the orders in a plain table, or earn from the app with loyalty.earn_order()."
						 : "Keep the order lines in a plain table, or earn from the app with loyalty.earn_order().")));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s is not a table", name)));
	if (get_rel_namespace(relid) == loyalty_namespace())
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s is one of loyalty's own tables", name)));
	if (has_superclass(relid) || find_inheritance_children(relid, NoLock) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s has inheritance parents or children", name),
				 errdetail("Statements on a parent table would change its rows without firing its triggers.")));
	rel = table_open(relid, NoLock);
	heap = rel->rd_rel->relam == HEAP_TABLE_AM_OID;
	persistence = rel->rd_rel->relpersistence;
	table_close(rel, NoLock);
	if (!heap)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s does not use the heap access method", name)));
	if (persistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("temporary table %s cannot be tracked", name),
				 errdetail("Its tracking would end with the session.")));
}

/* relid has a valid, non-partial index whose first column is att (unique: and only column). */
static bool
has_index_on(Oid relid, AttrNumber att, bool unique)
{
	Relation	rel = relation_open(relid, NoLock);
	List	   *idx = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, idx)
	{
		HeapTuple	t = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index f;

		if (!HeapTupleIsValid(t))
			continue;
		f = (Form_pg_index) GETSTRUCT(t);
		if (f->indisvalid && f->indnkeyatts >= 1 && f->indkey.values[0] == att &&
			heap_attisnull(t, Anum_pg_index_indpred, NULL) &&
			(!unique || (f->indisunique && f->indnkeyatts == 1)))
			found = true;
		ReleaseSysCache(t);
	}
	relation_close(rel, NoLock);
	return found;
}

/* The backfill: every order of the table, read as the caller. */
static void
backfill(LinesConf *c, Program *p, UserSwitch *u)
{
	StringInfoData q;
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext rowcxt;
	int64		left_alone = 0;
	LinesErr	e = {.what = "backfill of", .relname = c->relname};
	ErrorContextCallback errcb;

	initStringInfo(&q);
	if (c->col[L_MEMBER])
		appendStringInfo(&q, "SELECT %s, %s FROM ONLY %s l GROUP BY 1, 2 ORDER BY 1, 2",
						 qcol(c, L_ORDER, "l"), qcol(c, L_MEMBER, "l"), c->relname);
	else
		appendStringInfo(&q, "SELECT %s FROM ONLY %s l GROUP BY 1 ORDER BY 1",
						 qcol(c, L_ORDER, "l"), c->relname);
	plan = SPI_prepare(q.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "loyalty: preparing the backfill failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	MemoryContextSwitchTo(cxt);
	errcb.callback = lines_errcontext;
	errcb.arg = &e;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rowcxt = AllocSetContextCreate(cxt, "loyalty backfill order", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPITupleTable *tt;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, BATCH_ROWS);
		MemoryContextSwitchTo(cxt);
		tt = SPI_tuptable;
		nrows = SPI_processed;
		SPI_tuptable = NULL;
		if (nrows == 0)
			break;
		for (uint64 i = 0; i < nrows; i++)
		{
			bool		on,
						mn = true;
			Datum		ov = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &on);
			Datum		mv = c->col[L_MEMBER] ? SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &mn) : (Datum) 0;
			OrderLines	ol;
			MemoryContext old;

			MemoryContextReset(rowcxt);
			old = MemoryContextSwitchTo(rowcxt);
			if (on)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("order_column \"%s\" of %s must not be NULL", c->col[L_ORDER], c->relname)));
			e.order = key_text(c->type[L_ORDER], ov);
			if (c->col[L_MEMBER] && mn)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("member_column \"%s\" of %s must not be NULL (order \"%s\")",
								c->col[L_MEMBER], c->relname, cut(e.order))));
			order_lines_read(c, p, ov, mv, &ol);
			if (ol.n > 0)
			{
				as_owner(u);
				order_lines_earn(c, p, &ol, &left_alone);
				as_caller(u);
			}
			e.order = NULL;
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	MemoryContextSwitchTo(cxt);
	MemoryContextDelete(rowcxt);
	error_context_stack = errcb.previous;
	if (left_alone > 0)
		ereport(WARNING,
				(errmsg("backfill of %s left " INT64_FORMAT " order%s as %s: earned already with other lines or with more refunded",
						c->relname, left_alone, left_alone == 1 ? "" : "s", left_alone == 1 ? "it is" : "they are"),
				 errdetail("The ledger keeps what it has for such orders; the rows were not changed either."),
				 errhint("Correct an order with loyalty.refund_lines() or loyalty.adjust() if the ledger is wrong.")));
}

static char *
name_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : pstrdup(NameStr(*PG_GETARG_NAME(n)));
}

Datum
loyalty_track_order_lines(PG_FUNCTION_ARGS)
{
	LinesConf	c;
	char	   *prog;
	bool		backfill_rows = !PG_ARGISNULL(12) && PG_GETARG_BOOL(12);
	Relation	rel;
	UserSwitch	u;
	Program    *p;
	Oid			other;
	Oid			prev_orders;
	bool		prev_orders_unused;
	Datum		args[12];
	char		nulls[13] = "            ";
	static const int argno[NL] = {2, 3, 4, 5, 6, 10, 11, 8, 9};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lines must not be NULL")));
	memset(&c, 0, sizeof(c));
	c.relid = PG_GETARG_OID(0);
	prog = arg_text(fcinfo, 1, "program");
	for (int k = 0; k < NL; k++)
		c.col[k] = name_arg(fcinfo, argno[k]);
	for (int k = L_ORDER; k <= L_AMOUNT; k++)
		if (c.col[k] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("%s must not be NULL", lcol_role[k])));
	c.orders = PG_ARGISNULL(7) ? InvalidOid : PG_GETARG_OID(7);
	if ((c.col[L_MEMBER] != NULL) == OidIsValid(c.orders))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(c.col[L_MEMBER] ? "give member_column or orders, not both"
						: "give member_column or orders: the member of an order is on the lines table or on the orders table"),
				 errhint("member_column names the lines table's member column; orders, orders_ref_column and "
						 "orders_member_column name the orders table, its order number and its member.")));
	if (OidIsValid(c.orders) && (c.col[L_OREF] == NULL || c.col[L_OMEMBER] == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("orders_ref_column and orders_member_column must be given with orders")));
	if (!OidIsValid(c.orders) && (c.col[L_OREF] != NULL || c.col[L_OMEMBER] != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("orders_ref_column and orders_member_column are columns of orders, which is not given")));

	/* privileges first, then the lock that keeps writers out until we commit */
	rel_access(c.relid, "track");
	LockRelationOid(c.relid, ShareRowExclusiveLock);
	c.relname = rel_access(c.relid, "track");
	lines_trackable(c.relid, c.relname, false);
	if (OidIsValid(c.orders))
	{
		if (!rel_exists(c.orders))
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("table with OID %u does not exist", c.orders)));
		c.ordersname = rel_name(c.orders);
		if (c.orders == c.relid)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("orders must be another table than the lines table %s", c.relname)));
		if (pg_class_aclcheck(c.orders, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
			!has_schema_usage(get_rel_namespace(c.orders)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s", c.ordersname),
					 errdetail("track_order_lines reads the member of each order from it.")));
		if (!owns_rel(c.orders))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("must be owner of table %s to track order lines through it", c.ordersname),
					 errdetail("track_order_lines puts triggers on the orders table that keep the members of earned orders.")));
		if (get_rel_relkind(c.orders) != RELKIND_RELATION &&
			get_rel_relkind(c.orders) != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("orders %s is not a table", c.ordersname)));
		/* its triggers go on with ours: writers wait until we commit */
		LockRelationOid(c.orders, ShareRowExclusiveLock);
		lines_trackable(c.orders, c.ordersname, true);
	}
	rel = table_open(c.relid, NoLock);
	conf_resolve_now(&c, RelationGetDescr(rel));
	table_close(rel, NoLock);
	if (!has_index_on(c.relid, c.att[L_ORDER], false))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s has no index on order_column \"%s\"", c.relname, c.col[L_ORDER]),
				 errdetail("Each order's lines are read with one query on the order column when the order earns."),
				 errhint("CREATE INDEX ON %s (%s), or an index whose first column is %s.",
						 c.relname, quote_identifier(c.col[L_ORDER]), quote_identifier(c.col[L_ORDER]))));
	if (OidIsValid(c.orders) && !has_index_on(c.orders, c.att[L_OREF], true))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("orders_ref_column \"%s\" of %s is not unique", c.col[L_OREF], c.ordersname),
				 errdetail("Each order number must have one row, whose member earns the order."),
				 errhint("Make it the primary key of %s, or give it a unique index of its own.", c.ordersname)));

	ly_spi_connect();
	refuse_citus_table(c.relid, c.relname);
	if (OidIsValid(c.orders))
		refuse_citus_table(c.orders, c.ordersname);
	if (!OidIsValid(loyalty_function("_order_lines_trigger")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("function loyalty._order_lines_trigger() does not exist"),
				 errhint("Reinstall the extension (ALTER EXTENSION loyalty UPDATE, or DROP and CREATE EXTENSION).")));
	user_switch_init(&u);
	as_owner(&u);
	p = program_get(prog);
	c.program_id = p->id;
	/* a table earns through one tracking only */
	if (orders_tracked(c.relid))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s is tracked as an orders table by loyalty.track_orders()", c.relname),
				 errhint("Untrack it with loyalty.untrack_orders() first.")));
	if (OidIsValid(c.orders) && orders_tracked(c.orders))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("orders table %s is tracked by loyalty.track_orders()", c.ordersname),
				 errdetail("Its orders earn already; earning their lines too would earn them twice."),
				 errhint("Untrack it with loyalty.untrack_orders(), or earn from the orders table alone.")));
	if (OidIsValid(other = lines_tracking_of(c.relid)) && other != c.relid)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s is the orders table of tracked order lines %s", c.relname, rel_name(other))));
	args[0] = ObjectIdGetDatum(c.relid);
	args[1] = Int32GetDatum(c.program_id);
	for (int k = 0; k < NL; k++)
	{
		args[2 + k] = c.col[k] ? CStringGetTextDatum(c.col[k]) : (Datum) 0;
		nulls[2 + k] = c.col[k] ? ' ' : 'n';
	}
	args[2 + NL] = ObjectIdGetDatum(c.orders);
	nulls[2 + NL] = OidIsValid(c.orders) ? ' ' : 'n';
	{
		LinesConf  *was = conf_read(c.relid);

		prev_orders = was ? was->orders : InvalidOid;
	}
	/* an orders table the lines no longer use loses its triggers with its last tracking */
	prev_orders_unused = OidIsValid(prev_orders) && prev_orders != c.orders &&
		orders_unshared(prev_orders, c.relid);
	plan_run(ST_LINES_PUT, args, nulls, SPI_OK_INSERT, "recording the tracked lines table");
	as_caller(&u);

	/* the triggers, created by the table's owner (again: the columns may have changed) */
	triggers_drop(c.relid, loyalty_function("_order_lines_trigger"));
	triggers_create(&c);
	if (OidIsValid(c.orders))
	{
		/* shared by the trackings that use the orders table: made again, once */
		triggers_drop(c.orders, loyalty_function("_order_lines_trigger"));
		orders_triggers_create(c.orders);
	}
	if (prev_orders_unused && rel_exists(prev_orders))
		triggers_drop(prev_orders, loyalty_function("_order_lines_trigger"));
	xact_forget();
	if (backfill_rows)
		backfill(&c, p, &u);
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
loyalty_untrack_order_lines(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *name;
	UserSwitch	u;
	Datum		args[1];
	uint64		deleted;
	Oid			fn;
	Oid			orders;
	LinesConf  *was;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lines must not be NULL")));
	relid = PG_GETARG_OID(0);
	args[0] = ObjectIdGetDatum(relid);
	if (rel_exists(relid))
	{
		rel_access(relid, "untrack");
		LockRelationOid(relid, ShareRowExclusiveLock);
	}
	ly_spi_connect();
	user_switch_init(&u);
	as_owner(&u);
	was = conf_read(relid);
	/* the orders table's triggers go with the last tracking that uses it */
	orders = was && OidIsValid(was->orders) && orders_unshared(was->orders, relid)
		? was->orders : InvalidOid;
	plan_run(ST_LINES_DEL, args, NULL, SPI_OK_DELETE, "untracking");
	deleted = SPI_processed;
	as_caller(&u);
	fn = loyalty_function("_order_lines_trigger");
	if (OidIsValid(orders) && OidIsValid(fn) && rel_exists(orders))
		triggers_drop(orders, fn);
	if (!rel_exists(relid))
	{
		if (deleted == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("table with OID %u is not tracked", relid),
					 errdetail("No table with that OID exists.")));
		SPI_finish();
		PG_RETURN_VOID();
	}
	name = rel_access(relid, "untrack");
	if (deleted == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("order lines table %s is not tracked", name)));
	if (OidIsValid(fn))
		triggers_drop(relid, fn);
	xact_forget();
	SPI_finish();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Event trigger: loyalty_order_lines_dropped (sql_drop)
 * ------------------------------------------------------------------------ */

/* The name of dropped table relid (names runs beside tables). */
static char *
dropped_name(List *tables, List *names, Oid relid)
{
	for (int i = 0; i < list_length(tables); i++)
		if (list_nth_oid(tables, i) == relid)
			return list_nth(names, i);
	return rel_name(relid);
}

static bool
is_trigger_name(const char *name)
{
	return name_in(name, trig_names, lengthof(trig_names)) ||
		name_in(name, orders_trig_names, lengthof(orders_trig_names));
}

Datum
loyalty_order_lines_dropped(PG_FUNCTION_ARGS)
{
	List	   *tables = NIL;
	List	   *names = NIL;	/* of the tables */
	List	   *cols = NIL;		/* pairs: relid, column name */
	List	   *trigs = NIL;	/* pairs: relid, trigger name */
	List	   *confs = NIL;
	Dropped		dropped;
	ListCell   *lc;
	MemoryContext cxt;
	Oid			nsp;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loyalty._order_lines_dropped() must be called as an event trigger")));
	nsp = loyalty_namespace();
	/* DROP EXTENSION loyalty, loyalty's own scripts: nothing to keep right */
	if (creating_extension || !OidIsValid(nsp) ||
		!OidIsValid(get_relname_relid("tracked_lines_table", nsp)))
		PG_RETURN_VOID();

	ly_spi_connect_nocheck();
	cxt = CurrentMemoryContext;
	stmt_exec(ST_LINES_ALL, NULL, NULL, true, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		LinesConf  *c = palloc0(sizeof(LinesConf));
		bool		isnull;
		Datum		d;

		c->relid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		d = SPI_getbinval(tup, td, 2, &isnull);
		c->orders = isnull ? InvalidOid : DatumGetObjectId(d);
		for (int k = 0; k < NL; k++)
			c->col[k] = SPI_getvalue(tup, td, 3 + k);
		confs = lappend(confs, c);
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	if (confs == NIL)
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	dropped_objects(&dropped, is_trigger_name);
	tables = dropped.tables;
	names = dropped.names;
	cols = dropped.cols;
	trigs = dropped.trigs;

	foreach(lc, confs)
	{
		LinesConf  *c = lfirst(lc);
		Datum		args[1] = {ObjectIdGetDatum(c->relid)};

		if (list_member_oid(tables, c->relid))
		{
			/* a dropped lines table is untracked */
			plan_run(ST_LINES_DEL, args, NULL, SPI_OK_DELETE, "untracking a dropped table");
			continue;
		}
		if (OidIsValid(c->orders) && list_member_oid(tables, c->orders))
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("table %s cannot be dropped: it holds the members of tracked order lines %s",
							dropped_name(tables, names, c->orders),
							rel_name(c->relid)),
					 errhint("Untrack %s with loyalty.untrack_order_lines() first.", rel_name(c->relid))));
		for (int i = 0; i + 1 < list_length(cols); i += 2)
		{
			Oid			relid = (Oid) (uintptr_t) list_nth(cols, i);
			char	   *col = list_nth(cols, i + 1);

			if (relid != c->relid && relid != c->orders)
				continue;
			for (int k = 0; k < NL; k++)
				if (c->col[k] != NULL && strcmp(c->col[k], col) == 0 &&
					(on_orders(c, k) ? relid == c->orders : relid == c->relid))
					ereport(ERROR,
							(errcode(ERRCODE_LY_CONFIG),
							 errmsg("column \"%s\" of %s cannot be dropped: it is the %s of tracked order lines %s",
									col, rel_name(relid), lcol_role[k], rel_name(c->relid)),
							 errhint("Untrack the table with loyalty.untrack_order_lines() first.")));
		}
		for (int i = 0; i + 1 < list_length(trigs) && !dropping_own_triggers; i += 2)
		{
			Oid			relid = (Oid) (uintptr_t) list_nth(trigs, i);
			char	   *trig = list_nth(trigs, i + 1);

			if (relid == c->relid)
				ereport(ERROR,
						(errcode(ERRCODE_LY_CONFIG),
						 errmsg("trigger \"%s\" of %s cannot be dropped: the table's order lines are tracked by loyalty",
								trig, rel_name(c->relid)),
						 errhint("Untrack it with loyalty.untrack_order_lines() instead.")));
			if (OidIsValid(c->orders) && relid == c->orders &&
				name_in(trig, orders_trig_names, lengthof(orders_trig_names)))
				ereport(ERROR,
						(errcode(ERRCODE_LY_CONFIG),
						 errmsg("trigger \"%s\" of %s cannot be dropped: the table holds the members of tracked order lines %s",
								trig, rel_name(relid), rel_name(c->relid)),
						 errhint("Untrack %s with loyalty.untrack_order_lines() first.", rel_name(c->relid))));
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}
