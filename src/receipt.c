/*
 * receipt.c — receipt lines in and out (receipt.h).
 */
#include "receipt.h"
#include "args.h"
#include "numutil.h"

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/numeric.h"

static void
bad_lines(const char *msg, const char *line)
{
	if (line != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("receipt line \"%s\": %s", cut(line), msg),
				 errhint("A line is {\"line\": \"1\", \"category\": \"snacks\", \"amount\": 12.50}.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 errhint("lines is a JSON array of {\"line\": \"1\", \"category\": \"snacks\", \"amount\": 12.50}.")));
}

static JsonbValue *
field(JsonbValue *obj, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(obj->val.binary.data, JB_FOBJECT, &k);
}

static const char *
jtype(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "an array or an object";
	}
}

ReceiptLine *
receipt_parse(Jsonb *lines, bool with_category, int *n)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	ReceiptLine *out;
	int			count;
	int			i = 0;

	if (!JB_ROOT_IS_ARRAY(lines) || JB_ROOT_IS_SCALAR(lines))
		bad_lines(JB_ROOT_IS_OBJECT(lines) ? "lines must be a JSON array of receipt lines, not an object"
				  : "lines must be a JSON array of receipt lines, not a scalar", NULL);
	count = JB_ROOT_COUNT(lines);
	if (count == 0)
		bad_lines("lines must not be an empty array", NULL);
	if (count > RECEIPT_MAX_LINES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a receipt has at most %d lines, not %d", RECEIPT_MAX_LINES, count)));
	out = palloc0(sizeof(ReceiptLine) * count);
	it = JsonbIteratorInit(&lines->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		ReceiptLine *l;
		JsonbValue *f;
		char		pos[16];

		if (tok != WJB_ELEM)
			continue;
		l = &out[i++];
		snprintf(pos, sizeof(pos), "%d", i);
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("receipt line %d must be a JSON object, not %s", i, jtype(&v)),
					 errhint("A line is {\"line\": \"1\", \"category\": \"snacks\", \"amount\": 12.50}.")));
		/* line: its key, default the position */
		f = field(&v, "line");
		if (f == NULL || f->type == jbvNull)
			l->key = pstrdup(pos);
		else if (f->type == jbvString)
			l->key = pnstrdup(f->val.string.val, f->val.string.len);
		else if (f->type == jbvNumeric)
			l->key = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(f->val.numeric)));
		else
			bad_lines(psprintf("line must be a string or a number, not %s", jtype(f)), pos);
		if (l->key[0] == '\0')
			bad_lines("line must not be empty", pos);
		check_key(l->key, "line");
		for (int j = 0; j < i - 1; j++)
			if (strcmp(out[j].key, l->key) == 0)
				bad_lines("appears twice in the receipt", l->key);
		/* category */
		f = field(&v, "category");
		if (with_category && f != NULL && f->type != jbvNull)
		{
			if (f->type != jbvString)
				bad_lines(psprintf("category must be a string, not %s", jtype(f)), l->key);
			if (f->val.string.len > 0)
				l->category = pnstrdup(f->val.string.val, f->val.string.len);
			if (l->category != NULL)
				check_key(l->category, "category");
		}
		/* amount */
		f = field(&v, "amount");
		if (f == NULL || f->type == jbvNull)
			bad_lines("amount is missing", l->key);
		if (f->type != jbvNumeric)
			bad_lines(psprintf("amount must be a number, not %s", jtype(f)), l->key);
		l->amount = f->val.numeric;
		if (num_sign(l->amount) <= 0)
			bad_lines(psprintf("amount must be positive, not %s", num_to_cstring(l->amount)), l->key);
	}
	*n = i;
	return out;
}

char *
receipt_canonical(const ReceiptLine *l, int n)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < n; i++)
	{
		Datum		trimmed = DirectFunctionCall1(numeric_trim_scale, NumericGetDatum(l[i].amount));

		if (i > 0)
			appendStringInfoChar(&s, '\x1e');
		appendStringInfo(&s, "%s\x1f%s\x1f%s", l[i].key, l[i].category ? l[i].category : "",
						 DatumGetCString(DirectFunctionCall1(numeric_out, trimmed)));
	}
	return s.data;
}

void
receipt_json(StringInfo s, const ReceiptLine *l, int n, const Numeric *k)
{
	appendStringInfoString(s, ", \"lines\": [");
	for (int i = 0; i < n; i++)
	{
		appendStringInfoString(s, i > 0 ? ", {\"line\": " : "{\"line\": ");
		escape_json(s, l[i].key);
		if (l[i].category != NULL)
		{
			appendStringInfoString(s, ", \"category\": ");
			escape_json(s, l[i].category);
		}
		appendStringInfo(s, ", \"amount\": %s", num_to_cstring(l[i].amount));
		if (k != NULL)
			appendStringInfo(s, ", \"k\": %s", num_to_cstring(k[i]));
		appendStringInfoChar(s, '}');
	}
	appendStringInfoChar(s, ']');
}
