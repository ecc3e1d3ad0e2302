/*
 * config_api.c — create_program, add_tier, add_rule, set_rule_active.
 *
 * Each value is checked when given (LY007 naming it); the writes are
 * upserts keyed by code, so running a setup script again updates the
 * configuration.  A change applies to operations after it and never touches
 * the ledger.  The statement triggers on the configuration tables
 * invalidate every backend's cache (config.c).
 */
#include "loyalty.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(loyalty_create_program);
PG_FUNCTION_INFO_V1(loyalty_add_tier);
PG_FUNCTION_INFO_V1(loyalty_add_rule);
PG_FUNCTION_INFO_V1(loyalty_set_rule_active);

extern const char *const rounding_words[];
extern const char *const stacking_words[];
extern const char *const expiry_words[];
extern const char *const period_words[];
extern const char *const basis_words[];
extern const char *const window_words[];
extern const char *const downgrade_words[];

static SPIPlanPtr plan_upsert_program = NULL;
static SPIPlanPtr plan_upsert_tier = NULL;
static SPIPlanPtr plan_upsert_rule = NULL;
static SPIPlanPtr plan_rule_active = NULL;

#define CONFIG_ERROR(...) \
	ereport(ERROR, (errcode(ERRCODE_LY_CONFIG), errmsg(__VA_ARGS__)))

static char *
config_key(FunctionCallInfo fcinfo, int n, const char *name)
{
	char	   *s = arg_text(fcinfo, n, name);

	if (strlen(s) > 200)
		CONFIG_ERROR("%s \"%.20s...\" is longer than 200 characters", name, s);
	return s;
}

static const char *
check_word(FunctionCallInfo fcinfo, int n, const char *name,
		   const char *const *words, int nwords)
{
	char	   *s;
	StringInfoData allowed;

	if (PG_ARGISNULL(n))
		CONFIG_ERROR("%s must not be NULL", name);
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));
	for (int i = 0; i < nwords; i++)
		if (strcmp(s, words[i]) == 0)
			return s;
	initStringInfo(&allowed);
	for (int i = 0; i < nwords; i++)
		appendStringInfo(&allowed, "%s%s", i ? ", " : "", words[i]);
	ereport(ERROR,
			(errcode(ERRCODE_LY_CONFIG),
			 errmsg("unknown %s \"%s\"", name, s),
			 errhint("%s is one of: %s.", name, allowed.data)));
	return NULL;
}

/* A numeric argument: NULL allowed only when nullable; sign rule minsign. */
static Numeric
check_num(FunctionCallInfo fcinfo, int n, const char *name, bool nullable, int minsign)
{
	Numeric		v;

	if (PG_ARGISNULL(n))
	{
		if (!nullable)
			CONFIG_ERROR("%s must not be NULL", name);
		return NULL;
	}
	v = PG_GETARG_NUMERIC(n);
	if (numeric_is_nan(v)
#if PG_VERSION_NUM >= 140000
		|| numeric_is_inf(v)
#endif
		)
		CONFIG_ERROR("%s must be a finite number, not %s", name, num_to_cstring(v));
	if (num_sign(v) < minsign)
		CONFIG_ERROR("%s must be %s, not %s", name,
					 minsign > 0 ? "greater than 0" : "0 or more", num_to_cstring(v));
	return v;
}

/* Configuration intervals: no component below 0 ... */
bool
interval_negative(const Interval *iv)
{
	return iv->month < 0 || iv->day < 0 || iv->time < 0;
}

/* ... and, where a length is needed, some component above 0. */
bool
interval_positive(const Interval *iv)
{
	return !interval_negative(iv) && (iv->month > 0 || iv->day > 0 || iv->time > 0);
}

static char *
interval_text(Interval *iv)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, PointerGetDatum(iv)));
}

Datum
loyalty_create_program(PG_FUNCTION_ARGS)
{
	const char *expiry;
	Interval   *expiry_after = PG_ARGISNULL(10) ? NULL : PG_GETARG_INTERVAL_P(10);
	Interval   *pending;
	char	   *tzname;
	Datum		values[17];
	char		nulls[17];
	Oid			types[17] = {TEXTOID, TEXTOID, TEXTOID, NUMERICOID, NUMERICOID,
		TEXTOID, TEXTOID, NUMERICOID, NUMERICOID, TEXTOID, INTERVALOID, TEXTOID,
	INTERVALOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	int32		id;
	bool		isnull;

	(void) config_key(fcinfo, 0, "program code");
	if (PG_ARGISNULL(2) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(2)) == 0)
		CONFIG_ERROR("currency must not be empty");
	check_num(fcinfo, 3, "points_per_unit", false, 0);
	check_num(fcinfo, 4, "unit", false, 1);
	check_word(fcinfo, 5, "rounding", rounding_words, 3);
	check_word(fcinfo, 6, "stacking", stacking_words, 3);
	check_num(fcinfo, 7, "max_multiplier", true, 1);
	check_num(fcinfo, 8, "points_per_value", false, 1);
	expiry = check_word(fcinfo, 9, "expiry", expiry_words, 4);
	check_word(fcinfo, 11, "expiry_period", period_words, 3);
	check_word(fcinfo, 13, "tier_basis", basis_words, 3);
	check_word(fcinfo, 14, "tier_window", window_words, 3);
	check_word(fcinfo, 15, "downgrade", downgrade_words, 3);

	if (strcmp(expiry, "none") == 0)
	{
		if (expiry_after != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("expiry_after %s given with expiry \"none\"", interval_text(expiry_after)),
					 errhint("Use expiry 'fixed', 'end_of_period' or 'rolling' for points that expire.")));
	}
	else if (strcmp(expiry, "end_of_period") == 0)
	{
		/*
		 * NULL or '0': points expire at the end of the period they were
		 * earned in (year-end clearing); otherwise at the end of the period
		 * containing earned + expiry_after.
		 */
		if (expiry_after != NULL && interval_negative(expiry_after))
			CONFIG_ERROR("expiry_after must be a positive interval or 0, not %s", interval_text(expiry_after));
	}
	else if (expiry_after == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("expiry \"%s\" needs expiry_after", expiry),
				 errhint("For example expiry_after => '3 years'.")));
	else if (!interval_positive(expiry_after))
		CONFIG_ERROR("expiry_after must be a positive interval, not %s", interval_text(expiry_after));

	if (PG_ARGISNULL(12))
		CONFIG_ERROR("pending_for must not be NULL");
	pending = PG_GETARG_INTERVAL_P(12);
	if (interval_negative(pending))
		CONFIG_ERROR("pending_for must not be negative, not %s", interval_text(pending));

	if (PG_ARGISNULL(16))
		CONFIG_ERROR("timezone must not be NULL");
	tzname = text_to_cstring(PG_GETARG_TEXT_PP(16));
	if (pg_tzset(tzname) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("unknown timezone \"%s\"", tzname),
				 errhint("Use a name from pg_timezone_names, such as 'Asia/Shanghai'.")));

	for (int i = 0; i < 17; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}

	ly_spi_connect();
	plan_get(&plan_upsert_program,
			 "INSERT INTO loyalty.program AS p (code, name, currency, points_per_unit, unit, "
			 "  rounding, stacking, max_multiplier, points_per_value, expiry, expiry_after, "
			 "  expiry_period, pending_for, tier_basis, tier_window, downgrade, timezone) "
			 "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) "
			 "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, currency = EXCLUDED.currency, "
			 "  points_per_unit = EXCLUDED.points_per_unit, unit = EXCLUDED.unit, "
			 "  rounding = EXCLUDED.rounding, stacking = EXCLUDED.stacking, "
			 "  max_multiplier = EXCLUDED.max_multiplier, points_per_value = EXCLUDED.points_per_value, "
			 "  expiry = EXCLUDED.expiry, expiry_after = EXCLUDED.expiry_after, "
			 "  expiry_period = EXCLUDED.expiry_period, pending_for = EXCLUDED.pending_for, "
			 "  tier_basis = EXCLUDED.tier_basis, tier_window = EXCLUDED.tier_window, "
			 "  downgrade = EXCLUDED.downgrade, timezone = EXCLUDED.timezone, "
			 "  updated_at = pg_catalog.now() "
			 "RETURNING id",
			 17, types);
	if (SPI_execute_plan(plan_upsert_program, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "loyalty: writing program failed");
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT32(id);
}

Datum
loyalty_add_tier(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *code = config_key(fcinfo, 1, "tier code");
	Numeric		threshold = check_num(fcinfo, 2, "threshold", false, 0);
	Program    *p;
	bool		have_bottom = false;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[6] = {INT4OID, TEXTOID, NUMERICOID, NUMERICOID, NUMERICOID, TEXTOID};

	check_num(fcinfo, 3, "earn_multiplier", false, 1);
	check_num(fcinfo, 4, "points_per_value", true, 1);

	ly_spi_connect();
	p = program_get(prog);
	for (int i = 0; i < p->ntiers; i++)
	{
		Tier	   *t = &p->tiers[i];

		if (strcmp(t->code, code) == 0)
			continue;			/* being replaced */
		if (num_is_zero(t->threshold))
			have_bottom = true;
		if (num_cmp(t->threshold, threshold) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("threshold %s of tier \"%s\" is already the threshold of tier \"%s\"",
							num_to_cstring(threshold), code, t->code),
					 errhint("Each tier of a program needs its own threshold.")));
	}
	if (!have_bottom && !num_is_zero(threshold))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("tier \"%s\" has threshold %s but program \"%s\" has no tier with threshold 0",
						code, num_to_cstring(threshold), prog),
				 errhint("Add the lowest tier first, with threshold 0: every member starts in it.")));

	values[0] = Int32GetDatum(p->id);
	values[1] = CStringGetTextDatum(code);
	values[2] = NumericGetDatum(threshold);
	for (int i = 3; i < 6; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	plan_get(&plan_upsert_tier,
			 "INSERT INTO loyalty.tier (program_id, code, threshold, earn_multiplier, points_per_value, name) "
			 "VALUES ($1,$2,$3,$4,$5,$6) "
			 "ON CONFLICT (program_id, code) DO UPDATE SET threshold = EXCLUDED.threshold, "
			 "  earn_multiplier = EXCLUDED.earn_multiplier, "
			 "  points_per_value = EXCLUDED.points_per_value, name = EXCLUDED.name",
			 6, types);
	if (SPI_execute_plan(plan_upsert_tier, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "loyalty: writing tier failed");
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
loyalty_add_rule(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *code = config_key(fcinfo, 1, "rule code");
	char	   *kind;
	Jsonb	   *params;
	Program    *p;
	Rule		r;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[6] = {INT4OID, TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID};

	if (PG_ARGISNULL(2))
		CONFIG_ERROR("rule \"%s\": kind must not be NULL", code);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (PG_ARGISNULL(3))
		CONFIG_ERROR("rule \"%s\": params must not be NULL", code);
	params = PG_GETARG_JSONB_P(3);
	if (!PG_ARGISNULL(4))
		check_at(PG_GETARG_TIMESTAMPTZ(4), "valid_from");
	if (!PG_ARGISNULL(5))
		check_at(PG_GETARG_TIMESTAMPTZ(5), "valid_until");
	if (!PG_ARGISNULL(4) && !PG_ARGISNULL(5) &&
		PG_GETARG_TIMESTAMPTZ(5) <= PG_GETARG_TIMESTAMPTZ(4))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("rule \"%s\": valid_until %s is not after valid_from %s", code,
						pstrdup(timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(5))),
						pstrdup(timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(4)))),
				 errdetail("A rule is in force on [valid_from, valid_until).")));

	ly_spi_connect();
	p = program_get(prog);
	rule_parse(p, code, kind, params, &r);

	values[0] = Int32GetDatum(p->id);
	values[1] = CStringGetTextDatum(code);
	values[2] = CStringGetTextDatum(kind);
	values[3] = JsonbPGetDatum(params);
	for (int i = 4; i < 6; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	plan_get(&plan_upsert_rule,
			 "INSERT INTO loyalty.rule (program_id, code, kind, params, valid_from, valid_until) "
			 "VALUES ($1,$2,$3,$4,$5,$6) "
			 "ON CONFLICT (program_id, code) DO UPDATE SET kind = EXCLUDED.kind, "
			 "  params = EXCLUDED.params, valid_from = EXCLUDED.valid_from, "
			 "  valid_until = EXCLUDED.valid_until, active = true, updated_at = pg_catalog.now()",
			 6, types);
	if (SPI_execute_plan(plan_upsert_rule, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "loyalty: writing rule failed");
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
loyalty_set_rule_active(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *code = arg_text(fcinfo, 1, "rule code");
	Program    *p;
	Datum		values[3];
	Oid			types[3] = {INT4OID, TEXTOID, BOOLOID};

	if (PG_ARGISNULL(2))
		CONFIG_ERROR("rule \"%s\": active must not be NULL", code);
	ly_spi_connect();
	p = program_get(prog);
	values[0] = Int32GetDatum(p->id);
	values[1] = CStringGetTextDatum(code);
	values[2] = PG_GETARG_DATUM(2);
	plan_get(&plan_rule_active,
			 "UPDATE loyalty.rule SET active = $3, updated_at = pg_catalog.now() "
			 "WHERE program_id = $1 AND code = $2",
			 3, types);
	if (SPI_execute_plan(plan_rule_active, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "loyalty: updating rule failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("unknown rule \"%s\" in program \"%s\"", code, prog)));
	SPI_finish();
	PG_RETURN_VOID();
}
