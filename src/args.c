/*
 * args.c — checking the arguments of SQL-callable operations.
 *
 * NULL keys, empty refs, non-positive amounts or points and infinite times
 * are 22023 (invalid_parameter_value), naming the argument.
 */
#include "args.h"
#include "loyalty.h"
#include "numutil.h"
#include "timeutil.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

static void
null_arg(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must not be NULL", name)));
}

char *
arg_text(FunctionCallInfo fcinfo, int n, const char *name)
{
	char	   *s;

	if (PG_ARGISNULL(n))
		null_arg(name);
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
	return s;
}

char *
arg_text_opt(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Longest member or ref (characters), SPEC §3: beyond it 22023. */
#define KEY_MAX_CHARS 200

void
check_key(const char *s, const char *name)
{
	if (pg_mbstrlen(s) > KEY_MAX_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is longer than %d characters", name, cut(s), KEY_MAX_CHARS)));
}

/* A member or ref argument: not NULL, not empty, at most 200 characters. */
char *
arg_key(FunctionCallInfo fcinfo, int n, const char *name)
{
	char	   *s = arg_text(fcinfo, n, name);

	check_key(s, name);
	return s;
}

/*
 * A value for an error message: the first 40 characters of a long one,
 * with "..." (whole characters; never NULL).
 */
const char *
cut(const char *s)
{
	int			len;
	int			clip;

	if (s == NULL)
		return "(null)";
	len = strlen(s);
	if (len <= 48)
		return s;
	clip = pg_mbcliplen(s, len, 40);
	return psprintf("%.*s...", clip, s);
}

Numeric
arg_amount(FunctionCallInfo fcinfo, int n, const char *name)
{
	Numeric		a;

	if (PG_ARGISNULL(n))
		null_arg(name);
	a = PG_GETARG_NUMERIC(n);
	if (numeric_is_nan(a)
#if PG_VERSION_NUM >= 140000
		|| numeric_is_inf(a)
#endif
		)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number, not %s", name, cut(num_to_cstring(a)))));
	if (num_sign(a) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be greater than 0, not %s", name, cut(num_to_cstring(a)))));
	return a;
}

int64
arg_points(FunctionCallInfo fcinfo, int n, const char *name)
{
	int64		v;

	if (PG_ARGISNULL(n))
		null_arg(name);
	v = PG_GETARG_INT64(n);
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be greater than 0, not " INT64_FORMAT, name, v)));
	return v;
}

OpArgs
op_args(FunctionCallInfo fcinfo, const char *member_name, int ref_arg)
{
	OpArgs		o;

	o.prog = arg_text(fcinfo, 0, "program");
	o.member = arg_key(fcinfo, 1, member_name);
	o.ref = arg_key(fcinfo, ref_arg, "ref");
	o.at = arg_at(fcinfo, ref_arg + 1);
	return o;
}

TimestampTz
arg_at(FunctionCallInfo fcinfo, int n)
{
	TimestampTz at;

	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		null_arg("at");
	at = PG_GETARG_TIMESTAMPTZ(n);
	check_at(at, "at");
	return at;
}

/*
 * The optional validity window of configuration arguments from_arg and
 * from_arg + 1 (valid_from, valid_until): each a finite instant (22023),
 * valid_until after valid_from (LY007 naming the `what` "code").
 */
void
check_window(FunctionCallInfo fcinfo, int from_arg, const char *what, const char *code)
{
	int			until_arg = from_arg + 1;

	if (!PG_ARGISNULL(from_arg))
		check_at(PG_GETARG_TIMESTAMPTZ(from_arg), "valid_from");
	if (!PG_ARGISNULL(until_arg))
		check_at(PG_GETARG_TIMESTAMPTZ(until_arg), "valid_until");
	if (!PG_ARGISNULL(from_arg) && !PG_ARGISNULL(until_arg) &&
		PG_GETARG_TIMESTAMPTZ(until_arg) <= PG_GETARG_TIMESTAMPTZ(from_arg))
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("%s \"%s\": valid_until %s is not after valid_from %s", what, cut(code),
						pstrdup(timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(until_arg))),
						pstrdup(timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(from_arg)))),
				 errdetail("A %s is in force on [valid_from, valid_until).", what)));
}
