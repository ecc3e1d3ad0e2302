/*
 * statements.h — the statement catalogue: every fixed SQL statement the C
 * code runs, by name.  Their text, argument types and planner options are
 * in statements.c, in one table, so that all SQL the library runs can be
 * reviewed in one place beside sql/loyalty.sql.  Statements built at run
 * time (the orders triggers' per-table queries, DDL on tracked tables) are
 * in orders.c and order_lines.c, which build them from catalogued
 * identifiers only; and the
 * queries citus_views.c sends to a Citus cluster's nodes, built from the
 * extension's own view definitions and shard names.
 */
#ifndef LOYALTY_STATEMENTS_H
#define LOYALTY_STATEMENTS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "executor/spi.h"

typedef enum Stmt
{
	/* account.c */
	ST_ACCOUNT_LOCK,
	ST_ACCOUNT_LOCK_SKIP,
	ST_ACCOUNT_PEEK,
	ST_LEDGER_BY_REF,
	/* config.c */
	ST_CONFIG_TIERS,
	ST_CONFIG_RULES,
	ST_CONFIG_PROGRAM,
	ST_CONFIG_PROGRAM_CODE,
	/* config_api.c */
	ST_TIMEZONE_NAME,
	ST_PROGRAM_SETTINGS,
	ST_PROGRAM_UPSERT,
	ST_TIER_UPSERT,
	ST_RULE_UPSERT,
	ST_RULE_SET_ACTIVE,
	/* enroll.c */
	ST_ACCOUNT_EXISTS,
	ST_ACCOUNT_INSERT,
	ST_ACCOUNT_SET_BIRTHDAY,
	ST_ACCOUNT_REFERRAL_PAID,
	/* events.c */
	ST_RULE_PAYOUTS,
	ST_STREAK_GET,
	ST_STREAK_PUT,
	/* lots.c */
	ST_LOTS_ROLL_CLOSE,
	ST_LOTS_ROLL_JOIN,
	ST_LOTS_ROLL_REVIVE,
	ST_CREDIT,
	ST_LEDGER_WRITE,
	ST_LEDGER_CORRECTIONS,
	ST_LOTS_FIFO_OWN,
	ST_LOTS_FIFO_SWEPT,
	ST_LOTS_FIFO_ROLLING,
	ST_LOTS_TAKE,
	ST_LOTS_PENDING,
	ST_LOTS_RESERVE,
	ST_LOTS_EXPIRE_NOW,
	ST_BALANCE_SCAN,
	ST_BALANCE_PROJECTED,
	ST_BALANCE_HISTORY,
	/* maintenance.c */
	ST_EXPIRE_LOCK,
	ST_EXPIRE_LOCK_SKIP,
	ST_EXPIRE_LAST_PICKED,
	ST_EXPIRE_BATCH,
	ST_EXPIRE_PICK,
	ST_EXPIRE_MEMBER,
	ST_TIERS_PICK,
	ST_TIERS_PICK_REVISIT,
	ST_TIER_EVALUATED,
	ST_TIERS_REVISIT,
	ST_TIERS_LOCK,
	ST_TIERS_LOCK_SKIP,
	ST_TIERS_SUMS,
	ST_TIERS_SET,
	ST_TIERS_HISTORY,
	/* ops_earn.c */
	ST_ORDERS_IN_WINDOW,
	/* ops_move.c */
	ST_PURCHASE_LOT,
	ST_RECEIPT_LINES,
	ST_FIRST_PURCHASE,
	ST_REFERRER,
	ST_PAYOUT_LOT,
	ST_LOT_REFUNDED,
	ST_LOTS_TRANSFER_IN,
	/* orders.c */
	ST_TRACKED_ALL,
	ST_ORDER_STATE,
	ST_TRACK_PUT,
	ST_CITUS_PRESENT,
	ST_CITUS_TABLE,
	ST_CITUS_SHARD_OF,
	/* citus_views.c */
	ST_PARTS_VIEWDEF,
	ST_PARTS_SHARDS,
	ST_PARTS_RUN,
	ST_TRACK_DEL,
	ST_DDL_COMMANDS,
	ST_DROPPED_OBJECTS,
	/* tiers.c */
	ST_TIER_QUALIFYING,
	ST_TIER_LAST_QUALIFYING,
	ST_TIER_CHANGE_INSERT,
	ST_TIER_UPGRADES,
	ST_TIER_INSTANTS,
	ST_TIER_FIX,
	/* codes.c */
	ST_CODES_ADD,
	ST_CODES_EXISTING,
	ST_CODES_GIVEN_TWICE,
	ST_CODE_PEEK,
	ST_CODE_LOCK,
	ST_CODE_USE,
	/* campaigns.c */
	ST_RULE_USES,
	ST_OFFERS_HELD,
	ST_OFFER_USE,
	ST_OFFER_BY_REF,
	ST_OFFER_INSERT,
	ST_BUDGET_READ,
	ST_BUDGET_LOCK,
	ST_BUDGET_ADD,
	ST_BUDGET_SPEND,
	/* tracking.c, order_lines.c */
	ST_LINES_TRACKING_OF,
	ST_ORDERS_TRACKED,
	ST_LINES_GET,
	ST_LINES_PUT,
	ST_LINES_DEL,
	ST_LINES_ALL,
	ST_LINES_OF_ORDERS,
	/* mall.c */
	ST_REWARD_UPSERT,
	ST_REWARD_GET,
	ST_STOCK_SET,
	ST_STOCK_DROP,
	ST_STOCK_PEEK,
	ST_STOCK_TAKE,
	ST_STOCK_ADD,
	ST_REDEMPTION_GET,
	ST_REDEMPTION_HELD,
	ST_REDEMPTION_INSERT,
	ST_REDEMPTION_CANCEL,
	ST_LEDGER_NEXT_ID,
	/* merchants.c, config_api.c (add_merchant), config.c */
	ST_CONFIG_MERCHANTS,
	ST_MERCHANT_UPSERT,
	ST_MERCHANT_GRANT,
	ST_MERCHANT_GRANTS,
	ST_COUNT
} Stmt;

/* The statement's kept plan: prepared on first use, again when invalidated. */
extern SPIPlanPtr stmt_plan(Stmt s);

/*
 * Run the statement (SPI_execute_plan) and check its result code: anything
 * but `expect` is an internal error naming the statement.  The rows are in
 * SPI_tuptable / SPI_processed as usual.
 */
extern void stmt_exec(Stmt s, Datum *args, const char *nulls, bool read_only, long count,
					  int expect);

/*
 * Run a statement that returns rows (RETURNING) without keeping them: the
 * number of rows it returned, counted as they come.  What Citus reports as
 * the processed count of an INSERT ... SELECT ... ON CONFLICT DO NOTHING is
 * the number of rows selected, not inserted; the rows a RETURNING clause
 * gives back are the ones inserted.
 */
extern uint64 stmt_exec_counted(Stmt s, Datum *args, const char *nulls, int expect);

/* A timestamptz column of a result row: whether it is not NULL (*out 0 when NULL). */
extern bool stmt_get_ts(HeapTuple t, TupleDesc td, int col, TimestampTz *out);

/*
 * Whether plans are kept (the default).  On a Citus cluster they are not:
 * Citus 13.2's local execution grows a kept plan's memory with every
 * execution (citusdata/citus#8824), so there every statement is planned
 * per execution (citus.c decides).
 */
extern void stmt_keep_plans(bool keep);

/* Connect to SPI for an operation: checks the installed schema's version. */
extern void ly_spi_connect(void);
extern void ly_spi_connect_nocheck(void);	/* event triggers: no version check */

#endif
