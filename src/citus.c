/*
 * citus.c — Citus, when it is there (citus.h).
 *
 * The catalogs are read through the statement catalogue; the statements on
 * pg_dist_* are prepared only after citus_present() said they exist.  Run
 * connected to SPI; the caller's memory context is kept.
 */
#include "citus.h"
#include "config.h"
#include "statements.h"

#include "catalog/namespace.h"
#include "utils/lsyscache.h"

bool
citus_present(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		isnull;
	bool		present;

	stmt_exec(ST_CITUS_PRESENT, NULL, NULL, true, 1, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	present = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return present && !isnull;
}

bool
citus_table(Oid relid)
{
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	MemoryContext cxt = CurrentMemoryContext;

	if (!citus_present())
		return false;
	stmt_exec(ST_CITUS_TABLE, args, NULL, true, 1, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
	return SPI_processed > 0;
}

bool
citus_distributed(void)
{
	Oid			nsp = get_namespace_oid("loyalty", true);
	Oid			account = OidIsValid(nsp) ? get_relname_relid("account", nsp) : InvalidOid;

	return OidIsValid(account) && citus_table(account);
}

bool
citus_cluster(void)
{
	static bool known = false;
	static bool distributed = false;
	static uint64 generation = 0;
	uint64		g = config_current_generation();

	if (known && g == generation)
		return distributed;
	distributed = citus_distributed();
	stmt_keep_plans(!distributed);
	known = true;
	generation = g;
	return distributed;
}
