/*
 * store.c — kept SPI plans.
 *
 * Every statement the extension runs is prepared once per backend
 * (SPI_prepare + SPI_keepplan) and reused; a plan whose objects were dropped
 * (DROP / CREATE EXTENSION in the same backend) is found by
 * SPI_plan_is_valid() and prepared again.  Ordinary replanning after
 * ANALYZE or DDL is done by the plan cache itself.  The SQL-callable
 * functions run with search_path = pg_catalog, pg_temp and every name in the
 * statements is schema-qualified.
 */
#include "loyalty.h"

#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"

SPIPlanPtr
plan_get(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *types)
{
	return plan_get_opts(slot, sql, nargs, types, 0);
}

/*
 * plan_get with planner options: CURSOR_OPT_CUSTOM_PLAN plans every execution
 * with its actual parameters (for statements whose best plan depends on an
 * array's length), CURSOR_OPT_GENERIC_PLAN never does.
 */
SPIPlanPtr
plan_get_opts(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *types, int options)
{
	SPIPlanPtr	p;

	if (*slot != NULL && SPI_plan_is_valid(*slot))
		return *slot;
	if (*slot != NULL)
	{
		SPI_freeplan(*slot);
		*slot = NULL;
	}
	p = SPI_prepare_cursor(sql, nargs, (Oid *) types, options);
	if (p == NULL)
		elog(ERROR, "loyalty: SPI_prepare failed (%s) for: %s",
			 SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "loyalty: SPI_keepplan failed");
	*slot = p;
	return p;
}

/*
 * The library of a version runs the statements of that version's schema, so
 * it checks once per backend that the database's extension is at its own
 * version: instead of failing later on a missing column (42703) or, worse,
 * reading an old table in a new way, every operation of a database whose
 * DBA installed the new library but has not run ALTER EXTENSION UPDATE yet
 * is refused with a message saying so.  Not while an extension script runs
 * (CREATE or ALTER EXTENSION: the version is being changed), and not for the
 * event triggers (ly_spi_connect_nocheck), which must not block unrelated
 * DDL, ALTER EXTENSION itself included.  A mismatch is not remembered: the
 * next call checks again, so the update takes effect without reconnecting.
 */
static bool schema_ok = false;

static void
schema_check(void)
{
	char	   *installed;

	if (schema_ok || creating_extension)
		return;
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'loyalty'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading the installed version failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension loyalty is not installed in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("Run CREATE EXTENSION loyalty.")));
	installed = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (installed == NULL || strcmp(installed, LOYALTY_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the loyalty library is version %s, but this database has loyalty %s",
						LOYALTY_VERSION, installed ? installed : "(unknown)"),
				 errdetail("The library runs the statements of its own version's schema."),
				 errhint("Run ALTER EXTENSION loyalty UPDATE in this database.")));
	schema_ok = true;
}

void
ly_spi_connect(void)
{
	ly_spi_connect_nocheck();
	schema_check();
}

void
ly_spi_connect_nocheck(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loyalty: SPI_connect failed");
}
