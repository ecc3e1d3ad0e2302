/*
 * codes.c — single-use codes: add_codes, redeem_code (SPEC §8; README
 * "Single-use codes"; the table and its design in sql/loyalty.sql).
 *
 * A code credits its points once in the whole program, to the first member
 * who redeems it.  Codes are not member-scoped: loyalty.code is keyed by
 * (program_id, code) only (on Citus distributed by code), and every
 * statement on it names one code or one call's array of codes.
 *
 * add_codes checks every code of the array (NULL, empty, over 200
 * characters: 22023), then loads them with one INSERT ... SELECT over the
 * array (ON CONFLICT DO NOTHING), in a subtransaction: when a code exists
 * already, or is given twice, fewer rows than codes are inserted; the
 * subtransaction is rolled back and two look-ups name the code (LY007).
 * All or nothing, and the load costs one index insertion per code.
 *
 * redeem_code, in this order:
 *   1. the code, read without a lock (ST_CODE_PEEK): unknown or expired,
 *      LY009; used by another member, LY008.  These answers are final (a
 *      code is never removed, its validity never changes, it is used once),
 *      so a failing call fails here: it neither enrols nor locks the member;
 *   2. the member, locked (enrolled first when unknown, as earn and
 *      record_event do);
 *   3. the code, locked (ST_CODE_LOCK: one statement, one code, FOR
 *      UPDATE) and decided again: a concurrent first use by another member
 *      committed meanwhile is LY008; used by this member: the first answer
 *      (the ledger row of its ref), nothing written;
 *   4. the member's ref 'code:<code>' must be free (LY005); the code marked
 *      used, then the credit (credit_write): kind 'event', the batch as its
 *      event — it counts for tiers, pushes rolling expiry, repays debt
 *      first, and is pending for pending_for like any earning.
 * Lock order: the member, then one code, as every operation locks its
 * member first.  A code is locked only by redeem_code, and only after its
 * member, and whoever holds a code waits for nothing more, so no cycle
 * closes with the other operations (docs/architecture.md, "Lock order").
 */
#include "enroll.h"
#include "args.h"
#include "merchants.h"
#include "statements.h"
#include "timeutil.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(loyalty_add_codes);
PG_FUNCTION_INFO_V1(loyalty_redeem_code);

/*
 * The codes of the array argument n, each checked as a key (not NULL, not
 * empty, at most 200 characters: 22023 naming its position).
 */
static ArrayType *
arg_codes(FunctionCallInfo fcinfo, int n, int *count)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			lb;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("codes must not be NULL")));
	arr = PG_GETARG_ARRAYTYPE_P(n);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("codes must be a one-dimensional array, not %d-dimensional", ARR_NDIM(arr))));
	if (ARR_NDIM(arr) == 0 || ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("codes must not be empty"),
				 errhint("Pass the batch's codes as a text array, e.g. ARRAY['A1', 'A2'].")));
	lb = ARR_LBOUND(arr)[0];
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, count);
	for (int i = 0; i < *count; i++)
	{
		text	   *t;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("codes[%d] must not be NULL", lb + i)));
		t = DatumGetTextPP(elems[i]);
		if (VARSIZE_ANY_EXHDR(t) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("codes[%d] must not be empty", lb + i)));
		if (VARSIZE_ANY_EXHDR(t) > 200)		/* bytes: characters only then */
			check_key(text_to_cstring(t), "code");
	}
	pfree(elems);
	pfree(nulls);
	return arr;
}

/*
 * Insert the n codes, all or none.  false when the primary key refused one
 * (a code that exists or is given twice: ON CONFLICT DO NOTHING skips it,
 * so fewer rows than codes were inserted): the subtransaction is rolled
 * back, so nothing of this call is left and the look-ups see only what was
 * there.  The rows RETURNING gives back decide (counted, not kept): not the
 * error code of a unique violation, which Citus does not pass on from its
 * workers, nor the processed count, which Citus gives as the rows selected.
 */
static bool
codes_insert(Datum *args, const char *nulls, int n)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		done;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	done = stmt_exec_counted(ST_CODES_ADD, args, nulls, SPI_OK_INSERT_RETURNING) == (uint64) n;
	if (done)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return done;
}

/* LY007 naming a code of the array that exists, else one given twice. */
static void
codes_refused(Program *p, Datum codes, int n)
{
	Datum		args[2] = {Int32GetDatum(p->id), codes};
	bool		isnull;
	int64		existing;

	stmt_exec(ST_CODES_EXISTING, args, NULL, false, 1, SPI_OK_SELECT);
	existing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (existing > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("code \"%s\" exists already in program \"%s\"",
						cut(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)), cut(p->code)),
				 errdetail(INT64_FORMAT " of the %d codes given exist already; no code was added.",
						   existing, n),
				 errhint("A code is single-use in the whole program: leave out the codes that exist.")));
	stmt_exec(ST_CODES_GIVEN_TWICE, &codes, NULL, true, 1, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CONFIG),
				 errmsg("code \"%s\" is given more than once",
						cut(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))),
				 errdetail("No code was added.")));
	/* added meanwhile by a session this snapshot does not see (REPEATABLE READ) */
	ereport(ERROR,
			(errcode(ERRCODE_LY_CONFIG),
			 errmsg("codes of program \"%s\" were added by another session meanwhile",
					cut(p->code)),
			 errdetail("No code was added."),
			 errhint("Leave out the codes that exist: a new transaction sees them.")));
}

/*
 * add_codes(program, batch, codes, points, valid_until) → the number of
 * codes added (all of them, or an error and none).
 */
Datum
loyalty_add_codes(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *batch = arg_key(fcinfo, 1, "batch");
	int			n;
	ArrayType  *codes = arg_codes(fcinfo, 2, &n);
	int64		points = arg_points(fcinfo, 3, "points");
	Program    *p;
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	if (PG_ARGISNULL(4))
		nulls[4] = 'n';
	else
		check_at(PG_GETARG_TIMESTAMPTZ(4), "valid_until");

	p = op_begin(prog);
	args[0] = Int32GetDatum(p->id);
	args[1] = PointerGetDatum(codes);
	args[2] = CStringGetTextDatum(batch);
	args[3] = Int64GetDatum(points);
	args[4] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	if (!codes_insert(args, nulls, n))
		codes_refused(p, args[1], n);
	op_end(0);
	PG_RETURN_INT32(n);
}

/* A code's row. */
typedef struct CodeRow
{
	char	   *batch;
	int64		points;
	bool		has_valid_until;
	TimestampTz valid_until;
	char	   *used_by;		/* NULL: not used yet */
} CodeRow;

/*
 * Read the code (ST_CODE_PEEK, or ST_CODE_LOCK: locked) and decide: LY009
 * when unknown or expired, LY008 when another member used it.  Returns
 * whether this member used it (a retry).  Every one of these answers is
 * final once true: a code is never removed, its validity never changes, and
 * it is used only once.
 */
static bool
code_check(Stmt s, Program *p, const char *code, const char *member, TimestampTz at,
		   CodeRow *k)
{
	Datum		args[2] = {Int32GetDatum(p->id), CStringGetTextDatum(code)};
	HeapTuple	t;
	TupleDesc	td;
	bool		isnull;

	stmt_exec(s, args, NULL, false, 0, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LY_UNKNOWN_ITEM),
				 errmsg("unknown code \"%s\" in program \"%s\"", cut(code), cut(p->code))));
	t = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	k->batch = SPI_getvalue(t, td, 1);
	k->points = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
	k->has_valid_until = stmt_get_ts(t, td, 3, &k->valid_until);
	k->used_by = SPI_getvalue(t, td, 4);
	if (k->used_by != NULL && strcmp(k->used_by, member) == 0)
		return true;
	if (k->used_by != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LY_CODE_USED),
				 errmsg("code \"%s\" of program \"%s\" was already used by another member",
						cut(code), cut(p->code)),
				 errdetail("A single-use code credits its points once, to the first member who uses it.")));
	if (k->has_valid_until && at >= k->valid_until)
		ereport(ERROR,
				(errcode(ERRCODE_LY_UNKNOWN_ITEM),
				 errmsg("code \"%s\" of program \"%s\" expired at %s", cut(code), cut(p->code),
						timestamptz_to_str(k->valid_until)),
				 errdetail("The code was valid until %s; the redemption is at %s.",
						   pstrdup(timestamptz_to_str(k->valid_until)), pstrdup(timestamptz_to_str(at)))));
	return false;
}

/*
 * redeem_code(program, member, code, at) → the points credited (a retry by
 * the same member: the first call's answer).
 */
Datum
loyalty_redeem_code(PG_FUNCTION_ARGS)
{
	char	   *prog = arg_text(fcinfo, 0, "program");
	char	   *member = arg_key(fcinfo, 1, "member");
	char	   *code = arg_key(fcinfo, 2, "code");
	TimestampTz at = arg_at(fcinfo, 3);
	char	   *ref = psprintf("code:%s", code);
	Program    *p;
	CodeRow		k;
	Account		a;
	PriorOp		call = {.kind = "event"},
				prior;
	Credit		c;
	Datum		args[4];

	p = op_begin(prog);
	merchant_role_only(p, NULL, "redeem codes");	/* a code's points are the program's */
	/* a failing call fails here, before it enrols or locks the member */
	code_check(ST_CODE_PEEK, p, code, member, at, &k);
	member_get_or_enroll(p, member, at, &a, NULL);
	if (code_check(ST_CODE_LOCK, p, code, member, at, &k))
	{
		/* a retry: the first call's answer, nothing written */
		call.event = k.batch;
		if (op_replayed(p, member, ref, &call, SAME_EVENT, "redeem_code", &prior))
			PG_RETURN_INT64(op_end(prior.result));
		elog(ERROR, "loyalty: code \"%s\" was used by member \"%s\" but its ledger row is missing",
			 cut(code), cut(member));
	}
	/* the ref is this code's: used by anything else, LY005 */
	op_replayed(p, member, ref, NULL, 0, "redeem_code", &prior);

	args[0] = Int32GetDatum(p->id);
	args[1] = CStringGetTextDatum(code);
	args[2] = CStringGetTextDatum(member);
	args[3] = TimestampTzGetDatum(at);
	stmt_exec(ST_CODE_USE, args, NULL, false, 0, SPI_OK_UPDATE);

	c = (Credit) {.kind = "event", .event = k.batch, .points = k.points, .result = k.points,
				  .at = at, .ref = ref, .qualifies = true, .is_earning = true};
	credit_write(p, &a, &c);
	PG_RETURN_INT64(op_end(k.points));
}
