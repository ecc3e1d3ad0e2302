/*
 * config_api.c — create_program, add_tier, add_rule, set_rule_active,
 * add_merchant.
 *
 * Each value is checked when given (LY007 naming it); the writes are
 * upserts keyed by code, so running a setup script again updates the
 * configuration.  A change applies to operations after it and never touches
 * the ledger.  The statement triggers on the configuration tables
 * invalidate every backend's cache (config.c).
 */
#include "config_words.h"
#include "args.h"
#include "config.h"
#include "config_parse.h"
#include "numutil.h"
#include "timeutil.h"
#include "statements.h"

#include "fmgr.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/lsyscache.h"
#include "utils/fmgrprotos.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(loyalty_create_program);
PG_FUNCTION_INFO_V1(loyalty_add_tier);
PG_FUNCTION_INFO_V1(loyalty_add_rule);
PG_FUNCTION_INFO_V1(loyalty_set_rule_active);
PG_FUNCTION_INFO_V1(loyalty_add_merchant);

#define CONFIG_ERROR(...) \
	ereport(ERROR, (errcode(ERRCODE_LY_CONFIG), errmsg(__VA_ARGS__)))

static char *
config_key(FunctionCallInfo fcinfo, int n, const char *name)
{
	char	   *s = arg_text(fcinfo, n, name);

	if (pg_mbstrlen(s) > 200)
		CONFIG_ERROR("%s \"%s\" is longer than 200 characters", name, cut(s));
	return s;
}

static const char *
word_check(const char *name, const char *s, const char *const *words, int nwords)
{
	StringInfoData allowed;

	for (int i = 0; i < nwords; i++)
		if (strcmp(s, words[i]) == 0)
			return s;
	initStringInfo(&allowed);
	for (int i = 0; i < nwords; i++)
		appendStringInfo(&allowed, "%s%s", i ? ", " : "", words[i]);
	ereport(ERROR,
			(errcode(ERRCODE_LY_CONFIG),
			 errmsg("unknown %s \"%s\"", name, cut(s)),
			 errhint("%s is one of: %s.", name, allowed.data)));
	return NULL;
}

/*
 * A configuration number: finite, sign rule minsign (1: > 0, 0: >= 0) and
 * at most `max` (NULL: no bound), else LY007 naming it.
 */
static void
num_check(const char *name, Numeric v, int minsign, const char *max)
{
	if (numeric_is_nan(v)
#if PG_VERSION_NUM >= 140000
		|| numeric_is_inf(v)
#endif
		)
		CONFIG_ERROR("%s must be a finite number, not %s", name, cut(num_to_cstring(v)));
	if (num_sign(v) < minsign)
		CONFIG_ERROR("%s must be %s, not %s", name,
					 minsign > 0 ? "greater than 0" : "0 or more", cut(num_to_cstring(v)));
	if (max != NULL && num_cmp(v, num_from_cstring(max)) > 0)
		CONFIG_ERROR("%s must be at most %s, not %s", name, max, cut(num_to_cstring(v)));
}

/* A numeric argument: NULL allowed only when nullable. */
static Numeric
check_num(FunctionCallInfo fcinfo, int n, const char *name, bool nullable, int minsign,
		  const char *max)
{
	Numeric		v;

	if (PG_ARGISNULL(n))
	{
		if (!nullable)
			CONFIG_ERROR("%s must not be NULL", name);
		return NULL;
	}
	v = PG_GETARG_NUMERIC(n);
	num_check(name, v, minsign, max);
	return v;
}

static char *
interval_text(Interval *iv)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, PointerGetDatum(iv)));
}

/*
 * The zone's name as pg_timezone_names spells it; LY007 for anything else,
 * POSIX offsets such as 'UTC+8' or '+08:00' included (PostgreSQL reads
 * their sign inverted, so they are refused rather than misread).
 */

static char *
zone_check(const char *tzname)
{
	Datum		args[1];

	args[0] = CStringGetTextDatum(tzname);
	stmt_exec(ST_TIMEZONE_NAME, args, NULL, true, 1, SPI_OK_SELECT);
	if (SPI_processed == 0 || pg_tzset(tzname) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("unknown timezone \"%s\"", cut(tzname)),
				 errdetail("A program's timezone must be a zone name from pg_timezone_names or UTC; offsets such as 'UTC+8' or '+08:00' are not accepted (PostgreSQL reads their sign inverted)."),
				 errhint("Use a zone name such as 'Asia/Shanghai'.")));
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The settings of create_program, in its argument (and column) order. */
#define NSETTINGS 17
enum
{
	S_CODE, S_NAME, S_CURRENCY, S_PPU, S_UNIT, S_ROUNDING, S_STACKING, S_MAXMULT, S_PPV,
	S_EXPIRY, S_EXPIRY_AFTER, S_PERIOD, S_PENDING, S_BASIS, S_WINDOW, S_DOWNGRADE, S_TIMEZONE
};
static const char *const setting_names[NSETTINGS] = {
	"code", "name", "currency", "points_per_unit", "unit", "rounding", "stacking",
	"max_multiplier", "points_per_value", "expiry", "expiry_after", "expiry_period",
	"pending_for", "tier_basis", "tier_window", "downgrade", "timezone"
};
/* a new program's settings when not given (SPEC §2); NULL: none */
static const char *const setting_defaults[NSETTINGS] = {
	NULL, NULL, "CNY", "1", "1", "floor", "multiply", NULL, "100",
	"none", NULL, "year", "0", "points", "calendar_year", "to_qualified", "UTC"
};
static const Oid setting_types[NSETTINGS] = {
	TEXTOID, TEXTOID, TEXTOID, NUMERICOID, NUMERICOID, TEXTOID, TEXTOID, NUMERICOID, NUMERICOID,
	TEXTOID, INTERVALOID, TEXTOID, INTERVALOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID
};

/*
 * create_program(code, ...): creates the program, or changes exactly the
 * settings passed (not NULL) of an existing one and keeps every other.
 * The whole resulting configuration is checked (LY007 naming the value).
 * max_multiplier => 'infinity' removes a cap; expiry => 'none' drops
 * expiry_after.
 */
Datum
loyalty_create_program(PG_FUNCTION_ARGS)
{
	Datum		values[NSETTINGS + 1];	/* + updated_at */
	bool		isnull[NSETTINGS];
	char		nulls[NSETTINGS + 1];
	bool		given[NSETTINGS];
	bool		exists;
	const char *expiry;
	Interval   *expiry_after;
	Interval   *pending;
	int32		id;
	bool		dummy;

	(void) config_key(fcinfo, 0, "program code");
	ly_spi_connect();

	/* the current settings of an existing program, locked; else the defaults */
	{
		Datum		args[1];

		args[0] = PG_GETARG_DATUM(0);
		stmt_exec(ST_PROGRAM_SETTINGS, args, NULL, false, 1, SPI_OK_SELECT);
		exists = SPI_processed > 0;
	}
	for (int i = 0; i < NSETTINGS; i++)
	{
		given[i] = i < PG_NARGS() && !PG_ARGISNULL(i);
		if (given[i])
		{
			values[i] = PG_GETARG_DATUM(i);
			isnull[i] = false;
		}
		else if (exists)
			values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull[i]);
		else if (setting_defaults[i] == NULL)
		{
			values[i] = (Datum) 0;
			isnull[i] = true;
		}
		else
		{
			Oid			typinput,
						typioparam;

			getTypeInputInfo(setting_types[i], &typinput, &typioparam);
			values[i] = OidInputFunctionCall(typinput, (char *) setting_defaults[i], typioparam, -1);
			isnull[i] = false;
		}
	}

	/* texts and words */
	if (given[S_CURRENCY] && VARSIZE_ANY_EXHDR(DatumGetTextPP(values[S_CURRENCY])) == 0)
		CONFIG_ERROR("currency must not be empty");
	word_check("rounding", TextDatumGetCString(values[S_ROUNDING]), rounding_words, lengthof(rounding_words));
	word_check("stacking", TextDatumGetCString(values[S_STACKING]), stacking_words, lengthof(stacking_words));
	expiry = word_check("expiry", TextDatumGetCString(values[S_EXPIRY]), expiry_words, lengthof(expiry_words));
	word_check("expiry_period", TextDatumGetCString(values[S_PERIOD]), period_words, lengthof(period_words));
	word_check("tier_basis", TextDatumGetCString(values[S_BASIS]), basis_words, lengthof(basis_words));
	word_check("tier_window", TextDatumGetCString(values[S_WINDOW]), window_words, lengthof(window_words));
	word_check("downgrade", TextDatumGetCString(values[S_DOWNGRADE]), downgrade_words, lengthof(downgrade_words));

	/* numbers: finite, in range */
	num_check("points_per_unit", DatumGetNumeric(values[S_PPU]), 0, RATE_MAX);
	num_check("unit", DatumGetNumeric(values[S_UNIT]), 1, UNIT_MAX);
	if (given[S_MAXMULT] && numeric_is_inf(DatumGetNumeric(values[S_MAXMULT])) &&
		num_sign(DatumGetNumeric(values[S_MAXMULT])) > 0)
		isnull[S_MAXMULT] = true;	/* 'infinity': no cap */
	else if (!isnull[S_MAXMULT])
		num_check("max_multiplier", DatumGetNumeric(values[S_MAXMULT]), 1, FACTOR_MAX);
	num_check("points_per_value", DatumGetNumeric(values[S_PPV]), 1, RATE_MAX);

	/* expiry, expiry_after and pending_for together */
	if (strcmp(expiry, "none") == 0)
	{
		if (given[S_EXPIRY_AFTER])
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("expiry_after %s given with expiry \"none\"",
							interval_text(DatumGetIntervalP(values[S_EXPIRY_AFTER]))),
					 errhint("Use expiry 'fixed', 'end_of_period' or 'rolling' for points that expire.")));
		isnull[S_EXPIRY_AFTER] = true;
	}
	expiry_after = isnull[S_EXPIRY_AFTER] ? NULL : DatumGetIntervalP(values[S_EXPIRY_AFTER]);
	if (strcmp(expiry, "end_of_period") == 0)
	{
		/*
		 * NULL or '0': points expire at the end of the period they become
		 * available in (year-end clearing); otherwise at the end of the
		 * period containing available + expiry_after.
		 */
		if (expiry_after != NULL && interval_negative(expiry_after))
			CONFIG_ERROR("expiry_after must be a positive interval or 0, not %s", interval_text(expiry_after));
	}
	else if (strcmp(expiry, "none") != 0)
	{
		if (expiry_after == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("expiry \"%s\" needs expiry_after", expiry),
					 errhint("For example expiry_after => '3 years'.")));
		if (!interval_positive(expiry_after))
			CONFIG_ERROR("expiry_after must be a positive interval, not %s", interval_text(expiry_after));
	}
	pending = DatumGetIntervalP(values[S_PENDING]);
	if (interval_negative(pending))
		CONFIG_ERROR("pending_for must not be negative, not %s", interval_text(pending));
	if (expiry_after != NULL && (strcmp(expiry, "fixed") == 0 || strcmp(expiry, "rolling") == 0) &&
		DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(pending),
										  IntervalPGetDatum(expiry_after))) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("pending_for %s is not shorter than expiry_after %s",
						interval_text(pending), interval_text(expiry_after)),
				 errdetail("Points would expire before they become available.")));

	values[S_TIMEZONE] = CStringGetTextDatum(zone_check(TextDatumGetCString(values[S_TIMEZONE])));

	for (int i = 0; i < NSETTINGS; i++)
		nulls[i] = isnull[i] ? 'n' : ' ';
	/* now(), as a parameter: Citus takes no functions in ON CONFLICT ... DO UPDATE */
	values[NSETTINGS] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	nulls[NSETTINGS] = ' ';
	stmt_exec(ST_PROGRAM_UPSERT, values, nulls, false, 0, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &dummy));
	(void) setting_names;
	SPI_finish();
	PG_RETURN_INT32(id);
}

Datum
loyalty_add_tier(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *code = config_key(fcinfo, 1, "tier code");
	Numeric		threshold = check_num(fcinfo, 2, "threshold", false, 0, AMOUNT_MAX);
	Program    *p;
	bool		have_bottom = false;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	check_num(fcinfo, 3, "earn_multiplier", false, 1, FACTOR_MAX);
	check_num(fcinfo, 4, "points_per_value", true, 1, RATE_MAX);

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
						code, num_to_cstring(threshold), cut(prog)),
				 errhint("Add the lowest tier first, with threshold 0: every member starts in it.")));

	values[0] = Int32GetDatum(p->id);
	values[1] = CStringGetTextDatum(code);
	values[2] = NumericGetDatum(threshold);
	for (int i = 3; i < 6; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	stmt_exec(ST_TIER_UPSERT, values, nulls, false, 0, SPI_OK_INSERT);
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
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	if (PG_ARGISNULL(2))
		CONFIG_ERROR("rule \"%s\": kind must not be NULL", code);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (PG_ARGISNULL(3))
		CONFIG_ERROR("rule \"%s\": params must not be NULL", code);
	params = PG_GETARG_JSONB_P(3);
	check_window(fcinfo, 4, "rule", code);

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
	values[6] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	stmt_exec(ST_RULE_UPSERT, values, nulls, false, 0, SPI_OK_INSERT);
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
loyalty_set_rule_active(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *code = arg_text(fcinfo, 1, "rule code");
	Program    *p;
	Datum		values[4];

	if (PG_ARGISNULL(2))
		CONFIG_ERROR("rule \"%s\": active must not be NULL", code);
	ly_spi_connect();
	p = program_get(prog);
	values[0] = Int32GetDatum(p->id);
	values[1] = CStringGetTextDatum(code);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	stmt_exec(ST_RULE_SET_ACTIVE, values, NULL, false, 0, SPI_OK_UPDATE);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("unknown rule \"%s\" in program \"%s\"", cut(code), cut(prog))));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * add_merchant(program, code, name, settlement_value): an upsert of an
 * alliance merchant (SPEC §9).  settlement_value is the currency value of
 * one point between merchants, 0 or more (NULL: 1 / points_per_value of the
 * program, read by merchant_settlement when it is computed).
 */
Datum
loyalty_add_merchant(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *code = config_key(fcinfo, 1, "merchant code");
	Numeric		value = check_num(fcinfo, 3, "settlement_value", true, 0, RATE_MAX);
	Program    *p;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	check_key(code, "merchant code");
	ly_spi_connect();
	p = program_get(prog);
	values[0] = Int32GetDatum(p->id);
	values[1] = CStringGetTextDatum(code);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[3] = value == NULL ? 'n' : ' ';
	values[3] = value == NULL ? (Datum) 0 : NumericGetDatum(value);
	stmt_exec(ST_MERCHANT_UPSERT, values, nulls, false, 0, SPI_OK_INSERT);
	SPI_finish();
	PG_RETURN_VOID();
}
