/*
 * config_words.c — allowed words of the configuration and interval checks.
 */
#include "config_words.h"

const char *const rounding_words[3] = {"floor", "round", "ceil"};
const char *const stacking_words[3] = {"multiply", "add", "max"};
const char *const expiry_words[4] = {"none", "fixed", "end_of_period", "rolling"};
const char *const period_words[3] = {"month", "quarter", "year"};
const char *const basis_words[3] = {"points", "spend", "orders"};
const char *const window_words[3] = {"calendar_year", "rolling_year", "lifetime"};
const char *const downgrade_words[3] = {"to_qualified", "one_step", "never"};

int
word_index(const char *val, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(val, words[i]) == 0)
			return i;
	return -1;
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

/* The tier with this code (-1 when unknown; NULL: the lowest). */
int
tier_index(Program *p, const char *code)
{
	if (code == NULL)
		return p->ntiers > 0 ? 0 : -1;
	for (int i = 0; i < p->ntiers; i++)
		if (strcmp(p->tiers[i].code, code) == 0)
			return i;
	return -1;
}

/* The alliance merchant's index in p->merchants; -1 when unknown (or NULL). */
int
merchant_index(const Program *p, const char *code)
{
	if (code == NULL)
		return -1;
	for (int i = 0; i < p->nmerchants; i++)
		if (strcmp(p->merchants[i], code) == 0)
			return i;
	return -1;
}
