/*
 * merchants.c — alliance merchants (SPEC §9): the merchant argument of the
 * operations and the roles of merchants.
 *
 *  - Merchants are configuration (loyalty.merchant, add_merchant in
 *    config_api.c), cached with their program (config.c): checking the
 *    merchant argument of an operation reads no table.
 *  - grant_merchant(role, program, merchant) writes one row per role of
 *    loyalty.merchant_grant (granting again replaces it).  The statement
 *    trigger of configuration tables fires on it too, so the grant of the
 *    calling role is cached per backend by configuration generation and
 *    role (and dropped when role memberships change), and an operation
 *    reads no table for it either.  A role is restricted by its own grant,
 *    else by that of a merchant role it is a member of.
 *  - The calling role is the outer user (GetOuterUserId: SET ROLE and SET
 *    SESSION AUTHORIZATION change it, SECURITY DEFINER does not): the
 *    operations run as the extension's owner, the role is who called them.
 *  - The views filter rows for merchant roles in their public form (SQL,
 *    sql/loyalty.sql "Alliances"), by current_user against the same table.
 */
#include "merchants.h"
#include "args.h"
#include "config.h"
#include "config_words.h"
#include "statements.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(loyalty_grant_merchant);
PG_FUNCTION_INFO_V1(loyalty_merchant_visible);

/*
 * The calling role's grant, cached by configuration generation and role
 * (and dropped when role memberships change).  A role is restricted by its
 * own grant, else by the grant of the merchant role it is a member of (a
 * login user in the cinema's role is the cinema's); a member of several
 * merchant roles with different grants is ambiguous and may do nothing.  A
 * superuser is never restricted.
 */
typedef struct RoleGrant
{
	bool		valid;
	uint64		generation;
	Oid			role;
	bool		is_merchant;
	bool		ambiguous;		/* a member of several merchants' roles */
	int32		program_id;
	char	   *merchant;		/* in TopMemoryContext */
	char	   *program;		/* the program's code, in TopMemoryContext */
} RoleGrant;

static RoleGrant cached;
static bool callback_registered = false;

static void
memberships_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	cached.valid = false;
}

/* Whether the cached grant is the calling role's, as of the configuration now. */
static bool
cache_current(void)
{
	return cached.valid && cached.generation == config_current_generation() &&
		cached.role == GetOuterUserId();
}

static void
grant_take(HeapTuple t, TupleDesc td)
{
	bool		isnull;

	cached.is_merchant = true;
	cached.program_id = DatumGetInt32(SPI_getbinval(t, td, 2, &isnull));
	cached.merchant = MemoryContextStrdup(TopMemoryContext, SPI_getvalue(t, td, 3));
	cached.program = MemoryContextStrdup(TopMemoryContext, SPI_getvalue(t, td, 4));
}

/* The calling role's grant (is_merchant false: not restricted); connected to SPI. */
static const RoleGrant *
role_grant(void)
{
	uint64		gen = config_current_generation();
	Oid			role = GetOuterUserId();
	bool		super;
	int			own = -1,
				via = -1;

	if (cache_current())
		return &cached;
	super = superuser_arg(role);
	if (!callback_registered)
	{
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, memberships_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, memberships_changed, (Datum) 0);
		callback_registered = true;
	}
	if (cached.merchant != NULL)
		pfree(cached.merchant);
	if (cached.program != NULL)
		pfree(cached.program);
	memset(&cached, 0, sizeof(cached));
	/* every grant (one row per merchant role: a small table); its own wins */
	stmt_exec(ST_MERCHANT_GRANTS, NULL, NULL, false, 0, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed && !super; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		Oid			granted = get_role_oid(SPI_getvalue(t, SPI_tuptable->tupdesc, 1), true);

		if (granted == role)
			own = (int) i;
		else if (OidIsValid(granted) && is_member_of_role(role, granted))
		{
			HeapTuple	v = via >= 0 ? SPI_tuptable->vals[via] : NULL;

			if (v != NULL &&
				(strcmp(SPI_getvalue(v, SPI_tuptable->tupdesc, 2), SPI_getvalue(t, SPI_tuptable->tupdesc, 2)) != 0 ||
				 strcmp(SPI_getvalue(v, SPI_tuptable->tupdesc, 3), SPI_getvalue(t, SPI_tuptable->tupdesc, 3)) != 0))
				cached.ambiguous = true;
			via = (int) i;
		}
	}
	if (own >= 0 || via >= 0)
	{
		grant_take(SPI_tuptable->vals[own >= 0 ? own : via], SPI_tuptable->tupdesc);
		if (own >= 0)
			cached.ambiguous = false;
	}
	cached.generation = gen;
	cached.role = role;
	cached.valid = true;
	return &cached;
}

/* 42501 for a member of several merchants' roles: which merchant it acts for is unknown. */
static void
not_ambiguous(const RoleGrant *g)
{
	if (g->ambiguous)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is a member of the roles of several merchants",
						cut(GetUserNameFromId(g->role, false))),
				 errhint("Give each merchant's users the role of one merchant only, or grant_merchant() the role itself.")));
}

static void
not_its_program(Program *p, const RoleGrant *g)
{
	not_ambiguous(g);
	if (g->program_id != p->id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not run operations of program \"%s\"",
						cut(GetUserNameFromId(g->role, false)), cut(p->code)),
				 errdetail("It is the role of merchant \"%s\" of another program.", cut(g->merchant))));
}

static void
not_its_merchant(Program *p, const RoleGrant *g, const char *merchant, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not %s for %s%s%s in program \"%s\"",
					cut(GetUserNameFromId(g->role, false)), what,
					merchant ? "merchant \"" : "the program itself",
					merchant ? cut(merchant) : "", merchant ? "\"" : "", cut(p->code)),
			 errdetail("It is the role of merchant \"%s\": it runs operations with that merchant only.",
					   cut(g->merchant))));
}

const char *
merchant_resolve(Program *p, const char *given)
{
	const RoleGrant *g = role_grant();

	if (g->is_merchant)
	{
		not_its_program(p, g);
		if (given == NULL)
			given = pstrdup(g->merchant);
		else if (strcmp(given, g->merchant) != 0)
			not_its_merchant(p, g, given, "run operations");
	}
	if (given != NULL && merchant_index(p, given) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_UNKNOWN),
				 errmsg("unknown merchant \"%s\" in program \"%s\"", cut(given), cut(p->code)),
				 errhint("Add it with loyalty.add_merchant(); merchant => NULL is the program itself.")));
	return given;
}

void
merchant_role_only(Program *p, const char *merchant, const char *what)
{
	const RoleGrant *g = role_grant();

	if (!g->is_merchant)
		return;
	not_its_program(p, g);
	if (merchant == NULL || strcmp(merchant, g->merchant) != 0)
		not_its_merchant(p, g, merchant, what);
}

void
merchant_role_program(Program *p)
{
	const RoleGrant *g = role_grant();

	if (g->is_merchant)
		not_its_program(p, g);
}

/*
 * grant_merchant(role, program, merchant): the role (a member of
 * loyalty_writer, not of loyalty_admin, not a superuser) runs operations of
 * that program with that merchant only and reads only that merchant's rows.
 * One program and merchant per role: granting again replaces the grant.
 */
Datum
loyalty_grant_merchant(PG_FUNCTION_ARGS)
{
	char	   *role;
	char	   *prog = arg_text(fcinfo, 1, "program");
	char	   *merchant = arg_key(fcinfo, 2, "merchant");
	Oid			roleid;
	Program    *p;
	Datum		args[3];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("role must not be NULL")));
	role = NameStr(*PG_GETARG_NAME(0));
	roleid = get_role_oid(role, true);
	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("role \"%s\" does not exist", cut(role))));
	if (!is_member_of_role(roleid, get_role_oid("loyalty_writer", false)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("role \"%s\" is not a member of loyalty_writer", cut(role)),
				 errhint("GRANT loyalty_writer TO %s first.", quote_identifier(role))));
	if (superuser_arg(roleid) || is_member_of_role(roleid, get_role_oid("loyalty_admin", false)) ||
		strcmp(role, "loyalty_writer") == 0 || strcmp(role, "loyalty_reader") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("role \"%s\" is a superuser, loyalty_writer or a member of loyalty_admin", cut(role)),
				 errdetail("A merchant's role must not be able to change configuration or grants.")));
	ly_spi_connect();
	p = program_get(prog);
	if (merchant_index(p, merchant) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_UNKNOWN),
				 errmsg("unknown merchant \"%s\" in program \"%s\"", cut(merchant), cut(p->code)),
				 errhint("Add it with loyalty.add_merchant() first.")));
	args[0] = CStringGetTextDatum(role);
	args[1] = Int32GetDatum(p->id);
	args[2] = CStringGetTextDatum(merchant);
	stmt_exec(ST_MERCHANT_GRANT, args, NULL, false, 0, SPI_OK_INSERT);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * _merchant_visible(program, merchant): whether the calling role sees a row
 * of that program and merchant in the public views: any row, unless it is a
 * merchant role; then only its program's rows of its merchant.  Reads the
 * grant once per backend and configuration generation.
 */
Datum
loyalty_merchant_visible(PG_FUNCTION_ARGS)
{
	if (!cache_current())
	{
		ly_spi_connect();
		role_grant();
		SPI_finish();
	}
	if (!cached.is_merchant)
		PG_RETURN_BOOL(true);
	if (cached.ambiguous || PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(strcmp(text_to_cstring(PG_GETARG_TEXT_PP(0)), cached.program) == 0 &&
				   strcmp(text_to_cstring(PG_GETARG_TEXT_PP(1)), cached.merchant) == 0);
}
