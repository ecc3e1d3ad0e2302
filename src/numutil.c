/*
 * numutil.c — exact numeric helpers.
 *
 * All earning arithmetic stays in PostgreSQL's arbitrary-precision numeric
 * until the one rounding step, num_round_div(), which divides exactly
 * (truncating division plus remainder) so that floor / half-up / ceil are
 * exact for every rate, including ones like 1 point per 3 yuan.
 */
#include "numutil.h"
#include "loyalty.h"

#include "utils/fmgrprotos.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

Numeric
num_int64(int64 v)
{
	return DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(v)));
}

Numeric
num_one(void)
{
	return num_int64(1);
}

Numeric
num_add(Numeric a, Numeric b)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(a), NumericGetDatum(b)));
}

Numeric
num_sub(Numeric a, Numeric b)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_sub, NumericGetDatum(a), NumericGetDatum(b)));
}

Numeric
num_mul(Numeric a, Numeric b)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_mul, NumericGetDatum(a), NumericGetDatum(b)));
}

int
num_cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a), NumericGetDatum(b)));
}

bool
num_eq(Numeric a, Numeric b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return num_cmp(a, b) == 0;
}

int
num_sign(Numeric a)
{
	Numeric		zero = num_int64(0);

	if (numeric_is_nan(a))
		return 2;
	return num_cmp(a, zero);
}

bool
num_is_zero(Numeric a)
{
	return num_sign(a) == 0;
}

Numeric
num_from_cstring(const char *s)
{
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

char *
num_to_cstring(Numeric a)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(a)));
}

/* Convert an integral numeric to int64, 22003 naming the value when too big. */
int64
num_to_int64(Numeric a, const char *what)
{
	static Numeric lo = NULL,
				hi = NULL;

	if (hi == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		lo = num_int64(PG_INT64_MIN);
		hi = num_int64(PG_INT64_MAX);
		MemoryContextSwitchTo(old);
	}
	if (numeric_is_nan(a) || num_cmp(a, lo) < 0 || num_cmp(a, hi) > 0)
	{
		char	   *v = num_to_cstring(a);

		/* a long value cut as cut() does (args.h is a floor above) */
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s out of range: %.40s%s", what, v, strlen(v) > 40 ? "..." : ""),
				 errdetail("Points are bigint values.")));
	}
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(a)));
}

/*
 * rounding(num / den) for num >= 0, den > 0, exactly: the quotient is
 * truncated and the remainder decides the rounding.
 */
int64
num_round_div(Numeric num, Numeric den, RoundingMode mode)
{
	Numeric		q = DatumGetNumeric(DirectFunctionCall2(numeric_div_trunc,
														NumericGetDatum(num),
														NumericGetDatum(den)));
	Numeric		r = num_sub(num, num_mul(q, den));
	int			rs = num_sign(r);

	switch (mode)
	{
		case ROUND_FLOOR:
			if (rs < 0)
				q = num_sub(q, num_int64(1));
			break;
		case ROUND_CEIL:
			if (rs > 0)
				q = num_add(q, num_int64(1));
			break;
		case ROUND_HALF_UP:
			{
				/* half away from zero: |2r| >= den */
				Numeric		twice = num_mul(r, num_int64(2));

				if (rs > 0 && num_cmp(twice, den) >= 0)
					q = num_add(q, num_int64(1));
				else if (rs < 0 && num_cmp(num_mul(twice, num_int64(-1)), den) >= 0)
					q = num_sub(q, num_int64(1));
			}
			break;
	}
	return num_to_int64(q, "points");
}
