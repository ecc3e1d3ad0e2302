/*
 * tracking.c — what the app-table trackers share (tracking.h): orders.c
 * (track_orders) and order_lines.c (track_order_lines).  See orders.c's
 * "Privileges" for why app tables are read as the caller and only
 * loyalty's own writes run as the extension's owner.
 */
#include "tracking.h"
#include "args.h"
#include "citus.h"
#include "numutil.h"
#include "ops.h"
#include "timeutil.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "executor/spi.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* The quoted, schema-qualified name of a relation ("?" parts when gone). */
char *
rel_name(Oid relid)
{
	char	   *rel = get_rel_name(relid);
	char	   *nsp = rel ? get_namespace_name(get_rel_namespace(relid)) : NULL;

	if (rel == NULL)
		return psprintf("table with OID %u", relid);
	return pstrdup(quote_qualified_identifier(nsp ? nsp : "?", rel));
}

bool
rel_exists(Oid relid)
{
	return SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid));
}

bool
owns_rel(Oid relid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, GetUserId());
#else
	return pg_class_ownercheck(relid, GetUserId());
#endif
}

bool
has_schema_usage(Oid nsp)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(NamespaceRelationId, nsp, GetUserId(), ACL_USAGE) == ACLCHECK_OK;
#else
	return pg_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE) == ACLCHECK_OK;
#endif
}

/* The owner of the extension (pg_extension.extowner). */
Oid
extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("loyalty"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"loyalty\" is not installed in this database")));
	return owner;
}

void
user_switch_init(UserSwitch *u)
{
	u->owner = extension_owner();
	GetUserIdAndSecContext(&u->saved_uid, &u->saved_ctx);
}

void
as_owner(UserSwitch *u)
{
	SetUserIdAndSecContext(u->owner, u->saved_ctx | SECURITY_LOCAL_USERID_CHANGE);
}

void
as_caller(UserSwitch *u)
{
	SetUserIdAndSecContext(u->saved_uid, u->saved_ctx);
}

/*
 * SPI calls leave CurrentMemoryContext at the SPI procedure context and keep
 * their result tables until SPI_finish; these two restore the caller's
 * context (the row loops work in a per-row one) and free the results.
 */
void
plan_run(Stmt s, Datum *args, const char *nulls, int expect, const char *what)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_plan(stmt_plan(s), args, nulls, false, 0);

	MemoryContextSwitchTo(cxt);
	if (rc != expect)
		elog(ERROR, "loyalty: %s failed: %s", what, SPI_result_code_string(rc));
	if (SPI_tuptable != NULL)
	{
		SPI_freetuptable(SPI_tuptable);
		SPI_tuptable = NULL;
	}
}

void
sql_run(const char *sql, int expect)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute(sql, false, 0);

	MemoryContextSwitchTo(cxt);
	if (rc != expect)
		elog(ERROR, "loyalty: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

Oid
loyalty_namespace(void)
{
	return get_namespace_oid("loyalty", true);
}

/*
 * A Citus table (distributed or reference) cannot be tracked: its rows live
 * in shards on other nodes, where the statement triggers would fire on the
 * shard, which no tracking names (SPEC: never silently).  0A000.
 */
void
refuse_citus_table(Oid relid, const char *name)
{
	if (citus_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is a Citus table: loyalty tracks only local orders tables", name),
				 errdetail("Its rows live in shards on the worker nodes, where the tracking triggers cannot see the tracking."),
				 errhint("Keep the orders table local on the coordinator, or call loyalty.earn() and loyalty.refund() from the application.")));
}

/*
 * The code of program `id` for messages ("#id" when it is gone).  The
 * tracked tables are read alone first: the event triggers also fire on a
 * Citus worker while it creates shards, where they must not read the
 * program (a reference table) from inside that command.
 */
char *
program_code(int32 id)
{
	Datum		args[1] = {Int32GetDatum(id)};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *code;

	stmt_exec(ST_CONFIG_PROGRAM_CODE, args, NULL, true, 1, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	code = SPI_processed > 0 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	return code != NULL ? code : psprintf("#%d", id);
}

bool
key_type(Oid t)
{
	return t == TEXTOID || t == VARCHAROID || t == BPCHAROID ||
		t == INT2OID || t == INT4OID || t == INT8OID;
}

bool
number_type(Oid t)
{
	return t == NUMERICOID || t == INT2OID || t == INT4OID || t == INT8OID ||
		t == FLOAT4OID || t == FLOAT8OID;
}

bool
time_type(Oid t)
{
	return t == TIMESTAMPTZOID || t == TIMESTAMPOID || t == DATEOID;
}

char *
key_text(Oid base, Datum d)
{
	char	   *s;
	int			n;

	switch (base)
	{
		case INT2OID:
			return psprintf("%d", (int) DatumGetInt16(d));
		case INT4OID:
			return psprintf("%d", DatumGetInt32(d));
		case INT8OID:
			return psprintf(INT64_FORMAT, DatumGetInt64(d));
		case BPCHAROID:
			/* as char(n)::text: without the padding */
			s = TextDatumGetCString(d);
			n = strlen(s);
			while (n > 0 && s[n - 1] == ' ')
				n--;
			s[n] = '\0';
			return s;
		default:
			return TextDatumGetCString(d);
	}
}

Numeric
number_value(Oid base, Datum d)
{
	switch (base)
	{
		case INT2OID:
			return DatumGetNumeric(DirectFunctionCall1(int2_numeric, d));
		case INT4OID:
			return DatumGetNumeric(DirectFunctionCall1(int4_numeric, d));
		case INT8OID:
			return DatumGetNumeric(DirectFunctionCall1(int8_numeric, d));
		case FLOAT4OID:
			return DatumGetNumeric(DirectFunctionCall1(float4_numeric, d));
		case FLOAT8OID:
			return DatumGetNumeric(DirectFunctionCall1(float8_numeric, d));
		default:
			return DatumGetNumericCopy(d);
	}
}

/* timestamptz as is; timestamp as the program's local time; date as its local midnight. */
TimestampTz
time_value(Program *p, Oid base, Datum d, const char *col)
{
	TimestampTz result;

	if (base == TIMESTAMPTZOID)
		return DatumGetTimestampTz(d);
	if (base == DATEOID)
	{
		DateADT		day = DatumGetDateADT(d);
		int			y,
					m,
					dd;

		if (DATE_IS_NOBEGIN(day))
			TIMESTAMP_NOBEGIN(result);
		else if (DATE_IS_NOEND(day))
			TIMESTAMP_NOEND(result);
		else
		{
			j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
			result = local_midnight(p->tz, y, m, dd);
		}
		return result;
	}
	else
	{
		Timestamp	ts = DatumGetTimestamp(d);
		struct pg_tm tm;
		fsec_t		fsec;
		int			tzoff;

		if (TIMESTAMP_NOT_FINITE(ts))
			return ts;
		if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("at_column \"%s\": timestamp out of range", col)));
		tzoff = DetermineTimeZoneOffset(&tm, p->tz);
		if (tm2timestamp(&tm, fsec, &tzoff, &result) != 0 || !IS_VALID_TIMESTAMP(result))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("at_column \"%s\": timestamp out of range in time zone %s",
							col, p->timezone)));
		return result;
	}
}

bool
num_finite(Numeric n)
{
	return !numeric_is_nan(n) && !numeric_is_inf(n);
}

/* A usable member or ref: not NULL, not empty, at most 200 characters. */
bool
key_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && pg_mbstrlen(s) <= KEY_MAX;
}

/*
 * The ref of a refund derived from an order's ref: <ref><suffix>, or, when
 * that is longer than 200 characters, its first 183 characters, "~" and 16
 * hex digits of its hash (deterministic, so a replay finds the same ref).
 */
char *
derived_ref(const char *ref, const char *suffix)
{
	char	   *full = psprintf("%s%s", ref, suffix);
	int			len = strlen(full);
	int			keep;
	uint64		h;

	if (pg_mbstrlen(full) <= KEY_MAX)
		return full;
	keep = pg_mbcharcliplen(full, len, KEY_MAX - 17);
	h = hash_bytes_extended((const unsigned char *) full, len, 0);
	return psprintf("%.*s~%016llx", keep, full, (unsigned long long) h);
}

void
order_state(Program *p, const char *member, const char *ref, OrderState *st)
{
	Datum		args[3];
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;

	memset(st, 0, sizeof(OrderState));
	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(member);
	args[2] = CStringGetTextDatum(ref);
	rc = SPI_execute_plan(stmt_plan(ST_ORDER_STATE), args, NULL, false, 1);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading an order failed");
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		st->known = true;
		d = SPI_getbinval(tup, td, 1, &isnull);
		st->mine = !isnull && TransactionIdIsCurrentTransactionId(DatumGetTransactionId(d));
		d = SPI_getbinval(tup, td, 2, &isnull);
		st->amount = isnull ? num_int64(0) : DatumGetNumericCopy(d);
		d = SPI_getbinval(tup, td, 3, &isnull);
		st->refunded = isnull ? num_int64(0) : DatumGetNumericCopy(d);
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
}

/*
 * The operations are called directly (ops.h), with the extension's rights
 * (the trigger is SECURITY DEFINER, track_orders switches to the owner) and
 * with enable_seqscan = off like the SQL functions, so the plans they keep
 * for this backend are the index plans whichever path made them first.
 */
static int
ops_guc_begin(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
order_earn(Program *p, const char *member, Numeric amount, const char *ref,
		   TimestampTz at, const char *category)
{
	int			nest = ops_guc_begin();

	(void) op_earn(p, member, amount, ref, at, category, NULL);
	AtEOXact_GUC(true, nest);
}

void
order_refund(Program *p, const char *member, const char *original_ref, Numeric amount,
			 const char *ref, TimestampTz at)
{
	int			nest = ops_guc_begin();

	(void) op_refund(p, member, original_ref, amount, ref, at);
	AtEOXact_GUC(true, nest);
}

/* Read a transition table from its start with a read pointer of our own. */
void
transition_rewind(Tuplestorestate *ts)
{
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
}

/*
 * The caller may track relid: it exists (LY007), the caller owns it and has
 * USAGE on its schema (42501).  Returns its quoted name.
 */
char *
rel_access(Oid relid, const char *verb)
{
	HeapTuple	tup;
	Oid			nsp;
	char	   *name;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("table with OID %u does not exist", relid)));
	nsp = ((Form_pg_class) GETSTRUCT(tup))->relnamespace;
	ReleaseSysCache(tup);
	name = rel_name(relid);
	if (!owns_rel(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to %s it", name, verb)));
	if (!has_schema_usage(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for schema %s",
						quote_identifier(get_namespace_name(nsp)))));
	return name;
}

/* The direct inheritance parents of relid (pg_inherits). */
List *
rel_parents(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *out = NIL;

	rel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		out = lappend_oid(out, ((Form_pg_inherits) GETSTRUCT(tup))->inhparent);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return out;
}

void
order_earn_receipt(Program *p, const char *member, const Receipt *rc, const char *ref,
				   TimestampTz at)
{
	int			nest = ops_guc_begin();

	(void) op_earn_receipt(p, member, rc, ref, at, NULL);
	AtEOXact_GUC(true, nest);
}

void
order_refund_lines(Program *p, const char *member, const char *original_ref,
				   const ReceiptLine *lines, int n, const char *ref, TimestampTz at)
{
	int			nest = ops_guc_begin();

	(void) op_refund_lines(p, member, original_ref, lines, n, ref, at);
	AtEOXact_GUC(true, nest);
}

/* The order-lines table whose tracking uses relid (as its lines or its orders table), or InvalidOid. */
Oid
lines_tracking_of(Oid relid)
{
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	MemoryContext cxt = CurrentMemoryContext;
	Oid			found = InvalidOid;
	bool		isnull;

	stmt_exec(ST_LINES_TRACKING_OF, args, NULL, true, 1, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	if (SPI_processed > 0)
		found = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	return found;
}

/* Whether relid is tracked by track_orders itself (not through a partition). */
bool
orders_tracked(Oid relid)
{
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	MemoryContext cxt = CurrentMemoryContext;
	bool		found;

	stmt_exec(ST_ORDERS_TRACKED, args, NULL, true, 1, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	found = SPI_processed > 0;
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
	return found;
}

static bool
column_kind_ok(ColKind kind, Oid base)
{
	switch (kind)
	{
		case COL_NUMBER:
			return number_type(base);
		case COL_TIME:
			return time_type(base);
		default:
			return key_type(base);
	}
}

static const char *
column_kind_detail(ColKind kind)
{
	switch (kind)
	{
		case COL_NUMBER:
			return "must be of a built-in numeric type "
				"(numeric, smallint, integer, bigint, real, double precision) or a domain over one.";
		case COL_TIME:
			return "must be timestamptz, timestamp (read as the program's local time) "
				"or date (local midnight), or a domain over one of them.";
		default:
			return "must be of a built-in text type "
				"(text, varchar, char) or integer type (smallint, integer, bigint), or a domain over one.";
	}
}

void
column_resolve(TupleDesc desc, const char *relname, const char *role, const char *col,
			   ColKind kind, const char *track_fn, AttrNumber *att, Oid *base)
{
	int			a = SPI_fnumber(desc, col);
	Oid			typid;

	if (a <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s \"%s\" is not a column of %s", role, cut(col), relname),
				 errhint("Track the table again with loyalty.%s() naming its columns.", track_fn)));
	typid = TupleDescAttr(desc, a - 1)->atttypid;
	if (!column_kind_ok(kind, getBaseType(typid)))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s \"%s\" of %s has type %s, which loyalty cannot read",
						role, col, relname, format_type_be(typid)),
				 errdetail("%s %s", role, column_kind_detail(kind))));
	*att = (AttrNumber) a;
	*base = getBaseType(typid);
}

Oid
loyalty_function(const char *name)
{
	List	   *qual = list_make2(makeString(pstrdup("loyalty")), makeString(pstrdup(name)));

	return LookupFuncName(qual, 0, NULL, true);
}

void
no_transition_table(TriggerData *td, const char *what, const char *track_fn)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger \"%s\" on %s must have the transition tables of loyalty's %s triggers",
					td->tg_trigger->tgname, rel_name(RelationGetRelid(td->tg_relation)), what),
			 errhint("Let loyalty.%s() create the triggers.", track_fn)));
}

void
dropped_objects(Dropped *d, bool (*ours) (const char *trigger))
{
	MemoryContext cxt = CurrentMemoryContext;

	memset(d, 0, sizeof(Dropped));
	stmt_exec(ST_DROPPED_OBJECTS, NULL, NULL, true, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			classid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		Oid			objid = DatumGetObjectId(SPI_getbinval(tup, td, 2, &isnull));
		int32		subid = DatumGetInt32(SPI_getbinval(tup, td, 3, &isnull));
		char	   *type = SPI_getvalue(tup, td, 4);
		char	   *nsp = SPI_getvalue(tup, td, 5);
		char	   *rel = SPI_getvalue(tup, td, 6);
		char	   *last = SPI_getvalue(tup, td, 7);

		if (classid == RelationRelationId && subid == 0)
		{
			d->tables = lappend_oid(d->tables, objid);
			d->names = lappend(d->names, nsp && rel ? pstrdup(quote_qualified_identifier(nsp, rel))
							   : psprintf("table with OID %u", objid));
		}
		else if (classid == RelationRelationId && last != NULL)
			d->cols = lappend(lappend(d->cols, (void *) (uintptr_t) objid), last);
		else if (type != NULL && strcmp(type, "trigger") == 0 && nsp != NULL && rel != NULL &&
				 last != NULL && ours(last))
		{
			Oid			ns = get_namespace_oid(nsp, true);
			Oid			relid = OidIsValid(ns) ? get_relname_relid(rel, ns) : InvalidOid;

			if (OidIsValid(relid))
				d->trigs = lappend(lappend(d->trigs, (void *) (uintptr_t) relid), last);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
}
