/*
 * timeutil.c — calendar arithmetic in a program's timezone.
 *
 * Weekdays, months, birthday months, day boundaries and expiry dates are the
 * program's local ones, independent of the session's TimeZone setting.
 */
#include "timeutil.h"
#include "loyalty.h"

#include "common/int.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"

void
check_at(TimestampTz at, const char *argname)
{
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp, not %s", argname,
						TIMESTAMP_IS_NOBEGIN(at) ? "-infinity" : "infinity")));
}

void
local_time(pg_tz *tz, TimestampTz t, LocalTime *out)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	int			dow;

	if (timestamp2tm(t, &tzoff, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	out->year = tm.tm_year;
	out->month = tm.tm_mon;
	out->day = tm.tm_mday;
	out->julian = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	dow = j2day(out->julian);	/* 0 = Sunday */
	out->isodow = dow == 0 ? 7 : dow;
}

/* 00:00 local time of the given local date, as timestamptz. */
TimestampTz
local_midnight(pg_tz *tz, int year, int month, int day)
{
	struct pg_tm tm;
	TimestampTz result;
	int			tzoff;

	memset(&tm, 0, sizeof(tm));
	/* normalise month overflow (month 13 = January of next year) */
	while (month > 12)
	{
		month -= 12;
		year++;
	}
	tm.tm_year = year;
	tm.tm_mon = month;
	tm.tm_mday = day;
	tzoff = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, 0, &tzoff, &result) != 0 || !IS_VALID_TIMESTAMP(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of range: %04d-%02d-%02d", year, month, day)));
	return result;
}

/*
 * t + iv as PostgreSQL's timestamptz + interval computes it with the
 * program's zone as TimeZone: months and days are calendar steps on the
 * local calendar ("3 years" from 2026-03-01 10:00 local is 2029-03-01 10:00
 * local, "1 day" is the same local time the next day, whatever the DST
 * offsets in between), then hours, minutes and seconds are elapsed time
 * ("24 hours" is 24 real hours across a DST change).
 */
TimestampTz
local_add_interval(pg_tz *tz, TimestampTz t, const Interval *iv)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	Timestamp	local;
	Timestamp	shifted = 0;
	TimestampTz result;
	Interval	calendar = *iv;

	calendar.time = 0;
	if (timestamp2tm(t, &tzoff, &tm, &fsec, NULL, tz) != 0 ||
		tm2timestamp(&tm, fsec, NULL, &local) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (calendar.month == 0 && calendar.day == 0)
		result = t;
	else
	{
		PG_TRY();
		{
			shifted = DatumGetTimestamp(DirectFunctionCall2(timestamp_pl_interval,
															TimestampGetDatum(local),
															PointerGetDatum(&calendar)));
		}
		PG_CATCH();
		{
			/* replace "timestamp out of range" by one naming the values */
			FlushErrorState();
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("date out of range: %s + %s",
							timestamptz_to_str(t),
							DatumGetCString(DirectFunctionCall1(interval_out, PointerGetDatum(iv))))));
		}
		PG_END_TRY();
		if (TIMESTAMP_NOT_FINITE(shifted) ||
			timestamp2tm(shifted, NULL, &tm, &fsec, NULL, NULL) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("date out of range: %s + %s", timestamptz_to_str(t),
							DatumGetCString(DirectFunctionCall1(interval_out, PointerGetDatum(iv))))));
		tzoff = DetermineTimeZoneOffset(&tm, tz);
		if (tm2timestamp(&tm, fsec, &tzoff, &result) != 0 || !IS_VALID_TIMESTAMP(result))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("date out of range for expiry")));
	}
	if (iv->time != 0)
	{
		if (pg_add_s64_overflow(result, iv->time, &result) || !IS_VALID_TIMESTAMP(result))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("date out of range: %s + %s", timestamptz_to_str(t),
							DatumGetCString(DirectFunctionCall1(interval_out, PointerGetDatum(iv))))));
	}
	return result;
}
