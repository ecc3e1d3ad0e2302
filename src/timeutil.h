/*
 * timeutil.h — local (program timezone) calendar arithmetic on timestamptz.
 */
#ifndef LOYALTY_TIMEUTIL_H
#define LOYALTY_TIMEUTIL_H

#include "loyalty.h"

typedef struct LocalTime
{
	int			year;
	int			month;			/* 1..12 */
	int			day;
	int			isodow;			/* 1=Mon .. 7=Sun */
	int32		julian;			/* local day number */
} LocalTime;
extern void local_time(pg_tz *tz, TimestampTz t, LocalTime *out);
extern TimestampTz local_midnight(pg_tz *tz, int year, int month, int day);
extern TimestampTz local_add_interval(pg_tz *tz, TimestampTz t, const Interval *iv);
extern void check_at(TimestampTz at, const char *argname);

#endif
