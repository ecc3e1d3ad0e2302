/*
 * numutil.h — numeric arithmetic without SQL round trips, and rounding to
 * points.
 */
#ifndef LOYALTY_NUMUTIL_H
#define LOYALTY_NUMUTIL_H

#include "loyalty.h"

extern Numeric num_int64(int64 v);
extern Numeric num_add(Numeric a, Numeric b);
extern Numeric num_sub(Numeric a, Numeric b);
extern Numeric num_mul(Numeric a, Numeric b);
extern int	num_cmp(Numeric a, Numeric b);
extern bool num_is_zero(Numeric a);
extern int	num_sign(Numeric a);
extern Numeric num_from_cstring(const char *s);
extern char *num_to_cstring(Numeric a);
extern int64 num_round_div(Numeric num, Numeric den, RoundingMode mode);
extern int64 num_to_int64(Numeric a, const char *what);
extern Numeric num_one(void);
extern bool num_eq(Numeric a, Numeric b);

#endif
