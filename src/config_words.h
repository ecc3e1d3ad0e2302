/*
 * config_words.h — the words and ranges of the configuration: the allowed
 * values of each setting, interval checks, tier look-up by code.  Shared by
 * the cache (config.c), the checks of the SQL API (config_api.c) and the
 * rule parser (config_parse.c).
 */
#ifndef LOYALTY_CONFIG_WORDS_H
#define LOYALTY_CONFIG_WORDS_H

#include "loyalty.h"

extern const char *const rounding_words[3];
extern const char *const stacking_words[3];
extern const char *const expiry_words[4];
extern const char *const period_words[3];
extern const char *const basis_words[3];
extern const char *const window_words[3];
extern const char *const downgrade_words[3];

/* index of val in words, -1 when absent */
extern int	word_index(const char *val, const char *const *words, int n);
#define WORD(val, arr) word_index(val, arr, lengthof(arr))

/* ranges of configuration numbers (LY007 beyond) */
#define FACTOR_MAX	"100"			/* a multiplier, a cap, a tier's earn_multiplier */
#define RATE_MAX	"1000000"		/* points per unit, points per currency unit */
#define UNIT_MAX	"1000000000"	/* the spend unit */
#define AMOUNT_MAX	"1000000000000" /* thresholds, min_amount */
#define POINTS_MAX	INT64CONST(1000000000000)	/* points of a rule */

extern int	tier_index(Program *p, const char *code);	/* -1 when unknown; NULL -> 0 */
extern int	merchant_index(const Program *p, const char *code);	/* -1 when unknown */

extern bool interval_negative(const Interval *iv);
extern bool interval_positive(const Interval *iv);

#endif
