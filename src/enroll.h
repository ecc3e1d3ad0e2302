/*
 * enroll.h — enrolment, signup points, referrals.
 */
#ifndef LOYALTY_ENROLL_H
#define LOYALTY_ENROLL_H

#include "lots.h"

extern bool member_enroll(Program *p, const char *member, TimestampTz at,
						  bool has_birthday, DateADT birthday, const char *referred_by);
extern void member_get_or_enroll(Program *p, const char *member, TimestampTz at,
								 Account *a, Account *referrer);
extern int64 signup_points(Program *p, TimestampTz at, char **detail);
extern void referral_pay(Program *p, Account *referee, Account *referrer,
						 int64 purchase_points, TimestampTz at);

#endif
