/*
 * config.c — per-backend cache of program, tier and rule configuration.
 *
 * Caching rules:
 *  - A program is loaded on first use by code, with its tiers and rules
 *    parsed into structs (rule_parse), into ConfigCacheContext, a child of
 *    CacheMemoryContext.
 *  - Any write to loyalty.program / tier / rule / merchant / merchant_grant fires the
 *    statement trigger loyalty._config_changed(), which registers a relcache
 *    invalidation of loyalty.program.  PostgreSQL delivers it to every
 *    backend (this one at the next command, others at their next
 *    transaction or lock); our relcache callback then marks the whole cache
 *    stale and the next program_get() rebuilds it.  An aborted change is
 *    undone the same way.
 *  - A Program pointer stays valid until the end of the transaction that
 *    got it, even when the cache is rebuilt meanwhile (cache_reset).
 *  - Nothing here takes locks beyond the catalog reads of SPI.
 */
#include "config.h"
#include "config_words.h"
#include "args.h"
#include "config_parse.h"
#include "statements.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define CODE_KEYLEN 256

typedef struct CacheEntry
{
	char		key[CODE_KEYLEN];
	Program    *program;
} CacheEntry;

static MemoryContext ConfigCacheContext = NULL;
static HTAB *ConfigCache = NULL;
static bool cache_valid = false;
static Oid	program_relid = InvalidOid;
static bool callback_registered = false;

static uint64 config_generation = 1;
static void cache_reset(void);

static void
config_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == program_relid)
	{
		cache_valid = false;
		config_generation++;
	}
}

void
config_invalidate_all(void)
{
	cache_valid = false;
	config_generation++;
}

/* Changes whenever the configuration (programs, tiers, rules, tracked tables) may have. */
uint64
config_current_generation(void)
{
	AcceptInvalidationMessages();
	if (!callback_registered)
		cache_reset();
	return config_generation;
}

Oid
loyalty_program_relid(void)
{
	Oid			nsp = get_namespace_oid("loyalty", true);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return get_relname_relid("program", nsp);
}

static void
cache_reset(void)
{
	HASHCTL		ctl;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(config_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	/*
	 * An invalidation can arrive in the middle of an operation (at any lock
	 * acquisition), while that operation still uses a Program of the old
	 * cache.  So the old cache is not freed here but handed to the current
	 * transaction, which frees it when it ends.
	 */
	if (ConfigCacheContext != NULL)
	{
		if (IsTransactionState())
			MemoryContextSetParent(ConfigCacheContext, TopTransactionContext);
		else
			MemoryContextDelete(ConfigCacheContext);
	}
	ConfigCacheContext = AllocSetContextCreate(CacheMemoryContext,
											   "loyalty config cache",
											   ALLOCSET_SMALL_SIZES);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = CODE_KEYLEN;
	ctl.entrysize = sizeof(CacheEntry);
	ctl.hcxt = ConfigCacheContext;
	ConfigCache = hash_create("loyalty programs", 16, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	program_relid = loyalty_program_relid();
	cache_valid = true;
}

static Numeric
copy_num(HeapTuple tup, TupleDesc td, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, td, col, isnull);

	return *isnull ? NULL : DatumGetNumericCopy(d);
}

static Numeric
req_num(HeapTuple tup, TupleDesc td, int col)
{
	bool		isnull;

	return copy_num(tup, td, col, &isnull);
}

/* Build a Program from the row of loyalty.program; runs inside SPI. */
static Program *
load_program(HeapTuple tup, TupleDesc td, MemoryContext old_cxt)
{
	Program    *p = palloc0(sizeof(Program));
	bool		isnull;
	Datum		d;
	Datum		args[1];

	p->id = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
	p->code = SPI_getvalue(tup, td, 2);
	p->points_per_unit = req_num(tup, td, 3);
	p->unit = req_num(tup, td, 4);
	p->rounding = WORD(SPI_getvalue(tup, td, 5), rounding_words);
	p->stacking = WORD(SPI_getvalue(tup, td, 6), stacking_words);
	p->max_multiplier = copy_num(tup, td, 7, &isnull);
	p->points_per_value = req_num(tup, td, 8);
	p->expiry = WORD(SPI_getvalue(tup, td, 9), expiry_words);
	d = SPI_getbinval(tup, td, 10, &isnull);
	p->has_expiry_after = !isnull;
	if (!isnull)
		p->expiry_after = *DatumGetIntervalP(d);
	else
		memset(&p->expiry_after, 0, sizeof(Interval));	/* end_of_period: the same period */
	p->expiry_period = WORD(SPI_getvalue(tup, td, 11), period_words);
	d = SPI_getbinval(tup, td, 12, &isnull);
	p->pending_for = *DatumGetIntervalP(d);
	p->has_pending = p->pending_for.month != 0 || p->pending_for.day != 0 || p->pending_for.time != 0;
	p->tier_basis = WORD(SPI_getvalue(tup, td, 13), basis_words);
	p->tier_window = WORD(SPI_getvalue(tup, td, 14), window_words);
	p->downgrade = WORD(SPI_getvalue(tup, td, 15), downgrade_words);
	p->timezone = SPI_getvalue(tup, td, 16);
	p->tz = pg_tzset(p->timezone);
	if (p->tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("program \"%s\" has an unknown timezone \"%s\"", p->code, p->timezone)));

	/* tiers, ascending */
	args[0] = Int32GetDatum(p->id);
	MemoryContextSwitchTo(old_cxt);
	stmt_exec(ST_CONFIG_TIERS, args, NULL, false, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(ConfigCacheContext);
	p->ntiers = (int) SPI_processed;
	p->tiers = palloc0(sizeof(Tier) * Max(p->ntiers, 1));
	for (int i = 0; i < p->ntiers; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	ttd = SPI_tuptable->tupdesc;
		Tier	   *tier = &p->tiers[i];

		tier->code = SPI_getvalue(t, ttd, 1);
		tier->threshold = req_num(t, ttd, 2);
		tier->earn_multiplier = req_num(t, ttd, 3);
		tier->points_per_value = copy_num(t, ttd, 4, &isnull);
		if (tier->points_per_value == NULL)
			tier->points_per_value = p->points_per_value;
	}

	/* alliance merchants, by code (before the rules, whose conditions name them) */
	MemoryContextSwitchTo(old_cxt);
	stmt_exec(ST_CONFIG_MERCHANTS, args, NULL, false, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(ConfigCacheContext);
	p->nmerchants = (int) SPI_processed;
	p->merchants = palloc0(sizeof(char *) * Max(p->nmerchants, 1));
	for (int i = 0; i < p->nmerchants; i++)
		p->merchants[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

	/* rules, in creation order */
	MemoryContextSwitchTo(old_cxt);
	stmt_exec(ST_CONFIG_RULES, args, NULL, false, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(ConfigCacheContext);
	p->nrules = (int) SPI_processed;
	p->rules = palloc0(sizeof(Rule) * Max(p->nrules, 1));
	for (int i = 0; i < p->nrules; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	ttd = SPI_tuptable->tupdesc;
		Rule	   *r = &p->rules[i];
		Jsonb	   *params = DatumGetJsonbP(SPI_getbinval(t, ttd, 3, &isnull));

		/* tiers are not re-checked here: a dropped tier just never matches */
		rule_parse(NULL, SPI_getvalue(t, ttd, 1), SPI_getvalue(t, ttd, 2), params, r);
		d = SPI_getbinval(t, ttd, 4, &isnull);
		r->has_from = !isnull;
		if (!isnull)
			r->valid_from = DatumGetTimestampTz(d);
		d = SPI_getbinval(t, ttd, 5, &isnull);
		r->has_until = !isnull;
		if (!isnull)
			r->valid_until = DatumGetTimestampTz(d);
		r->active = DatumGetBool(SPI_getbinval(t, ttd, 6, &isnull));
		if (r->min_orders > 0)
			p->any_min_orders = true;
		if (r->kind == RULE_REFERRAL)
			p->any_referral = true;
	}
	return p;
}

/*
 * The program by code, from the cache or loaded now.  Must be called while
 * connected to SPI.  Unknown program: LY002.
 */
Program *
program_get(const char *code)
{
	CacheEntry *e;
	bool		found;
	Datum		args[1];
	MemoryContext old;
	Program    *p;

	/*
	 * Inside a long transaction a backend reads invalidations only when it
	 * takes a new lock; read them now so that a change committed by another
	 * session applies to this very operation (READ COMMITTED semantics).
	 */
	AcceptInvalidationMessages();
	if (!cache_valid || ConfigCache == NULL)
		cache_reset();
	if (strlen(code) < CODE_KEYLEN)
	{
		e = hash_search(ConfigCache, code, HASH_FIND, NULL);
		if (e != NULL)
			return e->program;
	}

	args[0] = CStringGetTextDatum(code);
	stmt_exec(ST_CONFIG_PROGRAM, args, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_PROGRAM),
				 errmsg("unknown program \"%s\"", cut(code)),
				 errhint("Create it with loyalty.create_program().")));

	old = MemoryContextSwitchTo(ConfigCacheContext);
	{
		SPITupleTable *tt = SPI_tuptable;

		p = load_program(tt->vals[0], tt->tupdesc, old);
	}
	MemoryContextSwitchTo(old);

	if (cache_valid && strlen(code) < CODE_KEYLEN)
	{
		e = hash_search(ConfigCache, code, HASH_ENTER, &found);
		e->program = p;
	}
	return p;
}

Program *
program_get_by_id(int32 id)
{
	Datum		args[1];
	char	   *code;

	args[0] = Int32GetDatum(id);
	stmt_exec(ST_CONFIG_PROGRAM_CODE, args, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_NO_PROGRAM),
				 errmsg("unknown program id %d", id)));
	code = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return program_get(code);
}
