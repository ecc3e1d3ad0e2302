/*
 * ops_offers.c — grant_offer: an offer rule granted to one member (a
 * birthday double-points coupon, a Spring Festival doubling card; SPEC §8).
 *
 * Arguments checked -> the rule must be an offer (LY007) -> the member
 * locked, enrolled when unknown -> idempotency by ref (the member's grants:
 * same arguments, nothing; other arguments, LY005) -> one grant row.
 * campaigns.c uses the grants when the member earns.
 */
#include "enroll.h"
#include "args.h"
#include "campaigns.h"
#include "timeutil.h"

#include "access/xact.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(loyalty_grant_offer);

Datum
loyalty_grant_offer(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	OfferGrant	g = {0};
	Program    *p;
	Account		a;

	g.rule = arg_text(fcinfo, 2, "rule");
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("uses must not be NULL")));
	g.uses = PG_GETARG_INT32(3);
	if (g.uses < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("uses must be at least 1, not %d", g.uses)));
	g.has_from = !PG_ARGISNULL(4);
	if (g.has_from)
	{
		g.valid_from = PG_GETARG_TIMESTAMPTZ(4);
		check_at(g.valid_from, "valid_from");
	}
	g.has_until = !PG_ARGISNULL(5);
	if (g.has_until)
	{
		g.valid_until = PG_GETARG_TIMESTAMPTZ(5);
		check_at(g.valid_until, "valid_until");
	}
	if (g.has_from && g.has_until && g.valid_until <= g.valid_from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_until %s is not after valid_from %s",
						pstrdup(timestamptz_to_str(g.valid_until)),
						pstrdup(timestamptz_to_str(g.valid_from))),
				 errdetail("A grant is usable on [valid_from, valid_until).")));
	g.ref = arg_text_opt(fcinfo, 6);
	if (g.ref != NULL)
	{
		if (g.ref[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ref must not be empty"),
					 errhint("Pass NULL for a grant without a ref.")));
		check_key(g.ref, "ref");
	}
	g.at = GetCurrentTransactionStartTimestamp();

	p = op_begin(prog);
	offer_rule_check(p, g.rule);
	member_get_or_enroll(p, member, g.at, &a, NULL);
	offer_grant(p, member, &g);
	op_end(0);
	PG_RETURN_VOID();
}
