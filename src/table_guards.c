/*
 * table_guards.c — the triggers that guard the extension's tables.
 *
 *  loyalty_append_only: BEFORE UPDATE/DELETE (row) and BEFORE TRUNCATE
 *    (statement) on the ledger and tier history.  History is append-only:
 *    corrections are new rows.  Only a superuser who has explicitly set
 *    loyalty.maintenance = on (e.g. to archive old years) may change it.
 *  loyalty_config_changed: AFTER statement trigger on the configuration
 *    tables; broadcasts a relcache invalidation of loyalty.program that
 *    every backend's configuration cache listens for (config.c).
 *  loyalty_restore_guard: BEFORE INSERT (statement) on every table a dump
 *    holds.  loyalty writes its tables only from its SECURITY DEFINER
 *    functions (or with the owner's id set locally, orders.c); a plain
 *    INSERT or COPY from outside is a restore, or a hand-made row.  A
 *    restore goes into a database where the extension is new, table by
 *    table into empty tables; into a table that already holds rows it would
 *    merge two databases' programs, members and ledgers, so it is refused
 *    (loudly: pg_restore reports every refused table).  A superuser who
 *    has set loyalty.maintenance = on may insert by hand.
 */
#include "module.h"
#include "config.h"

#include "access/tableam.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(loyalty_append_only);
PG_FUNCTION_INFO_V1(loyalty_config_changed);
PG_FUNCTION_INFO_V1(loyalty_restore_guard);

/*
 * The table's name for messages: on a Citus worker the trigger fires on a
 * shard, named <table>_<shard id>; the message names the table.
 */
static const char *
guarded_name(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	const char *u = strrchr(name, '_');

	if (u != NULL && u[1] != '\0' && strspn(u + 1, "0123456789") == strlen(u + 1))
		return pnstrdup(name, u - name);
	return name;
}

Datum
loyalty_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "loyalty_append_only: not called by trigger manager");
	if (loyalty_maintenance_allowed())
	{
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			return PointerGetDatum(td->tg_newtuple);
		if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
			return PointerGetDatum(td->tg_trigtuple);
		return PointerGetDatum(NULL);
	}
	op = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" :
		TRIGGER_FIRED_BY_DELETE(td->tg_event) ? "DELETE" : "TRUNCATE";
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s on loyalty.%s is not allowed: the history is append-only", op,
					guarded_name(td->tg_relation)),
			 errhint("Correct with a new row, e.g. loyalty.adjust(). A superuser may SET loyalty.maintenance = on for an explicit archive.")));
	return PointerGetDatum(NULL);
}

Datum
loyalty_config_changed(PG_FUNCTION_ARGS)
{
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "loyalty_config_changed: not called by trigger manager");
	relid = loyalty_program_relid();
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	config_invalidate_all();
	return PointerGetDatum(NULL);
}

/* Does the relation hold a row visible to the statement's snapshot? */
static bool
rel_has_rows(Relation rel)
{
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		found;

	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	found = table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

Datum
loyalty_restore_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "loyalty_restore_guard: not called by trigger manager");
	/* loyalty's own writes, its install and update scripts, a repair */
	if (InLocalUserIdChange() || creating_extension || loyalty_maintenance_allowed())
		return PointerGetDatum(NULL);
	if (rel_has_rows(td->tg_relation))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("loyalty.%s already holds rows: loyalty data is restored only into a database where the extension is new",
						RelationGetRelationName(td->tg_relation)),
				 errdetail("Restoring a dump into a database that already runs loyalty would merge two databases' programs, members and ledgers."),
				 errhint("Restore into a new database (createdb, then pg_restore -d it). To insert rows by hand, a superuser may SET loyalty.maintenance = on.")));
	return PointerGetDatum(NULL);
}
