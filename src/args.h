/*
 * args.h — argument checks of the SQL-callable functions (NULLs, keys,
 * amounts, instants) and cut() for long values in messages.
 */
#ifndef LOYALTY_ARGS_H
#define LOYALTY_ARGS_H

#include "loyalty.h"

extern char *arg_text(FunctionCallInfo fcinfo, int n, const char *name);
extern char *arg_text_opt(FunctionCallInfo fcinfo, int n);
extern char *arg_key(FunctionCallInfo fcinfo, int n, const char *name);
extern void check_key(const char *s, const char *name);
extern const char *cut(const char *s);
extern Numeric arg_amount(FunctionCallInfo fcinfo, int n, const char *name);
extern int64 arg_points(FunctionCallInfo fcinfo, int n, const char *name);
extern TimestampTz arg_at(FunctionCallInfo fcinfo, int n);
extern void check_window(FunctionCallInfo fcinfo, int from_arg, const char *what, const char *code);

/*
 * The arguments every operation on a member has: program (argument 0), the
 * member (1), its idempotency ref and business time at (ref_arg, ref_arg + 1).
 */
typedef struct OpArgs
{
	char	   *prog;
	char	   *member;
	char	   *ref;
	TimestampTz at;
} OpArgs;

extern OpArgs op_args(FunctionCallInfo fcinfo, const char *member_name, int ref_arg);

#endif
