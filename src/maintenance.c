/*
 * maintenance.c — the scheduled work: expire_points, evaluate_tiers,
 * run_maintenance, schedule_maintenance.
 *
 * Shape: each procedure is a loop over batches.  A batch is one call of an
 * internal SECURITY DEFINER function (_expire_batch, _evaluate_batch) that
 * does a whole batch in a few set-based statements; the procedure commits
 * after each batch when it was CALLed at top level (non-atomic context) and
 * otherwise runs every batch in the caller's transaction.  Procedures that
 * COMMIT cannot be SECURITY DEFINER or carry SET clauses, hence the split.
 * Memory is per batch: each batch call runs in its own SPI context.
 *
 * Locking (see account.c): a batch first locks the account rows of all the
 * members it will touch, in ONE statement ordered by (program_id, member),
 * then works on them with a fresh snapshot.  A run at top level never waits
 * for a member lock while holding another: its first pass locks with SKIP
 * LOCKED, so the members busy at that moment (a live operation, a bulk COPY
 * into a tracked table that locks members in the order of its rows) are
 * skipped; a second pass from the start then revisits what is still due one
 * member a batch, waiting for that one member's lock while holding none.  So
 * the run cannot take part in a deadlock, and a live operation waits for at
 * most one batch.  Inside the caller's transaction (atomic) the run is one
 * batch that waits for every lock in member order, as live operations take
 * them.  A committed batch is final; a
 * crash or cancel loses only the current batch, which the rerun redoes —
 * every lot is expired exactly once (its remaining moves to expired under
 * the lock).
 * Rerunning with the same as_of finds nothing left to do.
 */
#include "tiers.h"
#include "args.h"
#include "citus.h"
#include "config.h"
#include "timeutil.h"
#include "statements.h"

#include "arrays.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/event_trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(loyalty_expire_batch);
PG_FUNCTION_INFO_V1(loyalty_evaluate_batch);
PG_FUNCTION_INFO_V1(loyalty_expire_points);
PG_FUNCTION_INFO_V1(loyalty_evaluate_tiers);
PG_FUNCTION_INFO_V1(loyalty_run_maintenance);
PG_FUNCTION_INFO_V1(loyalty_schedule_maintenance);
PG_FUNCTION_INFO_V1(loyalty_unschedule_maintenance);
PG_FUNCTION_INFO_V1(loyalty_on_drop_extension);

/* the lock statements: [0] waits for busy members, [1] skips them */

/*
 * A batch's keyset position: where the previous batch of the same run got
 * to (has = false: from the beginning), so that each batch starts after the
 * previous one instead of rescanning.  The batch functions take it as
 * arguments and return the new one; run_batches() passes it on.
 */
typedef struct ExpirePos
{
	bool		has;
	TimestampTz expires_at;		/* last lot picked (lot ids are per member) */
	int32		program_id;
	char	   *member;
	int64		lot_id;
} ExpirePos;

typedef struct EvaluatePos
{
	bool		has;
	int32		program_id;		/* last member locked */
	char	   *member;
	TimestampTz tier_until;		/* its period end (the second pass's order) */
} EvaluatePos;

/*
 * The position moves to the lot (expires_at, program_id, member, id) in
 * columns col .. col + 3 of the last result; the member is copied into cxt
 * (the batch function's result is formed after SPI_finish).
 */
static void
expire_pos_advance(ExpirePos *pos, int col, MemoryContext cxt)
{
	SPITupleTable *tt = SPI_tuptable;
	bool		isnull;

	pos->has = true;
	pos->expires_at = DatumGetTimestampTz(SPI_getbinval(tt->vals[0], tt->tupdesc, col, &isnull));
	pos->program_id = DatumGetInt32(SPI_getbinval(tt->vals[0], tt->tupdesc, col + 1, &isnull));
	pos->member = MemoryContextStrdup(cxt, SPI_getvalue(tt->vals[0], tt->tupdesc, col + 2));
	pos->lot_id = DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, col + 3, &isnull));
}

/* the same batches member by member, on a Citus cluster (below) */
static Datum expire_by_member(FunctionCallInfo fcinfo, TimestampTz as_of, int32 batch,
							  ExpirePos *pos, bool skip_busy, MemoryContext outer);
static Datum evaluate_by_member(FunctionCallInfo fcinfo, TimestampTz as_of, Datum *args,
								bool skip_busy, bool revisit, EvaluatePos *pos,
								MemoryContext outer);

/* A batch function's result row (after SPI_finish: in the caller's memory). */
static Datum
batch_result(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	TupleDesc	td;

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "loyalty: a batch function must return a record");
	td = BlessTupleDesc(td);
	return HeapTupleGetDatum(heap_form_tuple(td, values, nulls));
}

static Datum
evaluate_result(FunctionCallInfo fcinfo, int32 members, const EvaluatePos *pos)
{
	Datum		v[4] = {Int32GetDatum(members), Int32GetDatum(pos->program_id),
		pos->has ? CStringGetTextDatum(pos->member) : (Datum) 0,
	TimestampTzGetDatum(pos->tier_until)};
	bool		nulls[4] = {false, !pos->has, !pos->has, !pos->has};

	return batch_result(fcinfo, v, nulls);
}

static Datum
expire_result(FunctionCallInfo fcinfo, int64 members, const ExpirePos *pos)
{
	Datum		v[5] = {Int64GetDatum(members), TimestampTzGetDatum(pos->expires_at),
		Int32GetDatum(pos->program_id),
		pos->has ? CStringGetTextDatum(pos->member) : (Datum) 0,
	Int64GetDatum(pos->lot_id)};
	bool		nulls[5] = {false, !pos->has, !pos->has, !pos->has, !pos->has};

	return batch_result(fcinfo, v, nulls);
}

static int32
arg_batch(FunctionCallInfo fcinfo, int n)
{
	int32		b;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must not be NULL")));
	b = PG_GETARG_INT32(n);
	if (b <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be greater than 0, not %d", b)));
	return b;
}

static TimestampTz
proc_as_of(FunctionCallInfo fcinfo)
{
	TimestampTz as_of;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must not be NULL")));
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	check_at(as_of, "as_of");
	return as_of;
}

/*
 * _expire_batch(as_of, batch_size, after_expires, after_program, after_member,
 * after_lot, skip_busy) ->
 * (members locked, the position reached).  Locks the members owning
 * the next batch_size lots that are expired at as_of, then expires every
 * expired lot of those members: one 'expire' ledger row per lot (at the lot's
 * expires_at), remaining moved to the lot's expired column.
 */
Datum
loyalty_expire_batch(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = proc_as_of(fcinfo);
	int32		batch = arg_batch(fcinfo, 1);
	Datum		args[6];
	int			n;
	int32	   *pids;
	char	  **members;
	Datum		cargs[6];
	ExpirePos	pos;
	bool		skip_busy = !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
	MemoryContext outer = CurrentMemoryContext;

	pos.has = !PG_ARGISNULL(2) && !PG_ARGISNULL(3) && !PG_ARGISNULL(4) && !PG_ARGISNULL(5);
	pos.expires_at = pos.has ? PG_GETARG_TIMESTAMPTZ(2) : DT_NOBEGIN;
	pos.program_id = pos.has ? PG_GETARG_INT32(3) : 0;
	pos.member = pos.has ? text_to_cstring(PG_GETARG_TEXT_PP(4)) : "";
	pos.lot_id = pos.has ? PG_GETARG_INT64(5) : 0;
	ly_spi_connect();
	if (citus_cluster())
		return expire_by_member(fcinfo, as_of, batch, &pos, skip_busy, outer);

	/* the next batch_size due lots, in expiry order, after the position */
	/* the last of them: where the next batch starts */
	cargs[0] = TimestampTzGetDatum(as_of);
	cargs[1] = Int32GetDatum(batch);
	cargs[2] = TimestampTzGetDatum(pos.expires_at);
	cargs[3] = Int32GetDatum(pos.program_id);
	cargs[4] = CStringGetTextDatum(pos.member);
	cargs[5] = Int64GetDatum(pos.lot_id);

	/*
	 * Lock the members owning those lots, in member order, in one statement;
	 * every row also carries the last lot picked.  Busy members are skipped
	 * in a run's first pass (their lots stay due for the second one).
	 */
	{
		int			skip = skip_busy ? 1 : 0;

		stmt_exec(skip ? ST_EXPIRE_LOCK_SKIP : ST_EXPIRE_LOCK, cargs, NULL, false, 0, SPI_OK_SELECT);
	}
	n = (int) SPI_processed;

	/*
	 * Nothing locked: either nothing is due after the position (the run is
	 * done), or the lots picked belong to busy members (skipped) or have no
	 * account (rows deleted by hand: verify() reports them).  In the last
	 * two cases step over those lots and say so with -1, so that the run
	 * goes on to the lots after them.
	 */
	if (n == 0)
	{
		int64		r = 0;

		stmt_exec(ST_EXPIRE_LAST_PICKED, cargs, NULL, true, 1, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			expire_pos_advance(&pos, 1, outer);
			r = -1;
		}
		SPI_finish();
		return expire_result(fcinfo, r, &pos);
	}
	expire_pos_advance(&pos, 3, outer);

	args[0] = TimestampTzGetDatum(as_of);
	{
		/* the picked lots that roll (the same arrays on every row; NULL: none) */
		char		rnulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		for (int k = 0; k < 3; k++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7 + k, &isnull);

			args[3 + k] = isnull ? (Datum) 0 : datumCopy(d, false, -1);
			rnulls[3 + k] = isnull ? 'n' : ' ';
		}
		pids = palloc(sizeof(int32) * n);
		members = palloc(sizeof(char *) * n);
		for (int i = 0; i < n; i++)
		{
			bool		isnull;

			pids[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			members[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		}

		/*
		 * A new statement, a new snapshot: it sees what the members' last
		 * operations committed before we got their locks.  In member order,
		 * so the new lot_pkey entries and the ledger rows go in key order:
		 *  - lots with a date of their own that passed (found through
		 *    lot_open_idx: open lots only, never the member's spent
		 *    history) expire;
		 *  - the lots that roll (lot_rolls_idx) of a member whose rolling
		 *    date passed expire at that date, which becomes their own;
		 *  - a lot that rolls, picked by an earlier value of the member's
		 *    date (lot_expiry_idx) although that date has moved on, gets
		 *    the current date, and leaves the queue until then.
		 * A lot with remaining > 0 has expired = 0 (a correction gives a
		 * sweep's points back whole), so the new expired IS the amount
		 * moved; RETURNING feeds the ledger rows.  The plan is generic on
		 * purpose: the custom plans for the first executions preferred
		 * lot_pkey (reading every lot the member ever had); measured in
		 * bench/README.md, as was a bitmap scan over "member =
		 * ANY(array)" (heap order, slower: the index insertions then go in
		 * random order).
		 */
		args[1] = int4_array(pids, n);
		args[2] = text_array(members, n);
		stmt_exec(ST_EXPIRE_BATCH, args, rnulls, false, 0, SPI_OK_SELECT);
	}
	SPI_finish();

	/*
	 * Report the members locked, not the lots expired: a batch whose lots
	 * were all spent while it waited for the locks expires nothing, yet the
	 * run must go on (the next batch no longer picks those lots).
	 */
	return expire_result(fcinfo, (int64) n, &pos);
}

/* Program by id, remembering the last one (a batch is sorted by program). */
static Program *
batch_program(int32 id, int32 *last_id, Program **last)
{
	if (*last == NULL || *last_id != id)
	{
		*last = program_get_by_id(id);
		*last_id = id;
	}
	return *last;
}

/* Tier changes of a batch, written in one statement. */
typedef struct HistBuf
{
	int			n;
	int			cap;
	int32	   *pids;
	char	  **members;
	char	  **from;
	char	  **to;
	char	  **reason;
	TimestampTz *until;
	bool	   *until_nulls;
} HistBuf;

static void
hist_add(HistBuf *h, Program *p, int32 pid, char *member, const TierStep *step)
{
	if (h->n == h->cap)
	{
		h->cap = h->cap == 0 ? 64 : h->cap * 2;
		h->pids = h->pids ? repalloc(h->pids, sizeof(int32) * h->cap) : palloc(sizeof(int32) * h->cap);
		h->members = h->members ? repalloc(h->members, sizeof(char *) * h->cap) : palloc(sizeof(char *) * h->cap);
		h->from = h->from ? repalloc(h->from, sizeof(char *) * h->cap) : palloc(sizeof(char *) * h->cap);
		h->to = h->to ? repalloc(h->to, sizeof(char *) * h->cap) : palloc(sizeof(char *) * h->cap);
		h->reason = h->reason ? repalloc(h->reason, sizeof(char *) * h->cap) : palloc(sizeof(char *) * h->cap);
		h->until = h->until ? repalloc(h->until, sizeof(TimestampTz) * h->cap) : palloc(sizeof(TimestampTz) * h->cap);
		h->until_nulls = h->until_nulls ? repalloc(h->until_nulls, sizeof(bool) * h->cap) : palloc(sizeof(bool) * h->cap);
	}
	h->pids[h->n] = pid;
	h->members[h->n] = member;
	h->from[h->n] = p->tiers[step->from].code;
	h->to[h->n] = p->tiers[step->to].code;
	h->reason[h->n] = (char *) step->reason;
	h->until[h->n] = step->until;
	h->until_nulls[h->n] = !step->has_until;
	h->n++;
}

/*
 * An evaluation's tier change, dated as_of: kept in h for the batch's one
 * statement, or written at once when h is NULL (member by member).
 */
static void
evaluation_step(HistBuf *h, Program *p, int32 pid, char *member, TimestampTz as_of,
				const TierStep *step)
{
	TierStep	s = *step;

	if (h != NULL)
	{
		hist_add(h, p, pid, member, step);
		return;
	}
	s.evaluation = true;
	tier_history_write(p, member, as_of, &s);
}

/*
 * Evaluate one member's tier period that ended at `end`, in tier `cur`,
 * with `value` qualifying over the last window before it: the state after
 * it (and after every later period that also ended by as_of) in *st, the
 * changes added to h (written at once when h is NULL).  Returns whether the
 * tier changed.
 */
static bool
evaluate_member(Program *p, int32 pid, char *member, int cur, TimestampTz end, Numeric value,
				TimestampTz as_of, HistBuf *h, TierState *st)
{
	bool		chg = false;

	if (p->ntiers == 0)
	{
		st->tier = -1;
		st->has_until = false;
		return false;
	}
	tier_after_evaluation(p, cur, value, end, st);
	if (st->tier != cur)
	{
		TierStep	first;

		first.from = cur;
		first.to = st->tier;
		first.has_until = st->has_until;
		first.until = st->until;
		first.reason = st->tier < cur ? "downgrade" : "upgrade";
		first.evaluation = true;
		evaluation_step(h, p, pid, member, as_of, &first);
		chg = true;
	}
	/* a new period that also ended by as_of (the job did not run for a while) */
	if (st->has_until && st->until <= as_of)
	{
		TierStep   *more;
		int			nmore = tier_evaluate(p, member, st, as_of, &more);

		for (int k = 0; k < nmore; k++)
			evaluation_step(h, p, pid, member, as_of, &more[k]);
		chg = chg || nmore > 0;
	}
	return chg;
}

/*
 * _evaluate_batch(as_of, batch_size, after_program, after_member,
 * after_tier_until, skip_busy, revisit) -> (members evaluated, the position
 * reached).  Locks the next
 * members whose tier period has ended by as_of and evaluates each period
 * at its end (tiers.c): the qualifying value over the last complete window
 * before the period's end renews, raises or lowers the tier, which then
 * holds one more window; a member whose new period also ended by as_of is
 * evaluated again.  Changes are dated as_of.
 */
Datum
loyalty_evaluate_batch(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = proc_as_of(fcinfo);
	int32		batch = arg_batch(fcinfo, 1);
	Datum		args[5];
	int			n;
	int32	   *pids;
	char	  **members;
	Datum	   *tids;
	int		   *cur;
	TimestampTz *ends_of_period,
			   *starts,
			   *ends,
			   *untils;
	bool	   *until_nulls;
	bool	   *changed;
	char	  **new_codes;
	HistBuf		h = {0};
	bool		isnull;
	int32		last_id = 0;
	Program    *last = NULL;
	Program   **progs;
	SPITupleTable *sums;
	EvaluatePos pos;
	bool		skip_busy = !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	bool		revisit = !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
	MemoryContext outer = CurrentMemoryContext;

	pos.has = !PG_ARGISNULL(2) && !PG_ARGISNULL(3);
	pos.program_id = pos.has ? PG_GETARG_INT32(2) : PG_INT32_MIN;
	pos.member = pos.has ? text_to_cstring(PG_GETARG_TEXT_PP(3)) : "";
	pos.tier_until = pos.has && !PG_ARGISNULL(4) ? PG_GETARG_TIMESTAMPTZ(4) : DT_NOBEGIN;
	ly_spi_connect();
	args[0] = TimestampTzGetDatum(as_of);
	args[1] = Int32GetDatum(batch);
	args[2] = Int32GetDatum(pos.program_id);
	args[3] = CStringGetTextDatum(pos.member);
	args[4] = TimestampTzGetDatum(pos.tier_until);
	if (citus_cluster())
		return evaluate_by_member(fcinfo, as_of, args, skip_busy, revisit, &pos, outer);
	/* busy members are skipped in a run's first pass (still due for the second) */
	if (revisit)
	{
		/*
		 * The second pass takes one member at a time, so the order does not
		 * matter for locking: it follows the queue's index (tier_until), in
		 * which finding that nothing is left is one probe, not a walk over
		 * every account in member order.
		 */
		stmt_exec(ST_TIERS_REVISIT, args, NULL, false, 0, SPI_OK_SELECT);
	}
	else
	{
		int			skip = skip_busy ? 1 : 0;

		stmt_exec(skip ? ST_TIERS_LOCK_SKIP : ST_TIERS_LOCK, args, NULL, false, 0, SPI_OK_SELECT);
	}
	n = (int) SPI_processed;
	if (n == 0)
	{
		SPI_finish();
		return evaluate_result(fcinfo, 0, &pos);
	}
	pos.has = true;
	pos.program_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[n - 1], SPI_tuptable->tupdesc, 1, &isnull));
	pos.member = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[n - 1], SPI_tuptable->tupdesc, 2));
	pos.tier_until = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[n - 1],
													   SPI_tuptable->tupdesc, 5, &isnull));

	pids = palloc(sizeof(int32) * n);
	members = palloc(sizeof(char *) * n);
	tids = palloc(sizeof(Datum) * n);
	progs = palloc(sizeof(Program *) * n);
	cur = palloc(sizeof(int) * n);
	ends_of_period = palloc(sizeof(TimestampTz) * n);
	starts = palloc(sizeof(TimestampTz) * n);
	ends = palloc(sizeof(TimestampTz) * n);
	untils = palloc(sizeof(TimestampTz) * n);
	until_nulls = palloc(sizeof(bool) * n);
	changed = palloc(sizeof(bool) * n);
	new_codes = palloc(sizeof(char *) * n);
	{
		SPITupleTable *tt = SPI_tuptable;

		for (int i = 0; i < n; i++)
		{
			pids[i] = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			members[i] = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			tids[i] = PointerGetDatum(palloc(sizeof(ItemPointerData)));
			ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull)),
							(ItemPointer) DatumGetPointer(tids[i]));
			ends_of_period[i] = DatumGetTimestampTz(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
		}
		for (int i = 0; i < n; i++)
		{
			Program    *p = batch_program(pids[i], &last_id, &last);

			progs[i] = p;
			cur[i] = tier_index(p, SPI_getvalue(tt->vals[i], tt->tupdesc, 3));
			if (cur[i] < 0)
				cur[i] = 0;
			tier_last_window(p, ends_of_period[i], &starts[i], &ends[i]);
		}
	}

	/* qualifying values over each member's last window, in one statement */
	{
		Datum		sargs[4];

		sargs[0] = int4_array(pids, n);
		sargs[1] = text_array(members, n);
		sargs[2] = ts_array(starts, NULL, n);
		sargs[3] = ts_array(ends, NULL, n);
		stmt_exec(ST_TIERS_SUMS, sargs, NULL, false, 0, SPI_OK_SELECT);
	}
	sums = SPI_tuptable;
	for (int i = 0; i < n; i++)
	{
		Program    *p = progs[i];
		Numeric		value = DatumGetNumeric(SPI_getbinval(sums->vals[i], sums->tupdesc,
														  2 + (int) p->tier_basis, &isnull));
		TierState	st;

		changed[i] = evaluate_member(p, pids[i], members[i], cur[i], ends_of_period[i], value,
									 as_of, &h, &st);
		until_nulls[i] = !st.has_until;
		untils[i] = st.until;
		new_codes[i] = st.tier >= 0 ? p->tiers[st.tier].code : NULL;
	}

	{
		Datum		uargs[6];

		/*
		 * The rows are found by the ctid the lock returned: a row we hold
		 * locked FOR UPDATE cannot get a new version until we commit, so its
		 * ctid is stable (a Tid Scan instead of an account_pkey descent per
		 * member); the member column is checked too, and so is the count.
		 */
		uargs[0] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData), false,
												   TYPALIGN_SHORT));
		uargs[1] = text_array(members, n);
		uargs[2] = text_array(new_codes, n);
		uargs[3] = ts_array(untils, until_nulls, n);
		uargs[4] = TimestampTzGetDatum(as_of);
		uargs[5] = bool_array(changed, n);
		stmt_exec(ST_TIERS_SET, uargs, NULL, false, 0, SPI_OK_UPDATE);
		if (SPI_processed != (uint64) n)
			elog(ERROR, "loyalty: updating tiers changed %d of %d locked accounts",
				 (int) SPI_processed, n);
	}

	if (h.n > 0)
	{
		Datum		hargs[7];

		hargs[0] = int4_array(h.pids, h.n);
		hargs[1] = text_array(h.members, h.n);
		hargs[2] = text_array(h.from, h.n);
		hargs[3] = text_array(h.to, h.n);
		hargs[4] = ts_array(h.until, h.until_nulls, h.n);
		hargs[5] = TimestampTzGetDatum(as_of);
		hargs[6] = text_array(h.reason, h.n);
		stmt_exec(ST_TIERS_HISTORY, hargs, NULL, false, 0, SPI_OK_INSERT);
	}
	SPI_finish();
	return evaluate_result(fcinfo, n, &pos);
}

/* ---------- member by member: a Citus cluster ---------- */

/*
 * On a Citus cluster (loyalty.distribute()) a statement cannot lock rows of
 * several shards, so the batch functions pick their members without locks,
 * then lock and sweep each member with statements on its own shard.  The
 * locking rules stay: members in member order, the first pass skips busy
 * members (SKIP LOCKED, no wait), the second takes one member a batch, an
 * atomic run waits for each in order.  The position, the results and the
 * figures are the single-node batches'.
 */
typedef struct PickedMember
{
	int32		program_id;
	char	   *member;
	int			nrolling;		/* picked lots that roll */
	int64	   *rolling;
} PickedMember;

/* A picked lot; `m` first, so picked_cmp orders lots and members alike. */
typedef struct PickedLot
{
	PickedMember m;
	int64		id;
	bool		rolls;
} PickedLot;

/* (program_id, member) in member order; on PickedMember or PickedLot. */
static int
picked_cmp(const void *a, const void *b)
{
	const PickedMember *x = (const PickedMember *) a;
	const PickedMember *y = (const PickedMember *) b;

	if (x->program_id != y->program_id)
		return x->program_id < y->program_id ? -1 : 1;
	if (strcmp(x->member, y->member) == 0)
		return 0;
	return member_before(x->member, y->member) ? -1 : 1;
}

/* Lock a picked member: waiting, or not when skip_busy; false when busy or gone. */
static bool
lock_picked(Program *p, const char *member, bool skip_busy, Account *a)
{
	return skip_busy ? account_lock_nowait(p, member, a) : account_lock(p, member, a, NULL);
}

/* outer: the batch function's memory (the position outlives SPI_finish) */
static Datum
expire_by_member(FunctionCallInfo fcinfo, TimestampTz as_of, int32 batch, ExpirePos *pos,
				 bool skip_busy, MemoryContext outer)
{
	Datum		cargs[6];
	SPITupleTable *tt;
	int			nrows;
	int			n = 0;
	PickedMember *ms;
	int64		locked = 0;
	int32		last_id = 0;
	Program    *last = NULL;

	cargs[0] = TimestampTzGetDatum(as_of);
	cargs[1] = Int32GetDatum(batch);
	cargs[2] = TimestampTzGetDatum(pos->expires_at);
	cargs[3] = Int32GetDatum(pos->program_id);
	cargs[4] = CStringGetTextDatum(pos->member);
	cargs[5] = Int64GetDatum(pos->lot_id);
	stmt_exec(ST_EXPIRE_PICK, cargs, NULL, true, 0, SPI_OK_SELECT);
	tt = SPI_tuptable;
	nrows = (int) SPI_processed;
	if (nrows == 0)
	{
		SPI_finish();
		return expire_result(fcinfo, 0, pos);
	}
	/* the position: the last lot picked (columns as ST_EXPIRE_LAST_PICKED) */
	{
		bool		isnull;
		HeapTuple	t = tt->vals[nrows - 1];

		pos->has = true;
		pos->expires_at = DatumGetTimestampTz(SPI_getbinval(t, tt->tupdesc, 1, &isnull));
		pos->program_id = DatumGetInt32(SPI_getbinval(t, tt->tupdesc, 2, &isnull));
		pos->member = MemoryContextStrdup(outer, SPI_getvalue(t, tt->tupdesc, 3));
		pos->lot_id = DatumGetInt64(SPI_getbinval(t, tt->tupdesc, 4, &isnull));
	}
	/*
	 * The members picked, each once (in member order), with their picked
	 * lots that roll: the rows sorted by member, then grouped.
	 */
	{
		PickedLot  *rows = palloc(sizeof(PickedLot) * nrows);
		int64	   *rolling = palloc(sizeof(int64) * nrows);
		int			nroll = 0;

		for (int i = 0; i < nrows; i++)
		{
			bool		isnull;

			rows[i].m.program_id = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
			rows[i].m.member = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
			rows[i].id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
			rows[i].rolls = DatumGetBool(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
		}
		qsort(rows, nrows, sizeof(PickedLot), picked_cmp);
		ms = palloc0(sizeof(PickedMember) * nrows);
		for (int i = 0; i < nrows; i++)
		{
			if (n == 0 || picked_cmp(&rows[i], &rows[i - 1]) != 0)
			{
				ms[n] = rows[i].m;
				ms[n].rolling = rolling + nroll;
				ms[n].nrolling = 0;
				n++;
			}
			if (rows[i].rolls)
			{
				rolling[nroll++] = rows[i].id;
				ms[n - 1].nrolling++;
			}
		}
	}
	for (int k = 0; k < n; k++)
	{
		Program    *p = batch_program(ms[k].program_id, &last_id, &last);
		Account		a;
		Datum		args[4];
		char		nulls[4] = {' ', ' ', ' ', ' '};

		if (!lock_picked(p, ms[k].member, skip_busy, &a))
			continue;
		locked++;
		args[0] = TimestampTzGetDatum(as_of);
		args[1] = Int32GetDatum(ms[k].program_id);
		args[2] = CStringGetTextDatum(ms[k].member);
		args[3] = ms[k].nrolling > 0 ? int8_array(ms[k].rolling, ms[k].nrolling) : (Datum) 0;
		nulls[3] = ms[k].nrolling > 0 ? ' ' : 'n';
		stmt_exec(ST_EXPIRE_MEMBER, args, nulls, false, 0, SPI_OK_SELECT);
	}
	SPI_finish();
	/* every member picked was busy or gone: stepped over, the run goes on */
	return expire_result(fcinfo, locked > 0 ? locked : -1, pos);
}

static Datum
evaluate_by_member(FunctionCallInfo fcinfo, TimestampTz as_of, Datum *args, bool skip_busy,
				   bool revisit, EvaluatePos *pos, MemoryContext outer)
{
	SPITupleTable *tt;
	int			n;
	int32	   *pids;
	char	  **members;
	int			done = 0;
	int32		last_id = 0;
	Program    *last = NULL;

	stmt_exec(revisit ? ST_TIERS_PICK_REVISIT : ST_TIERS_PICK, args, NULL, true, 0, SPI_OK_SELECT);
	tt = SPI_tuptable;
	n = (int) SPI_processed;
	if (n == 0)
	{
		SPI_finish();
		return evaluate_result(fcinfo, 0, pos);
	}
	pids = palloc(sizeof(int32) * n);
	members = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		pids[i] = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		members[i] = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		if (i == n - 1)
		{
			pos->has = true;
			pos->program_id = pids[i];
			pos->member = MemoryContextStrdup(outer, members[i]);
			pos->tier_until = DatumGetTimestampTz(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		}
	}
	for (int i = 0; i < n; i++)
	{
		Program    *p = batch_program(pids[i], &last_id, &last);
		Account		a;
		TimestampTz start,
					end;
		Datum		qargs[5];
		char		qnulls[5] = {' ', ' ', ' ', ' ', ' '};
		Numeric		value;
		TierState	st;

		if (!lock_picked(p, members[i], skip_busy, &a))
			continue;
		/* what committed while we waited may have renewed the period */
		if (!a.has_tier_until || a.tier_until > as_of)
			continue;
		done++;
		tier_last_window(p, a.tier_until, &start, &end);
		/* read with a new snapshot: what committed while we waited counts */
		value = qualifying_value(p, members[i], start, end);
		evaluate_member(p, pids[i], members[i], a.tier, a.tier_until, value, as_of, NULL, &st);
		qargs[0] = Int32GetDatum(pids[i]);
		qargs[1] = CStringGetTextDatum(members[i]);
		qargs[2] = TimestampTzGetDatum(as_of);
		qargs[3] = st.tier >= 0 ? CStringGetTextDatum(p->tiers[st.tier].code) : (Datum) 0;
		qnulls[3] = st.tier >= 0 ? ' ' : 'n';
		qargs[4] = TimestampTzGetDatum(st.until);
		qnulls[4] = st.has_until ? ' ' : 'n';
		stmt_exec(ST_TIER_EVALUATED, qargs, qnulls, false, 0, SPI_OK_UPDATE);
	}
	SPI_finish();
	return evaluate_result(fcinfo, done > 0 ? done : -1, pos);
}

/* ---------- the procedures ---------- */

static bool
called_nonatomic(FunctionCallInfo fcinfo)
{
	return fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
}

/*
 * Run batch function `fn` until it reports 0 members, committing after each
 * batch when non-atomic.  Returns the total.
 *
 * Non-atomic (CALL at top level): two passes.  The first locks with SKIP
 * LOCKED in batches of `batch`; members busy then are stepped over.  The
 * second starts again from the beginning and takes what is still due (the
 * skipped members, what became due meanwhile: usually nothing, found by one
 * index probe) one member a batch, waiting for that member's lock while
 * holding no other.  Neither pass ever waits while holding a member lock.
 */
static int64
run_batches(bool nonatomic, const char *fn, TimestampTz as_of, int32 batch)
{
	int64		total = 0;
	bool		evaluate = strcmp(fn, "_evaluate_batch") == 0;
	/* (as_of, batch_size, the position's columns..., skip_busy[, revisit]) */
	int			ncur = evaluate ? 3 : 4;
	int			nargs = 2 + ncur + (evaluate ? 2 : 1);
	const char *sql = evaluate
		? "SELECT * FROM loyalty._evaluate_batch($1, $2, $3, $4, $5, $6, $7)"
		: "SELECT * FROM loyalty._expire_batch($1, $2, $3, $4, $5, $6, $7)";
	Oid			types[7] = {TIMESTAMPTZOID, INT4OID};
	Datum		args[7];
	char		nulls[7];

	if (evaluate)
	{
		types[2] = INT4OID;
		types[3] = TEXTOID;
		types[4] = TIMESTAMPTZOID;
		types[5] = BOOLOID;
		types[6] = BOOLOID;
	}
	else
	{
		types[2] = TIMESTAMPTZOID;
		types[3] = INT4OID;
		types[4] = TEXTOID;
		types[5] = INT8OID;
		types[6] = BOOLOID;
	}
	memset(nulls, ' ', sizeof(nulls));
	args[0] = TimestampTzGetDatum(as_of);
	args[1] = Int32GetDatum(batch);

	/*
	 * Inside the caller's transaction every batch's locks are held to the
	 * end, and batches follow expiry dates, not member order: two batches
	 * could lock members out of order and deadlock with a transfer.  So the
	 * whole run is one batch there, locking every member in one sorted
	 * statement that waits for busy members (skipping them would leave them
	 * undone, and a second pass would wait while holding the first's locks).
	 */
	if (!nonatomic)
		args[1] = Int32GetDatum(PG_INT32_MAX);
	for (int pass = nonatomic ? 1 : 2; pass <= 2; pass++)
	{
		/* each pass from the beginning; pass 1 skips busy members, pass 2 revisits one a batch */
		for (int k = 0; k < ncur; k++)
			nulls[2 + k] = 'n';
		args[2 + ncur] = BoolGetDatum(pass == 1);
		if (evaluate)
			args[3 + ncur] = BoolGetDatum(pass == 2 && nonatomic);
		if (pass == 2 && nonatomic)
			args[1] = Int32GetDatum(1);
		for (;;)
		{
			int64		done;
			bool		isnull;
			SPITupleTable *tt;

			CHECK_FOR_INTERRUPTS();
			if (SPI_execute_with_args(sql, nargs, types, args, nulls, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "loyalty: %s failed", fn);
			tt = SPI_tuptable;
			done = evaluate
				? DatumGetInt32(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull))
				: DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
			/* the position the batch returned is where the next one starts */
			for (int k = 0; k < ncur; k++)
			{
				Datum		d = SPI_getbinval(tt->vals[0], tt->tupdesc, 2 + k, &isnull);

				nulls[2 + k] = isnull ? 'n' : ' ';
				if (isnull)
					args[2 + k] = (Datum) 0;
				else if (types[2 + k] == TEXTOID)
					args[2 + k] = datumCopy(d, false, -1);
				else if (types[2 + k] == INT4OID)
					args[2 + k] = d;
				else			/* int8, timestamptz */
					args[2 + k] = datumCopy(d, FLOAT8PASSBYVAL, 8);
			}
			SPI_freetuptable(tt);
			if (done > 0)
				total += done;
			if (nonatomic)
			{
				SPI_commit();
#if PG_VERSION_NUM < 150000
				SPI_start_transaction();
#endif
			}
			if (done == 0 || !nonatomic)
				break;
		}
	}
	return total;
}

/*
 * The body of the three procedures: run the batch functions named in order
 * (NULL-terminated), committing per batch when CALLed at top level.
 */
static Datum
run_procedure(FunctionCallInfo fcinfo, int32 batch, const char *const *fns)
{
	bool		nonatomic = called_nonatomic(fcinfo);
	TimestampTz as_of = proc_as_of(fcinfo);

	if (SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
		elog(ERROR, "loyalty: SPI_connect failed");
	for (int i = 0; fns[i] != NULL; i++)
		run_batches(nonatomic, fns[i], as_of, batch);
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
loyalty_expire_points(PG_FUNCTION_ARGS)
{
	static const char *const fns[] = {"_expire_batch", NULL};

	return run_procedure(fcinfo, arg_batch(fcinfo, 1), fns);
}

Datum
loyalty_evaluate_tiers(PG_FUNCTION_ARGS)
{
	static const char *const fns[] = {"_evaluate_batch", NULL};

	return run_procedure(fcinfo, arg_batch(fcinfo, 1), fns);
}

/*
 * run_maintenance(as_of): pending points need no work (a lot becomes
 * available at its available_at, which balances read directly), then tier
 * periods that ended are evaluated, then points that expired are expired.
 */
Datum
loyalty_run_maintenance(PG_FUNCTION_ARGS)
{
	static const char *const fns[] = {"_evaluate_batch", "_expire_batch", NULL};

	return run_procedure(fcinfo, 10000, fns);
}

static bool
pg_cron_installed(void)
{
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: reading pg_extension failed");
	return SPI_processed > 0;
}

/*
 * schedule_maintenance(schedule) -> pg_cron job id.  One job named
 * 'loyalty-maintenance' in this database: calling again changes its
 * schedule, never adds a second job.
 */
Datum
loyalty_schedule_maintenance(PG_FUNCTION_ARGS)
{
	char	   *schedule = arg_text(fcinfo, 0, "schedule");
	Datum		args[1];
	Oid			types[1] = {TEXTOID};
	bool		isnull;
	int64		jobid;

	ly_spi_connect();
	if (!pg_cron_installed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not installed in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name = '%s' and run CREATE EXTENSION pg_cron; or schedule CALL loyalty.run_maintenance() with another scheduler.",
						 get_database_name(MyDatabaseId))));
	args[0] = CStringGetTextDatum(schedule);
	if (SPI_execute_with_args("SELECT cron.schedule('loyalty-maintenance', $1, "
							  "'CALL loyalty.run_maintenance()')::int8",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: cron.schedule failed");
	jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(jobid);
}

/* Remove this database's 'loyalty-maintenance' jobs; returns how many. */
static int64
unschedule(void)
{
	bool		isnull;

	if (!pg_cron_installed())
		return 0;
	if (SPI_execute("SELECT count(cron.unschedule(j.jobid))::int8 FROM cron.job j "
					"WHERE j.jobname = 'loyalty-maintenance' "
					"  AND j.database = pg_catalog.current_database()",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "loyalty: cron.unschedule failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* unschedule_maintenance() -> true when a job was removed. */
Datum
loyalty_unschedule_maintenance(PG_FUNCTION_ARGS)
{
	int64		n;

	ly_spi_connect();
	n = unschedule();
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}

/*
 * Event trigger on DROP EXTENSION (ddl_command_start): dropping loyalty
 * removes its pg_cron job, so nothing is left to fail every night.  Runs
 * before the drop, in its transaction (a failed DROP keeps the job).
 */
Datum
loyalty_on_drop_extension(PG_FUNCTION_ARGS)
{
	EventTriggerData *trig;
	DropStmt   *drop;
	ListCell   *lc;
	bool		ours = false;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "loyalty._on_drop_extension: not called as an event trigger");
	trig = (EventTriggerData *) fcinfo->context;
	if (trig->parsetree == NULL || !IsA(trig->parsetree, DropStmt))
		PG_RETURN_VOID();
	drop = (DropStmt *) trig->parsetree;
	if (drop->removeType != OBJECT_EXTENSION)
		PG_RETURN_VOID();
	foreach(lc, drop->objects)
	{
		Node	   *o = lfirst(lc);

		if (IsA(o, String) && strcmp(strVal(o), "loyalty") == 0)
			ours = true;
	}
	if (!ours)
		PG_RETURN_VOID();
	/* no version check: dropping must work whatever the library's version */
	ly_spi_connect_nocheck();
	unschedule();
	SPI_finish();
	PG_RETURN_VOID();
}
