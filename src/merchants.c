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
 *    role, and an operation reads no table for it either.
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
#include "utils/memutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(loyalty_grant_merchant);
PG_FUNCTION_INFO_V1(loyalty_merchant_visible);

/* The calling role's grant, cached by configuration generation and role. */
typedef struct RoleGrant
{
	bool		valid;
	uint64		generation;
	Oid			role;
	bool		is_merchant;
	int32		program_id;
	char	   *merchant;		/* in TopMemoryContext */
	char	   *program;		/* the program's code, in TopMemoryContext */
} RoleGrant;

static RoleGrant cached;

/* Whether the cached grant is the calling role's, as of the configuration now. */
static bool
cache_current(void)
{
	return cached.valid && cached.generation == config_current_generation() &&
		cached.role == GetOuterUserId();
}

/* The calling role's grant (is_merchant false: not a merchant role); connected to SPI. */
static const RoleGrant *
role_grant(void)
{
	uint64		gen = config_current_generation();
	Oid			role = GetOuterUserId();
	Datum		args[1];

	if (cache_current())
		return &cached;
	if (cached.merchant != NULL)
		pfree(cached.merchant);
	if (cached.program != NULL)
		pfree(cached.program);
	memset(&cached, 0, sizeof(cached));
	args[0] = CStringGetTextDatum(GetUserNameFromId(role, false));
	stmt_exec(ST_MERCHANT_ROLE, args, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		bool		isnull;
		char	   *m = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		cached.is_merchant = true;
		cached.program_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull));
		cached.merchant = MemoryContextStrdup(TopMemoryContext, m);
		cached.program = MemoryContextStrdup(TopMemoryContext,
											 SPI_getvalue(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 3));
	}
	cached.generation = gen;
	cached.role = role;
	cached.valid = true;
	return &cached;
}

static void
not_its_program(Program *p, const RoleGrant *g)
{
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
	if (superuser_arg(roleid) || is_member_of_role(roleid, get_role_oid("loyalty_admin", false)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("role \"%s\" is a superuser or a member of loyalty_admin", cut(role)),
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
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(strcmp(text_to_cstring(PG_GETARG_TEXT_PP(0)), cached.program) == 0 &&
				   strcmp(text_to_cstring(PG_GETARG_TEXT_PP(1)), cached.merchant) == 0);
}
