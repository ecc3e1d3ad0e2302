/*
 * arrays.h — SQL arrays of C values, the parameters of set-based statements
 * (one UPDATE over unnest($n::...[]) instead of one statement per row).
 */
#ifndef LOYALTY_ARRAYS_H
#define LOYALTY_ARRAYS_H

#include "loyalty.h"

extern Datum int4_array(const int32 *v, int n);
extern Datum int8_array(const int64 *v, int n);
extern Datum bool_array(const bool *v, int n);
extern Datum text_array(char *const *v, int n);	/* a NULL element is SQL NULL */
extern Datum ts_array(const TimestampTz *v, const bool *nulls, int n);	/* nulls may be NULL */

#endif
