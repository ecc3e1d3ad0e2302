/*
 * citus_views.c — the views of a Citus coordinator (SQL-callable only:
 * loyalty._parts_handler() and loyalty._parts_validator(), the loyalty_parts
 * foreign-data wrapper; docs/scale-out.md, "Views").
 *
 * The loyalty_parts foreign-data wrapper.  Scanning loyalty._citus_<view>
 * runs the view's part on every shard group of the cluster and returns the
 * rows of all of them; the view adds them up (sql/loyalty.sql).  The scan:
 *   1. switches to the foreign table's owner (as a SECURITY DEFINER function
 *      would, search_path pinned): the caller needs no right on the tables,
 *      and the owner's rights reach the shards on every node;
 *   2. reads the part's query (pg_get_viewdef), writes the views it reads
 *      inline (_tier_now) and now() as this statement's now(), so that every
 *      node answers for the same instant;
 *   3. for each shard group (a shard of account and the shards colocated
 *      with it: one set of members) replaces loyalty's tables by the group's
 *      shards (the reference tables by their one shard, on every node), so
 *      that the part is a plain query on the node holding the group;
 *   4. runs the groups' queries in parallel through Citus's
 *      master_run_on_worker, each answering one JSON array, and turns them
 *      back into rows of the part's type (json_populate_recordset).
 * The nodes answer in their own transactions: a view read on Citus sees
 * committed data (a single node's view also sees the reading transaction's
 * own writes).  The whole answer is built before the first row is returned.
 * A view over tables that are not member-scoped (code_batches: loyalty.code
 * is distributed by code, in a colocation group of its own) has no shard
 * groups to split by: its part runs once, as the owner, in this transaction,
 * and Citus spreads that query over the shards (whole_views).
 */
#include "loyalty.h"
#include "citus.h"
#include "statements.h"

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(loyalty_parts_handler);
PG_FUNCTION_INFO_V1(loyalty_parts_validator);

/* the views with a part (sql/loyalty.sql: loyalty._part_<view>) */
static const char *const part_views[] = {
	"member_summary", "statement", "expiring_points", "liability", "activity_daily",
	"tier_distribution", "tier_history", "leaderboard", "rule_stats", "member_offers",
	"redemptions", "merchant_settlement", NULL
};

/*
 * The views whose part reads tables that are not member-scoped (loyalty.code,
 * distributed by code, and loyalty.reward_stock, by reward: not colocated
 * with account): there are no shard
 * groups to split them by, so the part runs once, on the coordinator, as
 * the owner, and Citus spreads that query over the tables' shards itself.
 */
static const char *const whole_views[] = {"code_batches", "reward_stats", NULL};

static bool
in_list(const char *const *list, const char *name)
{
	for (int i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static bool
part_known(const char *name)
{
	return in_list(part_views, name) || in_list(whole_views, name);
}

/* loyalty.<name> in a part's query becomes repl */
typedef struct Swap
{
	const char *name;
	const char *repl;
} Swap;

static bool
ident_char(char c)
{
	return isalnum((unsigned char) c) || c == '_' || c == '$' || IS_HIGHBIT_SET(c);
}

/*
 * sql with every loyalty.<name> of swaps replaced, and now() by now_lit when
 * it is not NULL.  String literals and quoted identifiers are copied as they
 * are (pg_get_viewdef writes standard strings: a quote inside is doubled).
 */
static char *
part_rewrite(const char *sql, const Swap *swaps, int nswaps, const char *now_lit)
{
	StringInfoData out;
	const char *p = sql;

	initStringInfo(&out);
	while (*p)
	{
		bool		boundary = (p == sql) || !ident_char(p[-1]);

		if (*p == '\'' || *p == '"')
		{
			char		q = *p;

			appendStringInfoChar(&out, *p++);
			while (*p && !(*p == q && p[1] != q))
			{
				if (*p == q)	/* a doubled quote */
					appendStringInfoChar(&out, *p++);
				appendStringInfoChar(&out, *p++);
			}
			if (*p)
				appendStringInfoChar(&out, *p++);
			continue;
		}
		if (boundary && strncmp(p, "loyalty.", 8) == 0)
		{
			const char *n = p + 8;
			size_t		len = 0;
			int			i;

			while (ident_char(n[len]))
				len++;
			for (i = 0; i < nswaps; i++)
				if (strlen(swaps[i].name) == len && strncmp(n, swaps[i].name, len) == 0)
					break;
			if (i < nswaps)
			{
				appendStringInfoString(&out, swaps[i].repl);
				p = n + len;
				continue;
			}
		}
		if (now_lit != NULL && boundary && strncmp(p, "now()", 5) == 0)
		{
			appendStringInfoString(&out, now_lit);
			p += 5;
			continue;
		}
		appendStringInfoChar(&out, *p++);
	}
	return out.data;
}

/* a view's query without the final semicolon */
static char *
view_query(char *def)
{
	size_t		n = strlen(def);

	while (n > 0 && (def[n - 1] == ';' || isspace((unsigned char) def[n - 1])))
		def[--n] = '\0';
	return def;
}

/* pg_get_viewdef of loyalty.<name>, and this statement's now() (UTC) */
static char *
part_viewdef(const char *name, char **now_utc)
{
	Datum		args[1] = {CStringGetTextDatum(name)};

	stmt_exec(ST_PARTS_VIEWDEF, args, NULL, true, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("view loyalty.%s is missing", name),
				 errhint("Run ALTER EXTENSION loyalty UPDATE, then loyalty.distribute().")));
	if (now_utc != NULL)
		*now_utc = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return view_query(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

static Datum
text_array(char **items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* The rows of one node's answer (a JSON array of the part's rows) into store. */
static void
part_rows(Tuplestorestate *store, TupleDesc desc, const char *rows_sql, const char *json)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(json)};
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	TupleDesc	got;

	if (SPI_execute_with_args(rows_sql, 1, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading a view's part failed");
	got = SPI_tuptable->tupdesc;
	if (got->natts != desc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the foreign table of a loyalty view has %d columns, its part %d",
						desc->natts, got->natts),
				 errhint("Run loyalty.distribute() again after ALTER EXTENSION loyalty UPDATE.")));
	for (int c = 0; c < desc->natts; c++)
		if (TupleDescAttr(got, c)->atttypid != TupleDescAttr(desc, c)->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column %d of the foreign table of a loyalty view differs from its part", c + 1),
					 errhint("Run loyalty.distribute() again after ALTER EXTENSION loyalty UPDATE.")));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		heap_deform_tuple(SPI_tuptable->vals[r], got, values, nulls);
		tuplestore_putvalues(store, desc, values, nulls);
	}
}

/*
 * Each shard group's rows of the part (query def, now() as now_lit) into
 * store: the group's query on the node holding it, all in parallel.
 */
static void
groups_fill(Tuplestorestate *store, TupleDesc desc, const char *part, char *def,
			const char *now_lit, const char *rows_sql)
{
	Swap		inline_view;
	uint64		nrows;
	int			ngroups = 0;
	char	  **nodes;
	Datum	   *ports;
	char	  **cmds;
	Swap	   *swaps;
	char	  **results;
	Datum		run[3];

	inline_view.name = "_tier_now";
	inline_view.repl = psprintf("(%s)", part_viewdef("_tier_now", NULL));
	def = part_rewrite(def, &inline_view, 1, NULL);

	/* 3. each shard group's query, on the node holding it */
	stmt_exec(ST_PARTS_SHARDS, NULL, NULL, true, 0, SPI_OK_SELECT);
	nrows = SPI_processed;
	nodes = palloc(sizeof(char *) * Max(nrows, 1));
	ports = palloc(sizeof(Datum) * Max(nrows, 1));
	cmds = palloc(sizeof(char *) * Max(nrows, 1));
	swaps = palloc(sizeof(Swap) * Max(nrows, 1));
	{
		SPITupleTable *tt = SPI_tuptable;
		uint64		first = 0;

		for (uint64 r = 0; r <= nrows; r++)
		{
			if (r > first && (r == nrows ||
							  strcmp(SPI_getvalue(tt->vals[r], tt->tupdesc, 1),
									 SPI_getvalue(tt->vals[first], tt->tupdesc, 1)) != 0))
			{
				int			n = 0;

				for (uint64 k = first; k < r; k++)
				{
					swaps[n].name = SPI_getvalue(tt->vals[k], tt->tupdesc, 4);
					swaps[n].repl = SPI_getvalue(tt->vals[k], tt->tupdesc, 5);
					n++;
				}
				nodes[ngroups] = SPI_getvalue(tt->vals[first], tt->tupdesc, 2);
				ports[ngroups] = Int32GetDatum(pg_strtoint32(SPI_getvalue(tt->vals[first], tt->tupdesc, 3)));
				cmds[ngroups] = psprintf("SELECT coalesce(pg_catalog.json_agg(v), '[]') FROM (%s) v",
										 part_rewrite(def, swaps, n, now_lit));
				ngroups++;
				first = r;
			}
		}
	}

	/* 4. run them, then the rows */
	run[0] = text_array(nodes, ngroups);
	run[1] = PointerGetDatum(construct_array(ports, ngroups, INT4OID, 4, true, TYPALIGN_INT));
	run[2] = text_array(cmds, ngroups);
	stmt_exec(ST_PARTS_RUN, run, NULL, true, 0, SPI_OK_SELECT);
	results = palloc(sizeof(char *) * Max(SPI_processed, 1));
	nrows = SPI_processed;
	for (uint64 r = 0; r < nrows; r++)
	{
		char	   *ok = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);

		results[r] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 4);
		if (ok == NULL || strcmp(ok, "t") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("reading loyalty.%s on node %s:%s failed", part,
							SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1),
							SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2)),
					 errdetail("%s", results[r] ? pnstrdup(results[r], 500) : "no answer")));
	}
	for (uint64 r = 0; r < nrows; r++)
	{
		part_rows(store, desc, rows_sql, results[r]);
		SPI_freetuptable(SPI_tuptable);
	}

}

/*
 * The rows of a part over tables that are not member-scoped (whole_views):
 * one query, planned by Citus over those tables' shards, in this transaction.
 */
static void
whole_fill(Tuplestorestate *store, TupleDesc desc, const char *part, char *def,
		   const char *now_lit, const char *rows_sql)
{
	char	   *json = psprintf("SELECT coalesce(pg_catalog.json_agg(v), '[]') FROM (%s) v",
								part_rewrite(def, NULL, 0, now_lit));

	if (SPI_execute(json, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "loyalty: reading loyalty.%s failed", part);
	part_rows(store, desc, rows_sql, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/* The rows of loyalty._part_<part> into store, as owner. */
static void
parts_fill(Tuplestorestate *store, TupleDesc desc, const char *part, Oid owner)
{
	Oid			save_user;
	int			save_sec;
	int			nest;
	char	   *partname = psprintf("_part_%s", part);
	char	   *now_utc;
	char	   *def;
	char	   *now_lit;
	char	   *rows_sql;

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	ly_spi_connect();
	if (!citus_distributed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("loyalty is not distributed: loyalty._citus_%s serves the views of a Citus coordinator", part),
				 errhint("Read loyalty.%s.", part)));

	/* 2. the part's query */
	def = part_viewdef(partname, &now_utc);
	now_lit = psprintf("'%s'::timestamp with time zone", now_utc);
	rows_sql = psprintf("SELECT r.* FROM pg_catalog.json_populate_recordset(NULL::loyalty.%s, "
						"$1::pg_catalog.json) r", quote_identifier(partname));
	if (in_list(whole_views, part))
		whole_fill(store, desc, part, def, now_lit, rows_sql);
	else
		groups_fill(store, desc, part, def, now_lit, rows_sql);

	SPI_finish();
	AtEOXact_GUC(true, nest);
	SetUserIdAndSecContext(save_user, save_sec);
}

/* the foreign table's part option (the validator allows only known ones) */
static const char *
part_option(Oid relid)
{
	ListCell   *lc;

	foreach(lc, GetForeignTable(relid)->options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, "part") == 0 && part_known(defGetString(d)))
			return defGetString(d);
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
			 errmsg("foreign table %s has no part option", get_rel_name(relid))));
	return NULL;				/* not reached */
}

typedef struct PartsScan
{
	Tuplestorestate *store;
	TupleTableSlot *row;
} PartsScan;

static void
parts_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	baserel->rows = 1000;
}

static void
parts_paths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 1000, 1000 + baserel->rows, NIL, NULL, NULL,
#if PG_VERSION_NUM >= 170000
									 NIL,
#endif
									 NIL));
}

static ForeignScan *
parts_plan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid, ForeignPath *best_path,
		   List *tlist, List *scan_clauses, Plan *outer_plan)
{
	/* every filter is checked here, on the rows returned */
	return make_foreignscan(tlist, extract_actual_clauses(scan_clauses, false), baserel->relid,
							NIL, NIL, NIL, NIL, outer_plan);
}

static void
parts_begin(ForeignScanState *node, int eflags)
{
	Relation	rel = node->ss.ss_currentRelation;
	TupleDesc	desc = RelationGetDescr(rel);
	PartsScan  *st;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	st = palloc0(sizeof(PartsScan));
	st->store = tuplestore_begin_heap(false, false, work_mem);
	st->row = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	parts_fill(st->store, desc, part_option(RelationGetRelid(rel)), rel->rd_rel->relowner);
	node->fdw_state = st;
}

static TupleTableSlot *
parts_next(ForeignScanState *node)
{
	PartsScan  *st = (PartsScan *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!tuplestore_gettupleslot(st->store, true, false, st->row))
		return ExecClearTuple(slot);
	return ExecCopySlot(slot, st->row);
}

static void
parts_rescan(ForeignScanState *node)
{
	tuplestore_rescan(((PartsScan *) node->fdw_state)->store);
}

static void
parts_end(ForeignScanState *node)
{
	PartsScan  *st = (PartsScan *) node->fdw_state;

	if (st == NULL)
		return;
	ExecDropSingleTupleTableSlot(st->row);
	tuplestore_end(st->store);
}

Datum
loyalty_parts_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *r = makeNode(FdwRoutine);

	r->GetForeignRelSize = parts_rel_size;
	r->GetForeignPaths = parts_paths;
	r->GetForeignPlan = parts_plan;
	r->BeginForeignScan = parts_begin;
	r->IterateForeignScan = parts_next;
	r->ReScanForeignScan = parts_rescan;
	r->EndForeignScan = parts_end;
	PG_RETURN_POINTER(r);
}

/* Options: a foreign table's part = one of the views; nothing else. */
Datum
loyalty_parts_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (catalog != ForeignTableRelationId || strcmp(d->defname, "part") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" for the loyalty_parts wrapper", d->defname),
					 errhint("Only a foreign table's part option is valid (made by loyalty.distribute()).")));
		if (!part_known(defGetString(d)))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
					 errmsg("unknown part \"%.60s\"", defGetString(d)),
					 errhint("A part is the name of one of loyalty's views, such as member_summary.")));
	}
	PG_RETURN_VOID();
}
