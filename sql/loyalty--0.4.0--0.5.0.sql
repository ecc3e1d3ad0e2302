-- loyalty 0.4.0 -> 0.5.0: receipts, campaign limits, member offers and
-- single-use codes (issue #12; in progress).
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" to load this file. \quit
