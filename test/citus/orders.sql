-- test/citus/orders.sql — an app's orders table tracked with loyalty.track_orders
-- (README "Orders tables the app already has"), run by test/citus.sh on the
-- single node and on Citus, where public.orders (member, amount, ref, at,
-- refunded) has been distributed by member, colocated with loyalty.account.
-- psql -v phase=track: the program and track_orders (as app_admin, the owner:
-- 'orders_track|ok' or 'orders_track|<SQLSTATE>: <message>');
-- psql -v phase=write: the app's INSERT / UPDATE / DELETE (as app_writer) and
-- the points they gave, as lines 'orders_<what>|<value>' that citus.sh compares.
SET client_min_messages = warning;
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';
SET client_min_messages = error;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $f$;
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO PUBLIC;
SET client_min_messages = warning;
SELECT :'phase' = 'track' AS track \gset
\if :track
SET ROLE app_admin;
-- (errors here are failures: only track_orders itself may refuse)
SELECT loyalty.create_program('ord', timezone => 'UTC') > 0 AS ord;
SELECT loyalty.add_tier('ord', 'base', 0);
\pset tuples_only on
\pset format unaligned
SELECT 'orders_track|' || pg_temp.err($$SELECT loyalty.track_orders('public.orders', 'ord',
           member_column => 'member', amount_column => 'amount', ref_column => 'ref',
           at_column => 'at', refund_column => 'refunded')$$);
\else
SET ROLE app_writer;
\pset tuples_only on
\pset format unaligned
-- 30 orders of 10 members (one statement), then one more each
INSERT INTO public.orders (member, amount, ref, at)
SELECT 'm' || (g % 10 + 1), 10 * g, 'ord-' || g, timestamptz '2021-06-01' + g * interval '1 hour'
FROM generate_series(1, 30) g;
INSERT INTO public.orders (member, amount, ref, at) VALUES ('m1', 55, 'ord-single', '2021-06-03');
-- a refund through the refund column, and a deleted order (refunds what is left)
UPDATE public.orders SET refunded = 40 WHERE member = 'm2' AND ref = 'ord-11';
DELETE FROM public.orders WHERE member = 'm3' AND ref = 'ord-12';
-- a known order inserted again: LY005
SELECT 'orders_reinsert|' || split_part(pg_temp.err($$INSERT INTO public.orders (member, amount, ref, at) VALUES ('m1', 55, 'ord-single', '2021-06-03')$$), ':', 1);
-- (the trigger dates refunds and voids at now(): balances as of now)
SELECT 'orders_balances|' || string_agg('m' || g || ':' || loyalty.balance('ord', 'm' || g), ' ' ORDER BY g)
FROM generate_series(1, 11) g;
SELECT 'orders_credited|' || (sum(loyalty.balance('ord', 'm' || g)) > 0)::text
FROM generate_series(1, 10) g;
RESET ROLE;
SELECT 'orders_ledger|' || string_agg(l.member || ':' || l.kind || ':' || l.points || ':' || coalesce(l.ref, '-'), ' '
                                      ORDER BY l.member, l.at, l.kind, l.ref)
FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id WHERE p.code = 'ord' AND l.kind <> 'event';
\endif
