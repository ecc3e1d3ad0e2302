/*
 * orders.c — orders tables the app already has: track_orders /
 * untrack_orders, the statement triggers on the app's table and the event
 * triggers that keep them right.
 *
 * What runs where
 * ---------------
 * track_orders() records which columns of the app's table hold the member,
 * amount, ref, time, category and refunded amount (loyalty.tracked_table,
 * shown by the view loyalty.tracked_orders) and puts four statement
 * triggers on the table and on every partition, sub-partitions included:
 *   loyalty_orders_insert    AFTER INSERT  REFERENCING NEW TABLE
 *   loyalty_orders_update    AFTER UPDATE  REFERENCING OLD TABLE, NEW TABLE
 *   loyalty_orders_delete    AFTER DELETE  REFERENCING OLD TABLE
 *   loyalty_orders_truncate  BEFORE TRUNCATE (refuses it)
 * all executing loyalty._orders_trigger().  A statement fires only the
 * statement triggers of the table it names, and that table's transition
 * tables hold the rows of all its partitions (a row moved between
 * partitions is one old/new pair of the UPDATE), so every row change is
 * seen exactly once, whichever level of the tree the statement names.
 * Partitions created or attached later get the triggers from the
 * ddl_command_end event trigger (loyalty_orders_ddl), which also refuses DDL
 * that would leave a tracked table with a missing or unreadable column, an
 * inheritance child, a foreign partition, or a tracked table inside another
 * one.  The sql_drop event trigger (loyalty_orders_dropped) forgets dropped
 * tables and refuses to drop a tracked column or one of the triggers.
 *
 * The rules (README "Orders tables the app already has")
 * ------------------------------------------------------
 * An order is (member, ref); it is "known" when the ledger has an earn for
 * that member and ref (its purchase lot holds the amount and what was
 * refunded of it).
 *   INSERT row   earn, then refund the refund column (ref <ref>#refund@<n>);
 *                a known order is LY005.
 *   UPDATE pair  old order unknown: nothing.  Same member and ref: the amount
 *                cannot change (LY005), the refund column cannot go down
 *                (22023), raised it refunds up to it, reconciled against the
 *                ledger's refunded amount.  Member or ref changed: the old
 *                order is refunded in full (<oldref>#void) and the new one
 *                earned as an INSERT would.
 *   DELETE row   a known order: refund what is left of it (<ref>#delete).
 *   TRUNCATE     refused (55000).
 *   backfill     every row in at order: unknown -> as INSERT; known -> the
 *                refund column reconciled upward; a known order whose row
 *                disagrees (amount, refund column below the ledger's) is
 *                left alone and counted in one WARNING.
 *
 * Privileges
 * ----------
 * track_orders and untrack_orders run as their caller (not SECURITY
 * DEFINER): the caller must own the table and have USAGE on its schema
 * (42501), the backfill reads the table as the caller, and CREATE / DROP
 * TRIGGER run as the caller.  Only the writes to loyalty's own tables and
 * the calls of the operations switch to the extension's owner
 * (SetUserIdAndSecContext with SECURITY_LOCAL_USERID_CHANGE); an error in
 * between is cleaned up by the (sub)transaction abort, which restores the
 * caller's user id.  The trigger functions are SECURITY DEFINER and evaluate
 * nothing the app defined: the transition tuplestores are read directly,
 * the column types are checked to be built-in ones (or domains over them)
 * and the values converted by built-in C functions, never by a cast.  The
 * event trigger functions are SECURITY DEFINER too, so that a partition
 * gets the triggers whoever creates or attaches it; they read catalogs and
 * loyalty's tables and run CREATE TRIGGER, nothing else.
 *
 * Locking
 * -------
 * track_orders and untrack_orders take SHARE ROW EXCLUSIVE on the table and
 * its partitions (what CREATE TRIGGER takes) after the privilege checks and
 * before reading it, so the app's writes wait for the tracking and its
 * backfill to commit and no row falls in between.  The trigger locks
 * nothing itself: earn() and refund() lock the member.  Two transactions
 * inserting the same order: the second one's earn() replays the first's,
 * which order_new() notices (the earn row is not its transaction's): LY005.
 *
 * Memory and SPI
 * --------------
 * Every SPI call switches CurrentMemoryContext back to the SPI procedure
 * context and keeps its result until freed, so the helpers that call SPI
 * restore the caller's context and free their results; the row loops work
 * in a context reset per row, so the memory of a statement does not grow
 * with its number of rows (the transition tables spill to disk past
 * work_mem).  The tracked-table configuration is cached per backend and
 * dropped whenever the configuration generation moves (config.c); callers
 * get a copy, so a reload in the middle of a statement cannot pull it away.
 */
#include "orders.h"
#include "args.h"
#include "citus.h"
#include "config.h"
#include "numutil.h"
#include "timeutil.h"
#include "statements.h"
#include "ops.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(loyalty_track_orders);
PG_FUNCTION_INFO_V1(loyalty_untrack_orders);
PG_FUNCTION_INFO_V1(loyalty_orders_trigger);
PG_FUNCTION_INFO_V1(loyalty_orders_ddl);
PG_FUNCTION_INFO_V1(loyalty_orders_dropped);

#define BATCH_ROWS	1000		/* backfill: rows fetched at a time */

enum
{
	C_MEMBER, C_AMOUNT, C_REF, C_AT, C_CATEGORY, C_REFUND, NCOLS
};
static const char *const col_role[NCOLS] = {
	"member_column", "amount_column", "ref_column", "at_column", "category_column", "refund_column"
};

typedef struct Tracked
{
	Oid			relid;
	int32		program_id;
	char	   *program;
	char	   *col[NCOLS];		/* NULL: not mapped */
} Tracked;

/* One row of an orders table, converted. */
typedef struct OrderRow
{
	char	   *member;			/* NULL when SQL NULL */
	char	   *ref;
	char	   *category;
	Numeric		amount;			/* NULL when SQL NULL */
	Numeric		refund;			/* NULL when SQL NULL or no refund column */
	bool		has_at;
	TimestampTz at;
} OrderRow;

/* What the rules need to account for the rows of one statement or backfill. */
typedef struct OrderCtx
{
	Tracked    *t;
	Program    *p;
	const char *relname;		/* the table the rows come from, quoted */
	AttrNumber	att[NCOLS];		/* where each column is, InvalidAttrNumber: not mapped */
	Oid			type[NCOLS];	/* its base type */
	TimestampTz now;
	const char *what;			/* for the error context: "INSERT into", ... */
	OrderRow   *cur;			/* the row being accounted for */
	int64		left_alone;		/* backfill: known orders whose row disagrees */
} OrderCtx;

/* The four triggers on a tracked table and each of its partitions. */
typedef struct TrigKind
{
	const char *name;
	int16		type;
	bool		old_table;
	bool		new_table;
	const char *event;
	const char *referencing;
} TrigKind;

static const TrigKind trig_kinds[] = {
	{"loyalty_orders_insert", TRIGGER_TYPE_INSERT, false, true,
	"AFTER INSERT", "REFERENCING NEW TABLE AS loyalty_new"},
	{"loyalty_orders_update", TRIGGER_TYPE_UPDATE, true, true,
	"AFTER UPDATE", "REFERENCING OLD TABLE AS loyalty_old NEW TABLE AS loyalty_new"},
	{"loyalty_orders_delete", TRIGGER_TYPE_DELETE, true, false,
	"AFTER DELETE", "REFERENCING OLD TABLE AS loyalty_old"},
	{"loyalty_orders_truncate", TRIGGER_TYPE_TRUNCATE | TRIGGER_TYPE_BEFORE, false, false,
	"BEFORE TRUNCATE", ""},
};
#define NKINDS ((int) lengthof(trig_kinds))
#define ALL_KINDS ((1 << NKINDS) - 1)

static MemoryContext tracked_cxt = NULL;
static Tracked *tracked = NULL;
static int	ntracked = 0;
static uint64 tracked_generation = 0;

/* ------------------------------------------------------------------------
 * Small helpers (the shared ones are in tracking.c)
 * ------------------------------------------------------------------------ */

/* Whether loyalty.tracked_table is there (not during DROP EXTENSION or an update script). */
static bool
tracked_table_exists(void)
{
	Oid			nsp = loyalty_namespace();

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("tracked_table", nsp));
}


/* ------------------------------------------------------------------------
 * The tracked tables (cached per configuration generation)
 * ------------------------------------------------------------------------ */

/* Needs SPI and SELECT on loyalty's tables (the owner, or a SECURITY DEFINER function). */
static void
tracked_load(void)
{
	uint64		gen = config_current_generation();
	MemoryContext old;

	if (tracked_cxt != NULL && gen == tracked_generation)
		return;
	if (tracked_cxt == NULL)
		tracked_cxt = AllocSetContextCreate(CacheMemoryContext, "loyalty tracked orders",
											ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(tracked_cxt);
	ntracked = 0;
	tracked = NULL;
	old = CurrentMemoryContext;
	stmt_exec(ST_TRACKED_ALL, NULL, NULL, false, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(tracked_cxt);
	tracked = palloc0(sizeof(Tracked) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;

		tracked[i].relid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		tracked[i].program_id = DatumGetInt32(SPI_getbinval(tup, td, 2, &isnull));
		for (int c = 0; c < NCOLS; c++)
			tracked[i].col[c] = SPI_getvalue(tup, td, 3 + c);
	}
	ntracked = (int) SPI_processed;
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	tracked_generation = gen;
}

/*
 * The orders trigger fired on a table no tracking names: when it is the
 * shard of a Citus table (a tracked table distributed afterwards, with
 * citus.enable_unsafe_triggers on), the order would earn nothing, so the
 * statement fails instead.
 */
static void
refuse_citus_shard(Oid relid)
{
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	MemoryContext cxt = CurrentMemoryContext;

	if (!citus_present())
		return;
	stmt_exec(ST_CITUS_SHARD_OF, args, NULL, true, 1, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is a Citus table: loyalty tracks only local orders tables",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("The tracked table was distributed after loyalty.track_orders(); its orders would earn nothing."),
				 errhint("Undistribute it (undistribute_table) or untrack it with loyalty.untrack_orders().")));
}

/* A copy (in the current context) of relid's configuration, NULL when not tracked. */
static Tracked *
tracked_get(Oid relid)
{
	tracked_load();
	for (int i = 0; i < ntracked; i++)
	{
		if (tracked[i].relid == relid)
		{
			Tracked    *t = palloc(sizeof(Tracked));

			t->relid = relid;
			t->program_id = tracked[i].program_id;
			t->program = program_code(t->program_id);
			for (int c = 0; c < NCOLS; c++)
				t->col[c] = tracked[i].col[c] ? pstrdup(tracked[i].col[c]) : NULL;
			return t;
		}
	}
	return NULL;
}

/*
 * The configuration that applies to relid: its own, or, for a partition,
 * its nearest tracked ancestor's.  NULL when none.
 */
static Tracked *
tracked_for(Oid relid)
{
	Tracked    *t = tracked_get(relid);
	ListCell   *lc;

	if (t != NULL || !get_rel_relispartition(relid))
		return t;
	foreach(lc, get_partition_ancestors(relid))
	{
		if ((t = tracked_get(lfirst_oid(lc))) != NULL)
			return t;
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Column types
 * ------------------------------------------------------------------------ */

static ColKind
column_kind(int c)
{
	return c == C_AMOUNT || c == C_REFUND ? COL_NUMBER : c == C_AT ? COL_TIME : COL_KEY;
}

/*
 * Find the mapped columns of t in desc and check their types (LY007);
 * att[c] / type[c] get each column's number and base type.
 */
static void
columns_resolve(const Tracked *t, TupleDesc desc, const char *relname,
				AttrNumber *att, Oid *type)
{
	for (int c = 0; c < NCOLS; c++)
	{
		att[c] = InvalidAttrNumber;
		type[c] = InvalidOid;
		if (t->col[c] == NULL)
			continue;
		column_resolve(desc, relname, col_role[c], t->col[c], column_kind(c), "track_orders",
					   &att[c], &type[c]);
	}
}

/* ------------------------------------------------------------------------
 * Values, converted in C by built-in functions (never a cast)
 * ------------------------------------------------------------------------ */

/* v[c] / isnull[c] hold the value of each mapped column (c in C_*). */
static void
row_convert(OrderCtx *c, Datum *v, bool *isnull, OrderRow *r)
{
	memset(r, 0, sizeof(OrderRow));
#define MAPPED(k) (c->att[k] != InvalidAttrNumber && !isnull[k])
	if (MAPPED(C_MEMBER))
		r->member = key_text(c->type[C_MEMBER], v[C_MEMBER]);
	if (MAPPED(C_REF))
		r->ref = key_text(c->type[C_REF], v[C_REF]);
	if (MAPPED(C_CATEGORY))
		r->category = key_text(c->type[C_CATEGORY], v[C_CATEGORY]);
	if (MAPPED(C_AMOUNT))
		r->amount = number_value(c->type[C_AMOUNT], v[C_AMOUNT]);
	if (MAPPED(C_REFUND))
		r->refund = number_value(c->type[C_REFUND], v[C_REFUND]);
	if (MAPPED(C_AT))
	{
		r->has_at = true;
		r->at = time_value(c->p, c->type[C_AT], v[C_AT], c->t->col[C_AT]);
	}
#undef MAPPED
}

static void
key_require(OrderCtx *c, int col, const char *s)
{
	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" of %s must not be NULL", col_role[col], c->t->col[col], c->relname)));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" of %s must not be empty", col_role[col], c->t->col[col], c->relname)));
	if (pg_mbstrlen(s) > KEY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" of %s is longer than %d characters: \"%s\"",
						col_role[col], c->t->col[col], c->relname, KEY_MAX, cut(s))));
}

/* The refund column's value, 0 when NULL or not mapped. */
static Numeric
row_refund(OrderRow *r)
{
	return r->refund ? r->refund : num_int64(0);
}

/* Everything a row needs to earn (22023, LY006), as the SPEC's earn() would check it. */
static void
row_require(OrderCtx *c, OrderRow *r)
{
	key_require(c, C_MEMBER, r->member);
	key_require(c, C_REF, r->ref);
	if (r->amount == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount_column \"%s\" of %s must not be NULL", c->t->col[C_AMOUNT], c->relname)));
	if (!num_finite(r->amount) || num_sign(r->amount) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount_column \"%s\" of %s must be a number greater than 0, not %s",
						c->t->col[C_AMOUNT], c->relname, cut(num_to_cstring(r->amount)))));
	if (r->refund != NULL)
	{
		if (!num_finite(r->refund) || num_sign(r->refund) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refund_column \"%s\" of %s must be a number not below 0, not %s",
							c->t->col[C_REFUND], c->relname, cut(num_to_cstring(r->refund)))));
		if (num_cmp(r->refund, r->amount) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_OVER_REFUND),
					 errmsg("refund_column \"%s\" of %s says %s was refunded of order \"%s\", more than its amount %s",
							c->t->col[C_REFUND], c->relname, cut(num_to_cstring(r->refund)),
							cut(r->ref), cut(num_to_cstring(r->amount)))));
	}
	if (r->has_at && TIMESTAMP_NOT_FINITE(r->at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at_column \"%s\" of %s must be a finite time, not %s",
						c->t->col[C_AT], c->relname,
						TIMESTAMP_IS_NOBEGIN(r->at) ? "-infinity" : "infinity")));
}

static void
orders_errcontext(void *arg)
{
	OrderCtx   *c = (OrderCtx *) arg;

	if (c->cur == NULL)
		return;
	errcontext("loyalty: %s %s, order of member %s%s%s, ref %s%s%s",
			   c->what, c->relname,
			   c->cur->member ? "\"" : "", cut(c->cur->member), c->cur->member ? "\"" : "",
			   c->cur->ref ? "\"" : "", cut(c->cur->ref), c->cur->ref ? "\"" : "");
}

/* ------------------------------------------------------------------------
 * The rules for each change of a row
 * ------------------------------------------------------------------------ */

/* Refund the order up to `target` (its refund column), against what the ledger has refunded. */
static void
refund_up_to(OrderCtx *c, const char *member, const char *ref, Numeric target,
			 Numeric refunded)
{
	Numeric		delta = num_sub(target, refunded);

	if (num_sign(delta) > 0)
		order_refund(c->p, member, ref, delta,
					 derived_ref(ref, psprintf("#refund@%s", num_to_cstring(target))), c->now);
}

/* Refund what is left of a known order. */
static void
refund_rest(OrderCtx *c, const char *member, const char *ref, OrderState *st,
			const char *suffix)
{
	Numeric		left = num_sub(st->amount, st->refunded);

	if (num_sign(left) > 0)
		order_refund(c->p, member, ref, left, derived_ref(ref, suffix), c->now);
}

/* A new order: earn it, then its refund column.  The row is checked already. */
static void
order_new(OrderCtx *c, OrderRow *r)
{
	OrderState	st;

	order_state(c->p, r->member, r->ref, &st);
	if (st.known)
		ereport(ERROR,
				(errcode(ERRCODE_LY_REF_REUSED),
				 errmsg("order \"%s\" of member \"%s\" has earned already",
						cut(r->ref), cut(r->member)),
				 errdetail("An order number earns once per member, also after its row was deleted or changed."),
				 errhint("Give the order a new number.")));
	order_earn(c->p, r->member, r->amount, r->ref, r->has_at ? r->at : c->now, r->category);
	/*
	 * earn() replays a call with the same ref and arguments: when another
	 * transaction earned this order between the look-up and the earn, the
	 * order is not this row's.
	 */
	order_state(c->p, r->member, r->ref, &st);
	if (!st.known || !st.mine)
		ereport(ERROR,
				(errcode(ERRCODE_LY_REF_REUSED),
				 errmsg("order \"%s\" of member \"%s\" was earned by another transaction meanwhile",
						cut(r->ref), cut(r->member)),
				 errhint("Give the order a new number.")));
	if (r->refund != NULL && num_sign(r->refund) > 0)
		refund_up_to(c, r->member, r->ref, r->refund, st.refunded);
}

static void
rule_insert(OrderCtx *c, OrderRow *r)
{
	row_require(c, r);
	order_new(c, r);
}

static bool
key_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void
rule_update(OrderCtx *c, OrderRow *o, OrderRow *n)
{
	OrderState	st;
	Numeric		before,
				after;

	/* an order the ledger does not know (a row from before tracking): not ours */
	if (!key_ok(o->member) || !key_ok(o->ref))
		return;
	order_state(c->p, o->member, o->ref, &st);
	if (!st.known)
		return;

	if (!key_eq(o->member, n->member) || !key_eq(o->ref, n->ref))
	{
		/* another order: the old one is refunded in full, the new one earned */
		row_require(c, n);
		refund_rest(c, o->member, o->ref, &st, "#void");
		order_new(c, n);
		return;
	}

	/* the same order */
	if (n->amount == NULL || !num_finite(n->amount) || num_sign(n->amount) <= 0)
		row_require(c, n);		/* raises the 22023 that INSERT would */
	if (o->amount == NULL || num_cmp(o->amount, n->amount) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_REF_REUSED),
				 errmsg("the amount of order \"%s\" of member \"%s\" cannot change from %s to %s",
						cut(n->ref), cut(n->member), cut(o->amount ? num_to_cstring(o->amount) : "NULL"),
						cut(num_to_cstring(n->amount))),
				 errdetail("The order earned its points for %s; points are computed once, when an order is earned.",
						   cut(num_to_cstring(st.amount))),
				 errhint(c->t->col[C_REFUND]
						 ? "Record a partial refund in the refund column, or delete the order and insert it again with a new number."
						 : "Delete the order and insert it again with a new number.")));
	if (c->att[C_REFUND] == InvalidAttrNumber)
		return;
	before = row_refund(o);
	after = row_refund(n);
	if (!num_finite(after) || num_sign(after) < 0)
		row_require(c, n);
	if (num_cmp(after, before) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refund_column \"%s\" of order \"%s\" of member \"%s\" cannot go down from %s to %s",
						c->t->col[C_REFUND], cut(n->ref), cut(n->member),
						cut(num_to_cstring(before)), cut(num_to_cstring(after))),
				 errdetail("A refund cannot be taken back."),
				 errhint("A purchase made again is a new order, with a new number.")));
	if (num_cmp(after, before) == 0)
		return;
	if (num_cmp(after, st.amount) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_OVER_REFUND),
				 errmsg("refund_column \"%s\" of order \"%s\" of member \"%s\" says %s was refunded, more than the order's amount %s",
						c->t->col[C_REFUND], cut(n->ref), cut(n->member),
						cut(num_to_cstring(after)), cut(num_to_cstring(st.amount)))));
	refund_up_to(c, n->member, n->ref, after, st.refunded);
}

static void
rule_delete(OrderCtx *c, OrderRow *o)
{
	OrderState	st;

	if (!key_ok(o->member) || !key_ok(o->ref))
		return;
	order_state(c->p, o->member, o->ref, &st);
	if (st.known)
		refund_rest(c, o->member, o->ref, &st, "#delete");
}

/* Backfill of one row; a known order whose row disagrees is counted in c->left_alone. */
static void
rule_backfill(OrderCtx *c, OrderRow *r)
{
	OrderState	st;
	Numeric		target;

	if (!key_ok(r->member) || !key_ok(r->ref))
		row_require(c, r);		/* cannot earn: 22023 */
	order_state(c->p, r->member, r->ref, &st);
	if (!st.known)
	{
		row_require(c, r);
		order_new(c, r);
		return;
	}
	target = row_refund(r);
	if (r->amount == NULL || num_cmp(r->amount, st.amount) != 0 ||
		!num_finite(target) || num_cmp(target, st.refunded) < 0 ||
		num_cmp(target, st.amount) > 0)
	{
		c->left_alone++;
		return;
	}
	refund_up_to(c, r->member, r->ref, target, st.refunded);
}

/* ------------------------------------------------------------------------
 * The triggers on the app's tables
 * ------------------------------------------------------------------------ */

/*
 * Which of trig_kinds relid has (a bit per kind: a trigger executing fn with
 * that type and those transition tables, whatever its name), and the names
 * of all its triggers executing fn.
 */
static int
triggers_present(Oid relid, Oid fn, List **names)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	int			mask = 0;

	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);
		bool		no_old,
					no_new;

		if (tg->tgfoid != fn)
			continue;
		if (names)
			*names = lappend(*names, pstrdup(NameStr(tg->tgname)));
		heap_getattr(tup, Anum_pg_trigger_tgoldtable, RelationGetDescr(rel), &no_old);
		heap_getattr(tup, Anum_pg_trigger_tgnewtable, RelationGetDescr(rel), &no_new);
		for (int k = 0; k < NKINDS; k++)
			if (tg->tgtype == trig_kinds[k].type &&
				trig_kinds[k].old_table == !no_old && trig_kinds[k].new_table == !no_new)
				mask |= 1 << k;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return mask;
}

/* Create the triggers relid lacks (as the current user). */
static void
triggers_ensure(Oid relid, Oid fn)
{
	int			mask = triggers_present(relid, fn, NULL);
	char	   *name;

	if (mask == ALL_KINDS)
		return;
	name = rel_name(relid);
	for (int k = 0; k < NKINDS; k++)
	{
		if (mask & (1 << k))
			continue;
		sql_run(psprintf("CREATE TRIGGER %s %s ON %s %s FOR EACH STATEMENT "
						 "EXECUTE FUNCTION loyalty._orders_trigger()",
						 trig_kinds[k].name, trig_kinds[k].event, name, trig_kinds[k].referencing),
				SPI_OK_UTILITY);
	}
}

/* Drop relid's triggers executing fn (as the current user). */
static void
triggers_drop(Oid relid, Oid fn)
{
	List	   *names = NIL;
	ListCell   *lc;
	char	   *name;

	triggers_present(relid, fn, &names);
	if (names == NIL)
		return;
	name = rel_name(relid);
	foreach(lc, names)
		sql_run(psprintf("DROP TRIGGER %s ON %s", quote_identifier(lfirst(lc)), name),
				SPI_OK_UTILITY);
}

/* ------------------------------------------------------------------------
 * The trigger: loyalty._orders_trigger()
 * ------------------------------------------------------------------------ */

static void
slot_values(OrderCtx *c, TupleTableSlot *slot, Datum *v, bool *isnull)
{
	for (int k = 0; k < NCOLS; k++)
	{
		isnull[k] = true;
		v[k] = (Datum) 0;
		if (c->att[k] != InvalidAttrNumber)
			v[k] = slot_getattr(slot, c->att[k], &isnull[k]);
	}
}


Datum
loyalty_orders_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			relid;
	Tracked    *t;
	OrderCtx	c;
	TupleDesc	desc;
	MemoryContext rowcxt;
	MemoryContext old;
	ErrorContextCallback errcb;
	TupleTableSlot *slot_old = NULL;
	TupleTableSlot *slot_new = NULL;
	Datum		v[NCOLS],
				w[NCOLS];
	bool		vn[NCOLS],
				wn[NCOLS];
	OrderRow	ro,
				rn;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loyalty._orders_trigger() must be called as a trigger")));
	relid = RelationGetRelid(td->tg_relation);
	if (TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trigger \"%s\" on %s is a row trigger of an older version of loyalty",
						td->tg_trigger->tgname, rel_name(relid)),
				 errhint("Run ALTER EXTENSION loyalty UPDATE, which replaces it.")));

	ly_spi_connect();
	citus_cluster();
	t = tracked_for(relid);
	if (t == NULL)
	{
		refuse_citus_shard(relid);
		/* a detached partition, or untracked meanwhile: not ours any more */
		SPI_finish();
		return PointerGetDatum(NULL);
	}

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("TRUNCATE of %s is not allowed: its orders are tracked by loyalty",
						rel_name(relid)),
				 errdetail("TRUNCATE would remove orders without refunding their points."),
				 errhint("DELETE the rows instead, which refunds them, or stop tracking the table "
						 "with loyalty.untrack_orders() first.")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on %s must fire AFTER the statement",
						td->tg_trigger->tgname, rel_name(relid))));

	memset(&c, 0, sizeof(c));
	c.t = t;
	c.p = program_get_by_id(t->program_id);
	c.relname = rel_name(relid);
	c.now = GetCurrentTransactionStartTimestamp();
	desc = RelationGetDescr(td->tg_relation);
	/* the table may have been altered since tracking: check again, cheaply */
	columns_resolve(t, desc, c.relname, c.att, c.type);

	errcb.callback = orders_errcontext;
	errcb.arg = &c;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "loyalty orders row",
								   ALLOCSET_DEFAULT_SIZES);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		if (td->tg_trigger->tgnewtable == NULL)
			no_transition_table(td, "orders", "track_orders");
		c.what = "INSERT into";
		slot_new = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		if (td->tg_newtable != NULL)	/* NULL: no rows */
			transition_rewind(td->tg_newtable);
		while (td->tg_newtable != NULL &&
			   tuplestore_gettupleslot(td->tg_newtable, true, false, slot_new))
		{
			MemoryContextReset(rowcxt);
			old = MemoryContextSwitchTo(rowcxt);
			slot_values(&c, slot_new, v, vn);
			c.cur = NULL;
			row_convert(&c, v, vn, &rn);
			c.cur = &rn;
			rule_insert(&c, &rn);
			c.cur = NULL;
			MemoryContextSwitchTo(old);
		}
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		int64		nold,
					nnew;

		if (td->tg_trigger->tgoldtable == NULL || td->tg_trigger->tgnewtable == NULL)
			no_transition_table(td, "orders", "track_orders");
		c.what = "UPDATE of";
		nold = td->tg_oldtable ? tuplestore_tuple_count(td->tg_oldtable) : 0;
		nnew = td->tg_newtable ? tuplestore_tuple_count(td->tg_newtable) : 0;
		if (nold != nnew)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot account for an UPDATE of %s: its transition tables hold "
							INT64_FORMAT " old and " INT64_FORMAT " new rows", c.relname, nold, nnew),
					 errdetail("A row trigger on a partition skipped part of a row's move between partitions."),
					 errhint("Let every row of a tracked table that an UPDATE moves arrive in its new partition.")));
		slot_old = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		slot_new = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		if (nold > 0)
		{
			transition_rewind(td->tg_oldtable);
			transition_rewind(td->tg_newtable);
		}
		while (nold > 0)
		{
			bool		has_old = tuplestore_gettupleslot(td->tg_oldtable, true, false, slot_old);
			bool		has_new = tuplestore_gettupleslot(td->tg_newtable, true, false, slot_new);

			if (!has_old && !has_new)
				break;
			if (has_old != has_new)
				elog(ERROR, "loyalty: the transition tables of an UPDATE of %s differ in length",
					 c.relname);
			MemoryContextReset(rowcxt);
			old = MemoryContextSwitchTo(rowcxt);
			slot_values(&c, slot_old, v, vn);
			slot_values(&c, slot_new, w, wn);
			c.cur = NULL;
			row_convert(&c, v, vn, &ro);
			row_convert(&c, w, wn, &rn);
			c.cur = &rn;
			rule_update(&c, &ro, &rn);
			c.cur = NULL;
			MemoryContextSwitchTo(old);
		}
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		if (td->tg_trigger->tgoldtable == NULL)
			no_transition_table(td, "orders", "track_orders");
		c.what = "DELETE from";
		slot_old = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		if (td->tg_oldtable != NULL)	/* NULL: no rows */
			transition_rewind(td->tg_oldtable);
		while (td->tg_oldtable != NULL &&
			   tuplestore_gettupleslot(td->tg_oldtable, true, false, slot_old))
		{
			MemoryContextReset(rowcxt);
			old = MemoryContextSwitchTo(rowcxt);
			slot_values(&c, slot_old, v, vn);
			c.cur = NULL;
			row_convert(&c, v, vn, &ro);
			c.cur = &ro;
			rule_delete(&c, &ro);
			c.cur = NULL;
			MemoryContextSwitchTo(old);
		}
	}

	if (slot_old)
		ExecDropSingleTupleTableSlot(slot_old);
	if (slot_new)
		ExecDropSingleTupleTableSlot(slot_new);
	MemoryContextDelete(rowcxt);
	error_context_stack = errcb.previous;
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------------------
 * track_orders / untrack_orders
 * ------------------------------------------------------------------------ */

/* relid can be tracked as a whole table (LY007 otherwise); returns its partitions and itself. */
static List *
rel_trackable(Oid relid, const char *name)
{
	HeapTuple	tup;
	Form_pg_class f;
	char		relkind;
	char		persistence;
	bool		ispartition;
	Oid			nsp;
	List	   *tree;
	ListCell   *lc;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("table with OID %u does not exist", relid)));
	f = (Form_pg_class) GETSTRUCT(tup);
	relkind = f->relkind;
	persistence = f->relpersistence;
	ispartition = f->relispartition;
	nsp = f->relnamespace;
	ReleaseSysCache(tup);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s is not a table", name),
				 errdetail("Only tables and partitioned tables can be tracked.")));
	if (nsp == loyalty_namespace())
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s is one of loyalty's own tables", name)));
	if (persistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("temporary table %s cannot be tracked", quote_identifier(get_rel_name(relid))),
				 errdetail("Its tracking would end with the session.")));
	if (ispartition)
	{
		List	   *anc = get_partition_ancestors(relid);
		char	   *top = rel_name(llast_oid(anc));

		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s is a partition of %s", name, top),
				 errdetail("A statement on the partitioned table would not fire a partition's own triggers."),
				 errhint("Track %s: its partitions are tracked with it.", top)));
	}
	if (has_superclass(relid))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s inherits from %s", name, rel_name(linitial_oid(rel_parents(relid)))),
				 errdetail("Statements on a parent table would change its rows without firing its triggers.")));
	if (relkind == RELKIND_RELATION && find_inheritance_children(relid, NoLock) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s has inheritance children (%s)", name,
						rel_name(linitial_oid(find_inheritance_children(relid, NoLock)))),
				 errdetail("Only partitioned tables can be tracked with the tables below them.")));

	tree = find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
	foreach(lc, tree)
	{
		Oid			part = lfirst_oid(lc);

		if (part != relid && get_rel_relkind(part) == RELKIND_FOREIGN_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("partition %s of %s is a foreign table", rel_name(part), name),
					 errdetail("Triggers on foreign tables cannot have transition tables.")));
	}
	return tree;
}

/* The backfill: every row of the table, read as the caller, in at order. */
static void
backfill(OrderCtx *c, UserSwitch *u)
{
	StringInfoData q;
	int			n = 0;
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext rowcxt;
	MemoryContext cxt = CurrentMemoryContext;
	ErrorContextCallback errcb;
	bool		resolved = false;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	for (int k = 0; k < NCOLS; k++)
	{
		if (c->t->col[k] == NULL)
		{
			c->att[k] = InvalidAttrNumber;
			continue;
		}
		appendStringInfo(&q, "%s%s", n > 0 ? ", " : "", quote_identifier(c->t->col[k]));
		c->att[k] = (AttrNumber) ++n;
	}
	appendStringInfo(&q, " FROM %s", c->relname);
	if (c->t->col[C_AT])
		appendStringInfo(&q, " ORDER BY %s", quote_identifier(c->t->col[C_AT]));

	plan = SPI_prepare(q.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "loyalty: preparing the backfill failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	MemoryContextSwitchTo(cxt);

	c->what = "backfill of";
	errcb.callback = orders_errcontext;
	errcb.arg = c;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rowcxt = AllocSetContextCreate(cxt, "loyalty backfill row", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPITupleTable *tt;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, BATCH_ROWS);	/* as the caller */
		MemoryContextSwitchTo(cxt);
		tt = SPI_tuptable;
		nrows = SPI_processed;
		SPI_tuptable = NULL;
		if (nrows == 0)
			break;
		if (!resolved)
		{
			for (int k = 0; k < NCOLS; k++)
				if (c->att[k] != InvalidAttrNumber)
					c->type[k] = getBaseType(TupleDescAttr(tt->tupdesc, c->att[k] - 1)->atttypid);
			resolved = true;
		}
		for (uint64 i = 0; i < nrows; i++)
		{
			Datum		v[NCOLS];
			bool		vn[NCOLS];
			OrderRow	r;
			MemoryContext old;

			MemoryContextReset(rowcxt);
			old = MemoryContextSwitchTo(rowcxt);
			for (int k = 0; k < NCOLS; k++)
			{
				vn[k] = true;
				v[k] = (Datum) 0;
				if (c->att[k] != InvalidAttrNumber)
					v[k] = SPI_getbinval(tt->vals[i], tt->tupdesc, c->att[k], &vn[k]);
			}
			c->cur = NULL;
			row_convert(c, v, vn, &r);
			c->cur = &r;
			as_owner(u);
			rule_backfill(c, &r);
			as_caller(u);
			c->cur = NULL;
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	MemoryContextSwitchTo(cxt);
	MemoryContextDelete(rowcxt);
	error_context_stack = errcb.previous;

	if (c->left_alone > 0)
		ereport(WARNING,
				(errmsg("backfill of %s left " INT64_FORMAT " row%s as %s: %s order%s earned already for another amount or with more refunded",
						c->relname, c->left_alone, c->left_alone == 1 ? "" : "s",
						c->left_alone == 1 ? "it is" : "they are",
						c->left_alone == 1 ? "its" : "their", c->left_alone == 1 ? " was" : "s were"),
				 errdetail("The ledger keeps what it has for such orders; the rows were not changed either."),
				 errhint("Correct an order with loyalty.refund() or loyalty.adjust() if the ledger is wrong.")));
}

Datum
loyalty_track_orders(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *prog;
	Tracked		t;
	char	   *name;
	Relation	rel;
	List	   *tree;
	ListCell   *lc;
	UserSwitch	u;
	OrderCtx	c;
	Oid			fn;
	bool		backfill_rows = !PG_ARGISNULL(8) && PG_GETARG_BOOL(8);
	Datum		args[8];
	char		nulls[9] = "        ";

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("orders must not be NULL")));
	relid = PG_GETARG_OID(0);
	prog = arg_text(fcinfo, 1, "program");
	memset(&t, 0, sizeof(t));
	t.relid = relid;
	for (int k = 0; k < NCOLS; k++)
	{
		t.col[k] = PG_ARGISNULL(2 + k) ? NULL : pstrdup(NameStr(*PG_GETARG_NAME(2 + k)));
		if (k <= C_REF && t.col[k] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("%s must not be NULL", col_role[k])));
	}

	/* privileges first, then the lock that keeps writers out until we commit */
	rel_access(relid, "track");
	LockRelationOid(relid, ShareRowExclusiveLock);
	name = rel_access(relid, "track");
	tree = rel_trackable(relid, name);

	rel = table_open(relid, NoLock);
	memset(&c, 0, sizeof(c));
	c.t = &t;
	c.relname = name;
	columns_resolve(&t, RelationGetDescr(rel), name, c.att, c.type);
	table_close(rel, NoLock);

	ly_spi_connect();
	foreach(lc, tree)
		refuse_citus_table(lfirst_oid(lc), rel_name(lfirst_oid(lc)));
	fn = loyalty_function("_orders_trigger");
	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("function loyalty._orders_trigger() does not exist"),
				 errhint("Reinstall the extension (ALTER EXTENSION loyalty UPDATE, or DROP and CREATE EXTENSION).")));
	user_switch_init(&u);
	as_owner(&u);
	c.p = program_get(prog);
	t.program_id = c.p->id;
	t.program = c.p->code;
	foreach(lc, tree)
	{
		Oid			part = lfirst_oid(lc);

		Oid			lines;

		if (part != relid && tracked_get(part) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("partition %s of %s is tracked itself", rel_name(part), name),
					 errhint("Untrack it first with loyalty.untrack_orders().")));
		/* its orders would earn twice: once as orders, once as lines */
		if (OidIsValid(lines = lines_tracking_of(part)))
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg(lines == part ? "%s is tracked as order lines%s" : "%s is the orders table of tracked order lines %s",
							rel_name(part), lines == part ? "" : rel_name(lines)),
					 errdetail("Its orders earn through the lines already; tracking it as orders would earn them twice."),
					 errhint("Untrack %s with loyalty.untrack_order_lines() first.", rel_name(lines))));
	}
	args[0] = ObjectIdGetDatum(relid);
	args[1] = Int32GetDatum(c.p->id);
	for (int k = 0; k < NCOLS; k++)
	{
		args[2 + k] = t.col[k] ? CStringGetTextDatum(t.col[k]) : (Datum) 0;
		nulls[2 + k] = t.col[k] ? ' ' : 'n';
	}
	plan_run(ST_TRACK_PUT, args, nulls, SPI_OK_INSERT, "recording the tracked table");
	as_caller(&u);

	/* the triggers, created by the table's owner */
	foreach(lc, tree)
		triggers_ensure(lfirst_oid(lc), fn);

	if (backfill_rows)
	{
		c.now = GetCurrentTransactionStartTimestamp();
		backfill(&c, &u);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
loyalty_untrack_orders(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *name;
	UserSwitch	u;
	Datum		args[1];
	uint64		deleted;
	Oid			fn;
	List	   *tree;
	ListCell   *lc;
	Tracked    *root;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("orders must not be NULL")));
	relid = PG_GETARG_OID(0);
	args[0] = ObjectIdGetDatum(relid);

	if (!rel_exists(relid))
	{
		/* a dropped table: forget its tracking if the drop left it behind */
		ly_spi_connect();
		user_switch_init(&u);
		as_owner(&u);
		plan_run(ST_TRACK_DEL, args, NULL, SPI_OK_DELETE, "untracking");
		deleted = SPI_processed;
		as_caller(&u);
		if (deleted == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("table with OID %u is not tracked", relid),
					 errdetail("No table with that OID exists.")));
		SPI_finish();
		PG_RETURN_VOID();
	}

	rel_access(relid, "untrack");
	LockRelationOid(relid, ShareRowExclusiveLock);
	if (!rel_exists(relid))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("table with OID %u does not exist", relid)));
	name = rel_access(relid, "untrack");

	ly_spi_connect();
	fn = loyalty_function("_orders_trigger");
	user_switch_init(&u);
	as_owner(&u);
	plan_run(ST_TRACK_DEL, args, NULL, SPI_OK_DELETE, "untracking");
	deleted = SPI_processed;
	root = deleted == 0 ? tracked_for(relid) : NULL;
	as_caller(&u);
	if (deleted == 0 && root != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("table %s is not tracked itself: it is a partition of tracked table %s",
						name, rel_name(root->relid)),
				 errhint("Untrack %s.", rel_name(root->relid))));

	/* the triggers (also those a detached partition kept), dropped by the owner */
	tree = find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
	if (deleted == 0 && (!OidIsValid(fn) || triggers_present(relid, fn, NULL) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("table %s is not tracked", name)));
	if (OidIsValid(fn))
		foreach(lc, tree)
			triggers_drop(lfirst_oid(lc), fn);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Event triggers: loyalty_orders_ddl (ddl_command_end), loyalty_orders_dropped (sql_drop)
 * ------------------------------------------------------------------------ */

/* The nearest tracked table at or above relid, through partitions only. */
static Tracked *
tracked_above(Oid relid)
{
	return tracked_for(relid);
}

static void
ddl_errcontext(void *arg)
{
	Tracked    *t = (Tracked *) arg;

	errcontext("loyalty: %s is tracked for program \"%s\"; untrack it with "
			   "loyalty.untrack_orders() before changing the columns it reads",
			   rel_name(t->relid), t->program);
}

/*
 * After DDL on relid: refuse what would break the tracking of a table,
 * give new partitions the triggers.
 */
static void
ddl_check(Oid relid, bool created, Oid fn)
{
	char		relkind = get_rel_relkind(relid);
	Tracked    *root;
	char	   *name;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_FOREIGN_TABLE)
		return;
	root = tracked_get(relid);
	if (root != NULL && created)
	{
		/* a new table cannot be tracked: a row left behind for an OID now reused */
		Datum		args[1] = {ObjectIdGetDatum(relid)};

		plan_run(ST_TRACK_DEL, args, NULL, SPI_OK_DELETE, "forgetting a dropped table");
		root = NULL;
	}
	if (root == NULL)
		root = tracked_above(relid);
	name = rel_name(relid);

	if (root == NULL)
	{
		ListCell   *lc;

		/* an inheritance child of a tracked table (or of one of its partitions) */
		if (get_rel_relispartition(relid) || !has_superclass(relid))
			return;
		foreach(lc, rel_parents(relid))
		{
			Tracked    *pt = tracked_above(lfirst_oid(lc));

			if (pt != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_LY_CONFIG),
						 errmsg("%s cannot inherit from %s: its orders are tracked by loyalty",
								name, rel_name(lfirst_oid(lc))),
						 errdetail("Statements on the parent would change the child's rows without firing its triggers."),
						 errhint("Make it a partition of a partitioned table, or untrack %s first.",
								 rel_name(pt->relid))));
		}
		return;
	}

	if (root->relid == relid && (get_rel_relispartition(relid) || has_superclass(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("tracked table %s cannot become a partition or inheritance child of %s",
						name, rel_name(linitial_oid(rel_parents(relid)))),
				 errdetail("Statements on the parent would not fire the tracked table's own triggers."),
				 errhint("Untrack it with loyalty.untrack_orders() first, then track the new parent.")));
	if (relkind == RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("foreign table %s cannot be a partition of tracked table %s",
						name, rel_name(root->relid)),
				 errdetail("Triggers on foreign tables cannot have transition tables.")));
	if (relkind == RELKIND_RELATION && !get_rel_relispartition(relid) &&
		find_inheritance_children(relid, NoLock) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("tracked table %s cannot have inheritance children", name),
				 errdetail("Statements on it would change the children's rows without firing their triggers."),
				 errhint("Use a partitioned table, or untrack %s first.", name)));

	/* its columns: an error says which table is tracked (ddl_errcontext) */
	{
		Relation	rel = relation_open(relid, AccessShareLock);
		AttrNumber	att[NCOLS];
		Oid			type[NCOLS];
		ErrorContextCallback errcb;

		errcb.callback = ddl_errcontext;
		errcb.arg = root;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		columns_resolve(root, RelationGetDescr(rel), name, att, type);
		error_context_stack = errcb.previous;
		relation_close(rel, AccessShareLock);
	}

	/* the triggers on it and everything below it */
	if (OidIsValid(fn))
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
		{
			Oid			part = lfirst_oid(lc);

			if (part != relid)
			{
				if (get_rel_relkind(part) == RELKIND_FOREIGN_TABLE)
					ereport(ERROR,
							(errcode(ERRCODE_LY_CONFIG),
							 errmsg("foreign table %s cannot be a partition of tracked table %s",
									rel_name(part), rel_name(root->relid)),
							 errdetail("Triggers on foreign tables cannot have transition tables.")));
				if (tracked_get(part) != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_LY_CONFIG),
							 errmsg("tracked table %s cannot become a partition of tracked table %s",
									rel_name(part), rel_name(root->relid)),
							 errhint("Untrack %s with loyalty.untrack_orders() first.", rel_name(part))));
			}
			triggers_ensure(part, fn);
		}
	}
}

Datum
loyalty_orders_ddl(PG_FUNCTION_ARGS)
{
	Datum		args[1] = {ObjectIdGetDatum(RelationRelationId)};
	List	   *rels = NIL;
	List	   *created = NIL;
	ListCell   *lc;
	Oid			fn;
	MemoryContext cxt;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loyalty._orders_ddl() must be called as an event trigger")));
	/* loyalty's own scripts (install, update) and other extensions' */
	if (creating_extension || !tracked_table_exists())
		PG_RETURN_VOID();

	ly_spi_connect_nocheck();
	cxt = CurrentMemoryContext;
	tracked_load();
	if (ntracked == 0)
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	stmt_exec(ST_DDL_COMMANDS, args, NULL, true, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		char	   *tag = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (isnull)
			continue;
		rels = list_append_unique_oid(rels, relid);
		if (tag != NULL && strncmp(tag, "CREATE", 6) == 0)
			created = list_append_unique_oid(created, relid);
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;

	fn = loyalty_function("_orders_trigger");
	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);

		if (rel_exists(relid))
			ddl_check(relid, list_member_oid(created, relid), fn);
	}

	/* a tracked table attached below one of these (ATTACH PARTITION names the parent) */
	{
		List	   *roots = NIL;

		tracked_load();
		for (int i = 0; i < ntracked; i++)
			roots = lappend_oid(roots, tracked[i].relid);
		foreach(lc, roots)
		{
			Oid			relid = lfirst_oid(lc);
			ListCell   *lp;

			if (!rel_exists(relid) || !has_superclass(relid))
				continue;
			foreach(lp, rel_parents(relid))
			{
				if (list_member_oid(rels, lfirst_oid(lp)))
					ereport(ERROR,
							(errcode(ERRCODE_LY_CONFIG),
							 errmsg("tracked table %s cannot become a partition or inheritance child of %s",
									rel_name(relid), rel_name(lfirst_oid(lp))),
							 errdetail("Statements on the parent would not fire the tracked table's own triggers."),
							 errhint("Untrack it with loyalty.untrack_orders() first, then track the new parent.")));
			}
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}

static bool
is_trigger_name(const char *name)
{
	for (int k = 0; k < NKINDS; k++)
		if (strcmp(name, trig_kinds[k].name) == 0)
			return true;
	return false;
}

Datum
loyalty_orders_dropped(PG_FUNCTION_ARGS)
{
	List	   *tables = NIL;
	List	   *cols = NIL;		/* pairs: relid, column name */
	List	   *trigs = NIL;	/* pairs: relid, trigger name */
	Dropped		dropped;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loyalty._orders_dropped() must be called as an event trigger")));
	/* DROP EXTENSION loyalty, loyalty's own update scripts: nothing to keep right */
	if (creating_extension || !tracked_table_exists())
		PG_RETURN_VOID();

	ly_spi_connect_nocheck();
	tracked_load();
	if (ntracked == 0)
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	dropped_objects(&dropped, is_trigger_name);
	tables = dropped.tables;
	cols = dropped.cols;
	trigs = dropped.trigs;

	/* a tracked column dropped (DROP COLUMN, DROP DOMAIN ... CASCADE) from a table that stays */
	for (int i = 0; i + 1 < list_length(cols); i += 2)
	{
		Oid			relid = (Oid) (uintptr_t) list_nth(cols, i);
		char	   *col = list_nth(cols, i + 1);
		Tracked    *t;

		if (list_member_oid(tables, relid) || !rel_exists(relid) ||
			(t = tracked_get(relid)) == NULL)
			continue;
		for (int k = 0; k < NCOLS; k++)
			if (t->col[k] != NULL && strcmp(t->col[k], col) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_LY_CONFIG),
						 errmsg("column \"%s\" of %s cannot be dropped: it is the %s of tracked orders",
								col, rel_name(relid), col_role[k]),
						 errhint("Untrack the table with loyalty.untrack_orders() first.")));
	}
	/* one of loyalty's triggers dropped from a table that is still tracked */
	for (int i = 0; i + 1 < list_length(trigs); i += 2)
	{
		Oid			relid = (Oid) (uintptr_t) list_nth(trigs, i);
		Tracked    *t;

		if (list_member_oid(tables, relid) || (t = tracked_for(relid)) == NULL)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("trigger \"%s\" of %s cannot be dropped: the table's orders are tracked by loyalty",
						(char *) list_nth(trigs, i + 1), rel_name(relid)),
				 errhint("Untrack %s with loyalty.untrack_orders() instead.", rel_name(t->relid))));
	}
	/* dropped tables are untracked */
	{
		List	   *forget = NIL;

		for (int i = 0; i < ntracked; i++)
			if (list_member_oid(tables, tracked[i].relid))
				forget = lappend_oid(forget, tracked[i].relid);
		foreach(lc, forget)
		{
			Datum		args[1] = {ObjectIdGetDatum(lfirst_oid(lc))};

			plan_run(ST_TRACK_DEL, args, NULL, SPI_OK_DELETE, "untracking a dropped table");
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}
