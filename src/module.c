/*
 * module.c — the library's entry point: PG_MODULE_MAGIC, _PG_init and the
 * settings it defines.
 *
 *  loyalty.maintenance (superuser, default off): lets a superuser change or
 *    remove history (table_guards.c) for an explicit archive or repair.
 */
#include "module.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

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

bool
loyalty_maintenance_allowed(void)
{
	return maintenance_mode && superuser();
}
