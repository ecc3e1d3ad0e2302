/*
 * guard.c — the module's entry point and its guard triggers.
 *
 *  loyalty_append_only: BEFORE UPDATE/DELETE (row) and BEFORE TRUNCATE
 *    (statement) on the ledger and tier history.  History is append-only:
 *    corrections are new rows.  Only a superuser who has explicitly set
 *    loyalty.maintenance = on (e.g. to archive old years) may change it.
 *  loyalty_config_changed: AFTER statement trigger on the configuration
 *    tables; broadcasts a relcache invalidation of loyalty.program that
 *    every backend's configuration cache listens for (config.c).
 */
#include "loyalty.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/rel.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(loyalty_append_only);
PG_FUNCTION_INFO_V1(loyalty_config_changed);

static bool maintenance_mode = false;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("loyalty.maintenance",
							 "Allows a superuser to change or remove ledger history.",
							 "History is append-only; set this only for an explicit archive or repair.",
							 &maintenance_mode,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("loyalty");
#else
	EmitWarningsOnPlaceholders("loyalty");
#endif
}

Datum
loyalty_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "loyalty_append_only: not called by trigger manager");
	if (maintenance_mode && superuser())
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
					RelationGetRelationName(td->tg_relation)),
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
