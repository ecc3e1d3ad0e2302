/*
 * config_parse.c — turning a rule's jsonb params into a Rule struct.
 *
 * The same code checks params in add_rule() (every problem is LY007 naming
 * the key and the value) and parses them when the configuration cache is
 * loaded, so the hot path never touches JSON.
 */
#include "config_parse.h"
#include "config_words.h"
#include "args.h"
#include "numutil.h"

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define CONFIG_ERROR(...) \
	ereport(ERROR, (errcode(ERRCODE_LY_CONFIG), errmsg(__VA_ARGS__)))

static const char *const kind_names[] = {
	"multiplier", "bonus", "category_rate", "event", "streak", "referral"
};

RuleKind
rule_kind_from_text(const char *kind)
{
	for (int i = 0; i < (int) lengthof(kind_names); i++)
		if (strcmp(kind, kind_names[i]) == 0)
			return (RuleKind) i;
	ereport(ERROR,
			(errcode(ERRCODE_LY_CONFIG),
			 errmsg("unknown rule kind \"%s\"", cut(kind)),
			 errhint("Rule kinds are multiplier, bonus, category_rate, event, streak and referral.")));
	return RULE_MULTIPLIER;		/* keep compiler quiet */
}

static char *
jbv_desc(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return psprintf("\"%s\"", cut(pnstrdup(v->val.string.val, v->val.string.len)));
		case jbvNumeric:
			return num_to_cstring(v->val.numeric);
		case jbvBool:
			return v->val.boolean ? "true" : "false";
		case jbvNull:
			return "null";
		default:
			return "an array";
	}
}

/*
 * Ranges are checked when a rule is added (p given); a rule loaded into the
 * cache was checked then, and is read as stored even if a later version
 * narrowed a range (so an operation never fails on old configuration).
 */
#define CHECKED(p, max) ((p) != NULL ? (max) : NULL)

static Numeric
get_numeric(const char *rule, const char *key, JsonbValue *v, int minsign, const char *max)
{
	Numeric		n;

	if (v->type != jbvNumeric || numeric_is_nan(v->val.numeric)
#if PG_VERSION_NUM >= 140000
		|| numeric_is_inf(v->val.numeric)
#endif
		)
		CONFIG_ERROR("rule \"%s\": %s must be a number, not %s", rule, cut(key), jbv_desc(v));
	n = v->val.numeric;
	if (num_sign(n) < minsign)
		CONFIG_ERROR("rule \"%s\": %s must be %s, not %s", rule, cut(key),
					 minsign > 0 ? "greater than 0" : "0 or more", cut(num_to_cstring(n)));
	if (max != NULL && num_cmp(n, num_from_cstring(max)) > 0)
		CONFIG_ERROR("rule \"%s\": %s must be at most %s, not %s", rule, cut(key), max,
					 cut(num_to_cstring(n)));
	return n;
}

static int64
get_int(const char *rule, const char *key, JsonbValue *v, int64 min, int64 max)
{
	Numeric		n;
	Numeric		t;
	int64		r;

	if (v->type != jbvNumeric)
		CONFIG_ERROR("rule \"%s\": %s must be a whole number, not %s", rule, cut(key), jbv_desc(v));
	n = v->val.numeric;
	t = DatumGetNumeric(DirectFunctionCall2(numeric_trunc, NumericGetDatum(n), Int32GetDatum(0)));
	if (numeric_is_nan(n) || num_cmp(n, t) != 0 ||
		num_cmp(n, num_int64(min)) < 0 || num_cmp(n, num_int64(max)) > 0)
		CONFIG_ERROR("rule \"%s\": %s must be a whole number from " INT64_FORMAT " to " INT64_FORMAT ", not %s",
					 rule, key, min, max, jbv_desc(v));
	r = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(n)));
	return r;
}

static char *
get_string(const char *rule, const char *key, JsonbValue *v)
{
	if (v->type != jbvString || v->val.string.len == 0)
		CONFIG_ERROR("rule \"%s\": %s must be a non-empty string, not %s", rule, cut(key), jbv_desc(v));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static bool
get_bool(const char *rule, const char *key, JsonbValue *v)
{
	if (v->type != jbvBool)
		CONFIG_ERROR("rule \"%s\": %s must be true or false, not %s", rule, cut(key), jbv_desc(v));
	return v->val.boolean;
}

static Interval
get_interval(const char *rule, const char *key, JsonbValue *v)
{
	char	   *s = get_string(rule, key, v);
	Interval   *iv = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		iv = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(s),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		iv = NULL;
	}
	PG_END_TRY();
	if (iv == NULL)
		CONFIG_ERROR("rule \"%s\": %s must be an interval such as '90 days', not \"%s\"", rule, cut(key), cut(s));
	if (!interval_positive(iv))
		CONFIG_ERROR("rule \"%s\": %s must be a positive interval, not \"%s\"", rule, cut(key), cut(s));
	return *iv;
}

/* Read an array of scalars (a lone scalar counts as an array of one). */
static int
get_array(JsonbIterator **it, JsonbIteratorToken tok, JsonbValue *first,
		  JsonbValue **out, const char *rule, const char *key)
{
	int			n = 0,
				cap = 8;
	JsonbValue	v;

	if (tok == WJB_VALUE)
	{
		*out = palloc(sizeof(JsonbValue));
		(*out)[0] = *first;
		return 1;
	}
	if (tok != WJB_BEGIN_ARRAY)
		CONFIG_ERROR("rule \"%s\": %s must be an array", rule, cut(key));
	*out = palloc(sizeof(JsonbValue) * cap);
	while ((tok = JsonbIteratorNext(it, &v, true)) != WJB_END_ARRAY)
	{
		if (tok != WJB_ELEM)
			CONFIG_ERROR("rule \"%s\": %s must be an array of plain values", rule, cut(key));
		if (n == cap)
		{
			cap *= 2;
			*out = repalloc(*out, sizeof(JsonbValue) * cap);
		}
		(*out)[n++] = v;
	}
	if (n == 0)
		CONFIG_ERROR("rule \"%s\": %s must not be empty", rule, cut(key));
	return n;
}

/* An array of non-empty strings (categories, tiers, merchants); *n its length. */
static char **
get_strings(JsonbIterator **it, JsonbIteratorToken tok, JsonbValue *first,
			const char *rule, const char *key, int *n)
{
	JsonbValue *a;
	char	  **out;

	*n = get_array(it, tok, first, &a, rule, key);
	out = palloc(sizeof(char *) * *n);
	for (int i = 0; i < *n; i++)
		out[i] = get_string(rule, key, &a[i]);
	return out;
}

static bool
is_condition_kind(RuleKind k)
{
	return k == RULE_MULTIPLIER || k == RULE_BONUS;
}

void
rule_parse(Program *p, const char *code, const char *kind, Jsonb *params, Rule *r)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		seen_factor = false,
				seen_points = false,
				seen_category = false,
				seen_ppu = false,
				seen_event = false,
				seen_days = false,
				seen_window = false,
				seen_referral = false;

	memset(r, 0, sizeof(Rule));
	r->code = pstrdup(code);
	r->kind = rule_kind_from_text(kind);
	r->active = true;

	if (params == NULL || !JB_ROOT_IS_OBJECT(params) || JB_ROOT_IS_SCALAR(params))
		CONFIG_ERROR("rule \"%s\": params must be a JSON object", code);

	it = JsonbIteratorInit(&params->root);
	tok = JsonbIteratorNext(&it, &v, false);	/* WJB_BEGIN_OBJECT */
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_END_OBJECT && tok != WJB_DONE)
	{
		char	   *key;
		JsonbValue	val;
		JsonbIteratorToken vtok;
		bool		cond = is_condition_kind(r->kind);

		Assert(tok == WJB_KEY);
		key = pnstrdup(v.val.string.val, v.val.string.len);
		vtok = JsonbIteratorNext(&it, &val, false);
		if (vtok == WJB_BEGIN_OBJECT)
			CONFIG_ERROR("rule \"%s\": %s must not be an object", code, cut(key));

		if (vtok != WJB_VALUE && !(cond && (strcmp(key, "weekdays") == 0 ||
											strcmp(key, "categories") == 0 ||
											strcmp(key, "categories_all") == 0 ||
											strcmp(key, "tiers") == 0 ||
											strcmp(key, "merchants") == 0)))
			val.type = jbvArray;	/* the getters reject it; unknown keys still say so */

		if (cond && strcmp(key, "weekdays") == 0)
		{
			JsonbValue *a;
			int			n = get_array(&it, vtok, &val, &a, code, key);

			for (int i = 0; i < n; i++)
				r->weekdays |= (uint8) (1 << get_int(code, "weekdays", &a[i], 1, 7));
		}
		else if (cond && strcmp(key, "categories") == 0)
			r->categories = get_strings(&it, vtok, &val, code, key, &r->ncategories);
		else if (cond && strcmp(key, "categories_all") == 0)
			r->categories_all = get_strings(&it, vtok, &val, code, key, &r->ncategories_all);
		else if (cond && strcmp(key, "tiers") == 0)
		{
			r->tiers = get_strings(&it, vtok, &val, code, key, &r->ntiers);
			for (int i = 0; i < r->ntiers; i++)
				if (p != NULL && tier_index(p, r->tiers[i]) < 0)
					ereport(ERROR,
							(errcode(ERRCODE_LY_CONFIG),
							 errmsg("rule \"%s\": unknown tier \"%s\"", code, cut(r->tiers[i])),
							 errhint("Add the tier with loyalty.add_tier() first.")));
		}
		else if (cond && strcmp(key, "merchants") == 0)
		{
			r->merchants = get_strings(&it, vtok, &val, code, key, &r->nmerchants);
			for (int i = 0; i < r->nmerchants; i++)
				if (p != NULL && merchant_index(p, r->merchants[i]) < 0)
					ereport(ERROR,
							(errcode(ERRCODE_LY_CONFIG),
							 errmsg("rule \"%s\": unknown merchant \"%s\"", code, cut(r->merchants[i])),
							 errhint("Add the merchant with loyalty.add_merchant() first.")));
		}
		else if (cond && strcmp(key, "birthday_month") == 0)
			r->birthday_month = get_bool(code, key, &val);
		else if (cond && strcmp(key, "min_amount") == 0)
			r->min_amount = get_numeric(code, key, &val, 0, CHECKED(p, AMOUNT_MAX));
		else if (cond && strcmp(key, "first_purchase") == 0)
			r->first_purchase = get_bool(code, key, &val);
		else if (cond && strcmp(key, "min_orders") == 0)
			r->min_orders = (int32) get_int(code, key, &val, 1, PG_INT32_MAX);
		else if (cond && strcmp(key, "orders_window") == 0)
		{
			r->orders_window = get_interval(code, key, &val);
			seen_window = true;
		}
		else if (cond && strcmp(key, "max_per_member") == 0)
			r->max_per_member = (int32) get_int(code, key, &val, 1, PG_INT32_MAX);
		else if (cond && strcmp(key, "budget") == 0)
			r->budget = get_int(code, key, &val, 1, POINTS_MAX);
		else if (cond && strcmp(key, "offer") == 0)
			r->offer = get_bool(code, key, &val);
		else if (r->kind == RULE_MULTIPLIER && strcmp(key, "factor") == 0)
		{
			r->factor = get_numeric(code, key, &val, 1, CHECKED(p, FACTOR_MAX));
			seen_factor = true;
		}
		else if ((r->kind == RULE_BONUS || r->kind == RULE_EVENT || r->kind == RULE_STREAK) &&
				 strcmp(key, "points") == 0)
		{
			r->points = get_int(code, key, &val, r->kind == RULE_EVENT ? 0 : 1, POINTS_MAX);
			seen_points = true;
		}
		else if (r->kind == RULE_BONUS && strcmp(key, "group") == 0)
			r->group = get_string(code, key, &val);
		else if (r->kind == RULE_CATEGORY_RATE && strcmp(key, "category") == 0)
		{
			r->category = get_string(code, key, &val);
			seen_category = true;
		}
		else if (r->kind == RULE_CATEGORY_RATE && strcmp(key, "points_per_unit") == 0)
		{
			r->ppu = get_numeric(code, key, &val, 0, CHECKED(p, RATE_MAX));
			seen_ppu = true;
		}
		else if (r->kind == RULE_CATEGORY_RATE && strcmp(key, "unit") == 0)
			r->unit = get_numeric(code, key, &val, 1, CHECKED(p, UNIT_MAX));
		else if ((r->kind == RULE_EVENT || r->kind == RULE_STREAK) && strcmp(key, "event") == 0)
		{
			r->event = get_string(code, key, &val);
			seen_event = true;
		}
		else if (r->kind == RULE_EVENT && strcmp(key, "max_per_day") == 0)
			r->max_per_day = get_int(code, key, &val, 1, PG_INT32_MAX);
		else if (r->kind == RULE_EVENT && strcmp(key, "max_total") == 0)
			r->max_total = get_int(code, key, &val, 1, PG_INT32_MAX);
		else if (r->kind == RULE_STREAK && strcmp(key, "days") == 0)
		{
			r->days = (int32) get_int(code, key, &val, 1, 36600);
			seen_days = true;
		}
		else if (r->kind == RULE_REFERRAL && strcmp(key, "referrer_points") == 0)
		{
			r->referrer_points = get_int(code, key, &val, 0, POINTS_MAX);
			seen_referral = true;
		}
		else if (r->kind == RULE_REFERRAL && strcmp(key, "referee_points") == 0)
		{
			r->referee_points = get_int(code, key, &val, 0, POINTS_MAX);
			seen_referral = true;
		}
		else if (r->kind == RULE_REFERRAL && strcmp(key, "referrer_share") == 0)
		{
			r->referrer_share = get_numeric(code, key, &val, 0, CHECKED(p, FACTOR_MAX));
			seen_referral = true;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_LY_CONFIG),
					 errmsg("rule \"%s\": unknown param \"%s\" for a rule of kind %s", code, cut(key), kind),
					 errhint("%s",
							 r->kind == RULE_MULTIPLIER ? "A multiplier rule takes factor and the conditions weekdays, categories, categories_all, tiers, merchants, birthday_month, min_amount, first_purchase, min_orders, orders_window, and the limits max_per_member, budget, offer." :
							 r->kind == RULE_BONUS ? "A bonus rule takes points, group and the conditions weekdays, categories, categories_all, tiers, merchants, birthday_month, min_amount, first_purchase, min_orders, orders_window, and the limits max_per_member, budget, offer." :
							 r->kind == RULE_CATEGORY_RATE ? "A category_rate rule takes category, points_per_unit and unit." :
							 r->kind == RULE_EVENT ? "An event rule takes event, points, max_per_day and max_total." :
							 r->kind == RULE_STREAK ? "A streak rule takes event, days and points." :
							 "A referral rule takes referrer_points, referrer_share and referee_points.")));
	}

	switch (r->kind)
	{
		case RULE_MULTIPLIER:
			if (!seen_factor)
				CONFIG_ERROR("rule \"%s\": a multiplier rule needs param \"factor\"", code);
			break;
		case RULE_BONUS:
			if (!seen_points)
				CONFIG_ERROR("rule \"%s\": a bonus rule needs param \"points\"", code);
			break;
		case RULE_CATEGORY_RATE:
			if (!seen_category)
				CONFIG_ERROR("rule \"%s\": a category_rate rule needs param \"category\"", code);
			if (!seen_ppu)
				CONFIG_ERROR("rule \"%s\": a category_rate rule needs param \"points_per_unit\"", code);
			if (r->unit == NULL)
				r->unit = num_int64(1);
			break;
		case RULE_EVENT:
			if (!seen_event)
				CONFIG_ERROR("rule \"%s\": an event rule needs param \"event\"", code);
			if (!seen_points)
				CONFIG_ERROR("rule \"%s\": an event rule needs param \"points\"", code);
			break;
		case RULE_STREAK:
			if (!seen_event)
				CONFIG_ERROR("rule \"%s\": a streak rule needs param \"event\"", code);
			if (!seen_days)
				CONFIG_ERROR("rule \"%s\": a streak rule needs param \"days\"", code);
			if (!seen_points)
				CONFIG_ERROR("rule \"%s\": a streak rule needs param \"points\"", code);
			if (p != NULL && strcmp(r->event, "signup") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_LY_CONFIG),
						 errmsg("rule \"%s\": a streak cannot count event \"signup\"", code),
						 errdetail("A member signs up once.")));
			break;
		case RULE_REFERRAL:
			if (!seen_referral)
				CONFIG_ERROR("rule \"%s\": a referral rule needs referrer_points, referrer_share or referee_points", code);
			if (r->referrer_share == NULL)
				r->referrer_share = num_int64(0);
			break;
	}
	if (r->min_orders > 0 && !seen_window)
		CONFIG_ERROR("rule \"%s\": min_orders needs param \"orders_window\"", code);
	if (seen_window && r->min_orders == 0)
		CONFIG_ERROR("rule \"%s\": orders_window needs param \"min_orders\"", code);
}
