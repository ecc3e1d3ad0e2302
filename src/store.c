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

void
ly_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loyalty: SPI_connect failed");
}
