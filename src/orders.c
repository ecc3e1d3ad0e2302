/*
 * orders.c — track_orders / untrack_orders and the orders trigger.
 *
 * track_orders() records which columns of an app's own orders table hold the
 * member, amount, ref, time, category and refunded amount
 * (loyalty.tracked_orders) and puts loyalty._orders_trigger() on the table:
 *   INSERT            -> loyalty.earn(program, member, amount, ref, at, category)
 *   UPDATE raising the refund column
 *                     -> loyalty.refund(..., ref, new - old, ref || '#refund@' || new)
 *   DELETE            -> loyalty.refund of what is left of the order,
 *                        ref || '#delete'
 * The trigger calls the SQL functions through kept SPI plans, so it runs them
 * with their own privileges (SECURITY DEFINER) and the app's row and its
 * points are one transaction: an order that cannot earn fails the app's
 * statement with the operation's SQLSTATE.  Values are passed as text and
 * cast by the plan, so any column type with a cast to the target works.
 * Refund refs derive from the order's ref and the cumulative refunded
 * amount, so replaying a statement is idempotent.
 *
 * The per-table configuration is cached per backend and dropped whenever the
 * configuration generation moves (config.c).
 */
#include "account.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(loyalty_track_orders);
PG_FUNCTION_INFO_V1(loyalty_untrack_orders);
PG_FUNCTION_INFO_V1(loyalty_orders_trigger);

typedef struct Tracked
{
	Oid			relid;
	char	   *program;
	char	   *col[6];			/* member, amount, ref, at, category, refund */
} Tracked;

enum { C_MEMBER, C_AMOUNT, C_REF, C_AT, C_CATEGORY, C_REFUND };
static const char *const col_role[6] = {
	"member_column", "amount_column", "ref_column", "at_column", "category_column", "refund_column"
};

static MemoryContext tracked_cxt = NULL;
static Tracked *tracked = NULL;
static int	ntracked = 0;
static uint64 tracked_generation = 0;

static SPIPlanPtr plan_tracked = NULL;
static SPIPlanPtr plan_track_put = NULL;
static SPIPlanPtr plan_track_del = NULL;
static SPIPlanPtr plan_earn = NULL;
static SPIPlanPtr plan_refund = NULL;
static SPIPlanPtr plan_left = NULL;

static Tracked *
tracked_get(Oid relid)
{
	uint64		gen = config_current_generation();

	if (tracked_cxt == NULL || gen != tracked_generation)
	{
		MemoryContext old;

		if (tracked_cxt == NULL)
			tracked_cxt = AllocSetContextCreate(CacheMemoryContext, "loyalty tracked orders",
												ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(tracked_cxt);
		plan_get(&plan_tracked,
				 "SELECT t.relid, p.code, t.member_column, t.amount_column, t.ref_column, "
				 "       t.at_column, t.category_column, t.refund_column "
				 "FROM loyalty.tracked_orders t JOIN loyalty.program p ON p.id = t.program_id",
				 0, NULL);
		if (SPI_execute_plan(plan_tracked, NULL, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "loyalty: reading tracked tables failed");
		old = MemoryContextSwitchTo(tracked_cxt);
		ntracked = (int) SPI_processed;
		tracked = palloc0(sizeof(Tracked) * Max(ntracked, 1));
		for (int i = 0; i < ntracked; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;

			tracked[i].relid = DatumGetObjectId(SPI_getbinval(t, td, 1, &isnull));
			tracked[i].program = SPI_getvalue(t, td, 2);
			for (int c = 0; c < 6; c++)
				tracked[i].col[c] = SPI_getvalue(t, td, 3 + c);
		}
		MemoryContextSwitchTo(old);
		tracked_generation = gen;
	}
	for (int i = 0; i < ntracked; i++)
		if (tracked[i].relid == relid)
			return &tracked[i];
	return NULL;
}

/* The column's value as text (NULL when SQL NULL or no such column). */
static char *
col_text(HeapTuple tup, TupleDesc td, const char *col)
{
	int			att;

	if (col == NULL)
		return NULL;
	att = SPI_fnumber(td, col);
	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("tracked orders column \"%s\" no longer exists", col),
				 errhint("Track the table again with loyalty.track_orders().")));
	return SPI_getvalue(tup, td, att);
}

static void
order_earn(Tracked *t, HeapTuple tup, TupleDesc td)
{
	Datum		args[6];
	char		nulls[6];
	Oid			types[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	char	   *v[6];

	v[0] = t->program;
	v[1] = col_text(tup, td, t->col[C_MEMBER]);
	v[2] = col_text(tup, td, t->col[C_AMOUNT]);
	v[3] = col_text(tup, td, t->col[C_REF]);
	v[4] = col_text(tup, td, t->col[C_AT]);
	v[5] = col_text(tup, td, t->col[C_CATEGORY]);
	for (int i = 0; i < 6; i++)
	{
		nulls[i] = v[i] ? ' ' : 'n';
		args[i] = v[i] ? CStringGetTextDatum(v[i]) : (Datum) 0;
	}
	plan_get(&plan_earn,
			 "SELECT loyalty.earn($1, $2, $3::numeric, $4, "
			 "                    coalesce($5::timestamptz, pg_catalog.now()), $6)",
			 6, types);
	if (SPI_execute_plan(plan_earn, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: earning for an order failed");
}

static void
order_refund(Tracked *t, const char *member, const char *ref, const char *amount,
			 const char *refund_ref)
{
	Datum		args[5];
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	args[0] = CStringGetTextDatum(t->program);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(ref);
	args[3] = CStringGetTextDatum(amount);
	args[4] = CStringGetTextDatum(refund_ref);
	plan_get(&plan_refund,
			 "SELECT loyalty.refund($1, $2, $3, $4::numeric, $5)",
			 5, types);
	if (SPI_execute_plan(plan_refund, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: refunding an order failed");
}

/*
 * An UPDATE that changes a row's partition is, for row triggers, a DELETE
 * from the old partition and an INSERT into the new one, and AFTER triggers
 * run once the statement is done: when the tracked table still holds a row
 * with the deleted row's ref, the order moved and nothing is refunded (the
 * INSERT then replays the order's earn, which writes nothing).
 */
static bool
order_moved(Tracked *t, const char *ref)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	char	   *sql;

	if (ref == NULL)
		return false;
	sql = psprintf("SELECT 1 FROM %s WHERE (%s)::text = $1 LIMIT 1",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(t->relid)),
											  get_rel_name(t->relid)),
				   quote_identifier(t->col[C_REF]));
	args[0] = CStringGetTextDatum(ref);
	/* not read-only: a new snapshot, which sees this statement's own changes */
	if (SPI_execute_with_args(sql, 1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: looking for a moved order failed");
	return SPI_processed > 0;
}

Datum
loyalty_orders_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	Tracked    *t;
	HeapTuple	ret;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "loyalty._orders_trigger: must be an AFTER ... FOR EACH ROW trigger");
	desc = RelationGetDescr(td->tg_relation);
	ret = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	ly_spi_connect();
	t = tracked_get(RelationGetRelid(td->tg_relation));
	/*
	 * A tracked partitioned table: the trigger fires on the partition the
	 * row went to; the configuration is the nearest tracked ancestor's
	 * (columns are looked up by name, so partitions may differ in layout).
	 */
	if (t == NULL && td->tg_relation->rd_rel->relispartition)
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(RelationGetRelid(td->tg_relation)))
		{
			if ((t = tracked_get(lfirst_oid(lc))) != NULL)
				break;
		}
	}
	if (t == NULL)
	{
		SPI_finish();
		return PointerGetDatum(ret);	/* untracked meanwhile */
	}

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		char	   *refunded = col_text(td->tg_trigtuple, desc, t->col[C_REFUND]);

		order_earn(t, td->tg_trigtuple, desc);
		/* an order inserted already partly refunded */
		if (refunded != NULL && num_sign(num_from_cstring(refunded)) > 0)
			order_refund(t, col_text(td->tg_trigtuple, desc, t->col[C_MEMBER]),
						 col_text(td->tg_trigtuple, desc, t->col[C_REF]), refunded,
						 psprintf("%s#refund@%s", col_text(td->tg_trigtuple, desc, t->col[C_REF]),
								  refunded));
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		char	   *before = col_text(td->tg_trigtuple, desc, t->col[C_REFUND]);
		char	   *after = col_text(td->tg_newtuple, desc, t->col[C_REFUND]);

		if (after != NULL)
		{
			Numeric		b = before ? num_from_cstring(before) : num_int64(0);
			Numeric		a = num_from_cstring(after);

			if (num_cmp(a, b) > 0)
			{
				char	   *ref = col_text(td->tg_newtuple, desc, t->col[C_REF]);

				order_refund(t, col_text(td->tg_newtuple, desc, t->col[C_MEMBER]), ref,
							 num_to_cstring(num_sub(a, b)),
							 psprintf("%s#refund@%s", ref, num_to_cstring(a)));
			}
		}
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event) &&
			 !(td->tg_relation->rd_rel->relispartition &&
			   order_moved(t, col_text(td->tg_trigtuple, desc, t->col[C_REF]))))
	{
		char	   *member = col_text(td->tg_trigtuple, desc, t->col[C_MEMBER]);
		char	   *ref = col_text(td->tg_trigtuple, desc, t->col[C_REF]);
		Datum		args[3];
		Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};

		args[0] = CStringGetTextDatum(t->program);
		args[1] = CStringGetTextDatum(member ? member : "");
		args[2] = CStringGetTextDatum(ref ? ref : "");
		plan_get(&plan_left,
				 "SELECT (l.amount - l.refunded)::text FROM loyalty.lot l "
				 "JOIN loyalty.program p ON p.id = l.program_id "
				 "WHERE p.code = $1 AND l.member = $2 AND l.ref = $3 AND l.source = 'earn' "
				 "  AND l.amount > l.refunded",
				 3, types);
		if (SPI_execute_plan(plan_left, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "loyalty: reading an order failed");
		if (SPI_processed > 0)
		{
			char	   *left = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			order_refund(t, member, ref, left, psprintf("%s#delete", ref));
		}
	}
	SPI_finish();
	return PointerGetDatum(ret);
}

Datum
loyalty_track_orders(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *prog = arg_text(fcinfo, 1, "program");
	char	   *cols[6];
	Relation	rel;
	TupleDesc	desc;
	Program    *p;
	char	   *relname;
	bool		backfill = !PG_ARGISNULL(8) && PG_GETARG_BOOL(8);
	Datum		args[8];
	char		nulls[8];
	Oid			types[8] = {OIDOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("orders must not be NULL")));
	relid = PG_GETARG_OID(0);
	for (int c = 0; c < 6; c++)
	{
		cols[c] = PG_ARGISNULL(2 + c) ? NULL : pstrdup(NameStr(*PG_GETARG_NAME(2 + c)));
		if (c <= C_REF && cols[c] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("%s must not be NULL", col_role[c])));
	}

	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	relname = pstrdup(quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												 RelationGetRelationName(rel)));
	if (rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("\"%s\" is not a table", relname)));
	for (int c = 0; c < 6; c++)
	{
		int			att;

		if (cols[c] == NULL)
			continue;
		att = SPI_fnumber(desc, cols[c]);
		if (att <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("%s \"%s\" is not a column of %s", col_role[c], cols[c], relname)));
	}
	table_close(rel, AccessShareLock);

	ly_spi_connect();
	p = program_get(prog);
	args[0] = ObjectIdGetDatum(relid);
	args[1] = Int32GetDatum(p->id);
	for (int c = 0; c < 6; c++)
	{
		args[2 + c] = cols[c] ? CStringGetTextDatum(cols[c]) : (Datum) 0;
		nulls[2 + c] = cols[c] ? ' ' : 'n';
	}
	nulls[0] = nulls[1] = ' ';
	plan_get(&plan_track_put,
			 "INSERT INTO loyalty.tracked_orders (relid, program_id, member_column, amount_column, "
			 "  ref_column, at_column, category_column, refund_column) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
			 "ON CONFLICT (relid) DO UPDATE SET program_id = EXCLUDED.program_id, "
			 "  member_column = EXCLUDED.member_column, amount_column = EXCLUDED.amount_column, "
			 "  ref_column = EXCLUDED.ref_column, at_column = EXCLUDED.at_column, "
			 "  category_column = EXCLUDED.category_column, refund_column = EXCLUDED.refund_column",
			 8, types);
	if (SPI_execute_plan(plan_track_put, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "loyalty: recording tracked table failed");
	if (SPI_execute(psprintf("CREATE OR REPLACE TRIGGER loyalty_orders AFTER INSERT OR UPDATE OR DELETE ON %s "
							 "FOR EACH ROW EXECUTE FUNCTION loyalty._orders_trigger()", relname),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "loyalty: creating the orders trigger failed");

	if (backfill)
	{
		StringInfoData q;

		/* earn for the rows already there (idempotent by ref), then their refunds */
		initStringInfo(&q);
		appendStringInfo(&q, "SELECT pg_catalog.count(loyalty.earn(%s, o.%s::text, o.%s::numeric, o.%s::text, "
						 "coalesce(%s, pg_catalog.now()), %s)) FROM (SELECT * FROM %s",
						 quote_literal_cstr(prog), quote_identifier(cols[C_MEMBER]),
						 quote_identifier(cols[C_AMOUNT]), quote_identifier(cols[C_REF]),
						 cols[C_AT] ? psprintf("o.%s::timestamptz", quote_identifier(cols[C_AT])) : "NULL::timestamptz",
						 cols[C_CATEGORY] ? psprintf("o.%s::text", quote_identifier(cols[C_CATEGORY])) : "NULL::text",
						 relname);
		if (cols[C_AT])
			appendStringInfo(&q, " ORDER BY %s", quote_identifier(cols[C_AT]));
		appendStringInfoString(&q, ") o");
		if (SPI_execute(q.data, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "loyalty: backfill failed");
		if (cols[C_REFUND])
		{
			resetStringInfo(&q);
			appendStringInfo(&q, "SELECT pg_catalog.count(loyalty.refund(%s, o.%s::text, o.%s::text, "
							 "o.%s::numeric, o.%s::text || '#refund@' || o.%s::numeric::text)) "
							 "FROM %s o WHERE o.%s::numeric > 0",
							 quote_literal_cstr(prog), quote_identifier(cols[C_MEMBER]),
							 quote_identifier(cols[C_REF]), quote_identifier(cols[C_REFUND]),
							 quote_identifier(cols[C_REF]), quote_identifier(cols[C_REFUND]),
							 relname, quote_identifier(cols[C_REFUND]));
			if (SPI_execute(q.data, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "loyalty: backfilling refunds failed");
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
loyalty_untrack_orders(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *relname;
	Datum		args[1];
	Oid			types[1] = {OIDOID};

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("orders must not be NULL")));
	relid = PG_GETARG_OID(0);
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	ly_spi_connect();
	args[0] = ObjectIdGetDatum(relid);
	plan_get(&plan_track_del, "DELETE FROM loyalty.tracked_orders WHERE relid = $1", 1, types);
	if (SPI_execute_plan(plan_track_del, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "loyalty: untracking failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("table %s is not tracked", relname)));
	if (SPI_execute(psprintf("DROP TRIGGER loyalty_orders ON %s", relname), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "loyalty: dropping the orders trigger failed");
	SPI_finish();
	PG_RETURN_VOID();
}
