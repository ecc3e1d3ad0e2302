/*
 * config_parse.h — checking a rule's kind and params into a Rule (LY007
 * naming the bad value).
 */
#ifndef LOYALTY_CONFIG_PARSE_H
#define LOYALTY_CONFIG_PARSE_H

#include "loyalty.h"

extern void rule_parse(Program *p, const char *code, const char *kind,
					   Jsonb *params, Rule *out);
extern RuleKind rule_kind_from_text(const char *kind);

#endif
