-- pgTAP: the public contract of SPEC.md that is about objects, not numbers:
-- names and signatures, C implementation of the hot paths, roles and privileges,
-- search_path safety, append-only ledger.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;
SELECT plan(157);

SELECT has_schema('loyalty');
SELECT has_table('loyalty', 'ledger', 'the ledger is the table loyalty.ledger');

-- every function of SPEC §2-3 with its exact argument types
SELECT has_function('loyalty', 'create_program',
  ARRAY['text','text','text','numeric','numeric','text','text','numeric','numeric','text',
        'interval','text','interval','text','text','text','text']);
SELECT has_function('loyalty', 'add_tier', ARRAY['text','text','numeric','numeric','numeric','text']);
SELECT has_function('loyalty', 'add_rule', ARRAY['text','text','text','jsonb','timestamp with time zone','timestamp with time zone']);
SELECT has_function('loyalty', 'set_rule_active', ARRAY['text','text','boolean']);
SELECT has_function('loyalty', 'enroll', ARRAY['text','text','timestamp with time zone','date','text']);
SELECT has_function('loyalty', 'earn', ARRAY['text','text','numeric','text','timestamp with time zone','text','text']);
SELECT has_function('loyalty', 'quote', ARRAY['text','text','numeric','timestamp with time zone','text','text']);
SELECT has_function('loyalty', 'record_event', ARRAY['text','text','text','text','timestamp with time zone','text']);
SELECT has_function('loyalty', 'redeem', ARRAY['text','text','bigint','text','timestamp with time zone','text']);
SELECT has_function('loyalty', 'redeem_value', ARRAY['text','text','numeric','text','timestamp with time zone','text']);
SELECT has_function('loyalty', 'adjust', ARRAY['text','text','bigint','text','text','timestamp with time zone']);
SELECT has_function('loyalty', 'balance', ARRAY['text','text','timestamp with time zone']);
SELECT has_function('loyalty', 'tier_of', ARRAY['text','text','timestamp with time zone']);
SELECT has_function('loyalty', 'verify', ARRAY[]::text[]);
SELECT has_function('loyalty', 'unschedule_maintenance', ARRAY[]::text[]);
SELECT function_returns('loyalty', 'unschedule_maintenance', ARRAY[]::text[], 'boolean');
SELECT function_privs_are('loyalty', 'unschedule_maintenance', ARRAY[]::text[],
                          'loyalty_writer', ARRAY[]::text[]);

-- return types
SELECT function_returns('loyalty', 'create_program',
  ARRAY['text','text','text','numeric','numeric','text','text','numeric','numeric','text',
        'interval','text','interval','text','text','text','text'], 'integer');
SELECT function_returns('loyalty', 'earn', ARRAY['text','text','numeric','text','timestamp with time zone','text','text'], 'bigint');
SELECT function_returns('loyalty', 'record_event', ARRAY['text','text','text','text','timestamp with time zone','text'], 'bigint');
SELECT function_returns('loyalty', 'redeem', ARRAY['text','text','bigint','text','timestamp with time zone','text'], 'bigint');
SELECT function_returns('loyalty', 'balance', ARRAY['text','text','timestamp with time zone'], 'bigint');
SELECT function_returns('loyalty', 'tier_of', ARRAY['text','text','timestamp with time zone'], 'text');
SELECT function_returns('loyalty', 'quote', ARRAY['text','text','numeric','timestamp with time zone','text','text'], 'setof record');

-- the hot paths are C, nothing on them is PL/pgSQL
SELECT function_lang_is('loyalty', 'earn', ARRAY['text','text','numeric','text','timestamp with time zone','text','text'], 'c');
SELECT function_lang_is('loyalty', 'record_event', ARRAY['text','text','text','text','timestamp with time zone','text'], 'c');
SELECT function_lang_is('loyalty', 'redeem', ARRAY['text','text','bigint','text','timestamp with time zone','text'], 'c');
SELECT function_lang_is('loyalty', 'quote', ARRAY['text','text','numeric','timestamp with time zone','text','text'], 'c');
SELECT function_lang_is('loyalty', 'balance', ARRAY['text','text','timestamp with time zone'], 'c');
SELECT is((SELECT array_agg(p.proname::text) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
           WHERE p.pronamespace = 'loyalty'::regnamespace AND l.lanname = 'plpgsql'), ARRAY['distribute'],
          'no PL/pgSQL function in schema loyalty but distribute() (one-time Citus glue)');

-- search_path safety: every function pins search_path
SELECT is((SELECT count(*) FROM pg_proc p
           WHERE p.pronamespace = 'loyalty'::regnamespace AND p.prokind = 'f'
             AND p.prorettype <> 'trigger'::regtype
             AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
          0::bigint, 'every loyalty function sets search_path = pg_catalog, pg_temp');

-- roles
SELECT has_role('loyalty_reader');
SELECT has_role('loyalty_writer');
SELECT has_role('loyalty_admin');
SELECT function_privs_are('loyalty', 'earn', ARRAY['text','text','numeric','text','timestamp with time zone','text','text'],
                          'loyalty_writer', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'earn', ARRAY['text','text','numeric','text','timestamp with time zone','text','text'],
                          'loyalty_reader', ARRAY[]::text[]);
SELECT function_privs_are('loyalty', 'add_rule', ARRAY['text','text','text','jsonb','timestamp with time zone','timestamp with time zone'],
                          'loyalty_writer', ARRAY[]::text[]);
SELECT function_privs_are('loyalty', 'add_rule', ARRAY['text','text','text','jsonb','timestamp with time zone','timestamp with time zone'],
                          'loyalty_admin', ARRAY['EXECUTE']);
SELECT table_privs_are('loyalty', 'ledger', 'loyalty_writer', ARRAY[]::text[],
                       'writers cannot touch the ledger directly');
SELECT table_privs_are('loyalty', 'ledger', 'public', ARRAY[]::text[]);
SELECT is((SELECT count(*) FROM pg_proc p
           WHERE p.pronamespace = 'loyalty'::regnamespace
             AND has_function_privilege('loyalty_reader', p.oid, 'EXECUTE')
             AND p.oid <> 'loyalty._merchant_visible(text, text)'::regprocedure),
          0::bigint, 'loyalty_reader executes no function (views only) but the views'' merchant filter');
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
           WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'm', 'p')
             AND has_table_privilege('loyalty_reader', c.oid, 'SELECT')),
          ARRAY['activity_daily', 'code_batches', 'expiring_points', 'leaderboard', 'liability', 'member_offers', 'member_summary',
                'merchant_settlement', 'redemptions', 'reward_stats', 'rule_stats', 'statement', 'tier_distribution', 'tier_history'],
          'loyalty_reader reads the fourteen views and nothing else');
SELECT function_privs_are('loyalty', 'balance', ARRAY['text','text','timestamp with time zone'],
                          'loyalty_writer', ARRAY['EXECUTE']);

-- scale-out: member-scoped tables keyed by (program_id, member, ...)
SELECT col_is_pk('loyalty', 'account', ARRAY['program_id', 'member'], 'account keyed by program and member');
SELECT col_is_pk('loyalty', 'ledger', ARRAY['program_id', 'member', 'id'], 'ledger keyed by program, member, id');
SELECT col_is_pk('loyalty', 'lot', ARRAY['program_id', 'member', 'id'], 'lot keyed by program, member, id');
SELECT col_type_is('loyalty', 'ledger', 'id', 'bigint', 'ledger ids are bigint');
SELECT col_is_pk('loyalty', 'offer', ARRAY['program_id', 'member', 'id'], 'offer grants keyed by program, member, id');
SELECT col_is_pk('loyalty', 'rule_budget', ARRAY['program_id', 'rule'], 'one budget row per rule of a program');

-- SPEC §8: campaigns and offers
SELECT has_function('loyalty', 'grant_offer',
  ARRAY['text','text','text','integer','timestamp with time zone','timestamp with time zone','text']);
SELECT function_returns('loyalty', 'grant_offer',
  ARRAY['text','text','text','integer','timestamp with time zone','timestamp with time zone','text'], 'void');
SELECT function_lang_is('loyalty', 'grant_offer',
  ARRAY['text','text','text','integer','timestamp with time zone','timestamp with time zone','text'], 'c');
SELECT function_privs_are('loyalty', 'grant_offer',
  ARRAY['text','text','text','integer','timestamp with time zone','timestamp with time zone','text'],
  'loyalty_writer', ARRAY['EXECUTE'], 'a CRM pushes offers: loyalty_writer grants them');
SELECT function_privs_are('loyalty', 'grant_offer',
  ARRAY['text','text','text','integer','timestamp with time zone','timestamp with time zone','text'],
  'public', ARRAY[]::text[]);
SELECT has_view('loyalty', 'member_offers', 'view loyalty.member_offers');
SELECT columns_are('loyalty', 'member_offers',
  ARRAY['program', 'member', 'rule', 'uses_left', 'valid_from', 'valid_until', 'uses', 'granted_at', 'ref'],
  'member_offers: program, member, rule, uses_left, valid_from, valid_until (then uses, granted_at, ref)');
SELECT columns_are('loyalty', 'rule_stats',
  ARRAY['program', 'rule', 'purchases', 'points', 'budget', 'spent', 'remaining'],
  'rule_stats: purchases, points, budget, spent, remaining');
SELECT table_privs_are('loyalty', 'offer', 'loyalty_writer', ARRAY[]::text[],
                       'writers cannot touch the offer grants directly');

-- SPEC §8: receipts
SELECT has_function('loyalty', 'earn_order', ARRAY['text','text','jsonb','text','timestamp with time zone','text']);
SELECT function_returns('loyalty', 'earn_order', ARRAY['text','text','jsonb','text','timestamp with time zone','text'], 'bigint');
SELECT function_lang_is('loyalty', 'earn_order', ARRAY['text','text','jsonb','text','timestamp with time zone','text'], 'c');
SELECT function_privs_are('loyalty', 'earn_order', ARRAY['text','text','jsonb','text','timestamp with time zone','text'],
                          'loyalty_writer', ARRAY['EXECUTE']);
SELECT has_function('loyalty', 'quote_order', ARRAY['text','text','jsonb','timestamp with time zone','text']);
SELECT function_returns('loyalty', 'quote_order', ARRAY['text','text','jsonb','timestamp with time zone','text'], 'setof record');
SELECT function_lang_is('loyalty', 'quote_order', ARRAY['text','text','jsonb','timestamp with time zone','text'], 'c');
SELECT has_function('loyalty', 'refund_lines', ARRAY['text','text','text','jsonb','text','timestamp with time zone']);
SELECT function_returns('loyalty', 'refund_lines', ARRAY['text','text','text','jsonb','text','timestamp with time zone'], 'bigint');
SELECT function_lang_is('loyalty', 'refund_lines', ARRAY['text','text','text','jsonb','text','timestamp with time zone'], 'c');
SELECT function_privs_are('loyalty', 'refund_lines', ARRAY['text','text','text','jsonb','text','timestamp with time zone'],
                          'loyalty_writer', ARRAY['EXECUTE']);

-- SPEC §8: single-use codes (admin loads them, the app redeems them)
SELECT has_function('loyalty', 'add_codes', ARRAY['text','text','text[]','bigint','timestamp with time zone']);
SELECT function_returns('loyalty', 'add_codes', ARRAY['text','text','text[]','bigint','timestamp with time zone'], 'integer');
SELECT function_lang_is('loyalty', 'add_codes', ARRAY['text','text','text[]','bigint','timestamp with time zone'], 'c');
SELECT function_privs_are('loyalty', 'add_codes', ARRAY['text','text','text[]','bigint','timestamp with time zone'],
                          'loyalty_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'add_codes', ARRAY['text','text','text[]','bigint','timestamp with time zone'],
                          'loyalty_writer', ARRAY[]::text[], 'writers cannot print codes');
SELECT has_function('loyalty', 'redeem_code', ARRAY['text','text','text','timestamp with time zone']);
SELECT function_returns('loyalty', 'redeem_code', ARRAY['text','text','text','timestamp with time zone'], 'bigint');
SELECT function_lang_is('loyalty', 'redeem_code', ARRAY['text','text','text','timestamp with time zone'], 'c');
SELECT function_privs_are('loyalty', 'redeem_code', ARRAY['text','text','text','timestamp with time zone'],
                          'loyalty_writer', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'redeem_code', ARRAY['text','text','text','timestamp with time zone'],
                          'public', ARRAY[]::text[]);
SELECT has_view('loyalty', 'code_batches', 'view loyalty.code_batches');
SELECT columns_are('loyalty', 'code_batches', ARRAY['program', 'batch', 'codes', 'used', 'points_credited'],
                   'code_batches: program, batch, codes, used, points_credited');
SELECT col_is_pk('loyalty', 'code', ARRAY['program_id', 'code'], 'a code is unique in its program (one index)');
SELECT table_privs_are('loyalty', 'code', 'loyalty_writer', ARRAY[]::text[],
                       'writers cannot read or mark codes directly');
SELECT table_privs_are('loyalty', 'code', 'loyalty_reader', ARRAY[]::text[],
                       'readers cannot list the unused codes');
SELECT is((SELECT count(*) FROM pg_index WHERE indrelid = 'loyalty.code'::regclass), 1::bigint,
          'loyalty.code has one index (a million codes load in seconds)');

-- SPEC §9: the points mall (admin sets rewards and stock, the app redeems and cancels)
SELECT has_function('loyalty', 'add_reward', ARRAY['text','text','bigint','numeric','bigint','integer','text[]','jsonb',
                    'timestamp with time zone','timestamp with time zone','text','text']);
SELECT function_returns('loyalty', 'add_reward', ARRAY['text','text','bigint','numeric','bigint','integer','text[]','jsonb',
                        'timestamp with time zone','timestamp with time zone','text','text'], 'void');
SELECT function_lang_is('loyalty', 'add_reward', ARRAY['text','text','bigint','numeric','bigint','integer','text[]','jsonb',
                        'timestamp with time zone','timestamp with time zone','text','text'], 'c');
SELECT function_privs_are('loyalty', 'add_reward', ARRAY['text','text','bigint','numeric','bigint','integer','text[]','jsonb',
                          'timestamp with time zone','timestamp with time zone','text','text'],
                          'loyalty_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'add_reward', ARRAY['text','text','bigint','numeric','bigint','integer','text[]','jsonb',
                          'timestamp with time zone','timestamp with time zone','text','text'],
                          'loyalty_writer', ARRAY[]::text[], 'writers cannot price rewards');
SELECT has_function('loyalty', 'add_stock', ARRAY['text','text','bigint']);
SELECT function_returns('loyalty', 'add_stock', ARRAY['text','text','bigint'], 'bigint');
SELECT function_lang_is('loyalty', 'add_stock', ARRAY['text','text','bigint'], 'c');
SELECT function_privs_are('loyalty', 'add_stock', ARRAY['text','text','bigint'], 'loyalty_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'add_stock', ARRAY['text','text','bigint'], 'loyalty_writer', ARRAY[]::text[],
                          'writers cannot add stock');
SELECT has_function('loyalty', 'redeem_reward', ARRAY['text','text','text','integer','text','timestamp with time zone','text']);
SELECT function_returns('loyalty', 'redeem_reward', ARRAY['text','text','text','integer','text','timestamp with time zone','text'], 'bigint');
SELECT function_lang_is('loyalty', 'redeem_reward', ARRAY['text','text','text','integer','text','timestamp with time zone','text'], 'c');
SELECT function_privs_are('loyalty', 'redeem_reward', ARRAY['text','text','text','integer','text','timestamp with time zone','text'],
                          'loyalty_writer', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'redeem_reward', ARRAY['text','text','text','integer','text','timestamp with time zone','text'],
                          'public', ARRAY[]::text[]);
SELECT has_function('loyalty', 'cancel_redemption', ARRAY['text','text','text','text','timestamp with time zone']);
SELECT function_returns('loyalty', 'cancel_redemption', ARRAY['text','text','text','text','timestamp with time zone'], 'bigint');
SELECT function_lang_is('loyalty', 'cancel_redemption', ARRAY['text','text','text','text','timestamp with time zone'], 'c');
SELECT function_privs_are('loyalty', 'cancel_redemption', ARRAY['text','text','text','text','timestamp with time zone'],
                          'loyalty_writer', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'cancel_redemption', ARRAY['text','text','text','text','timestamp with time zone'],
                          'public', ARRAY[]::text[]);
SELECT has_view('loyalty', 'reward_stats', 'view loyalty.reward_stats');
SELECT columns_are('loyalty', 'reward_stats',
                   ARRAY['program', 'reward', 'redemptions', 'quantity', 'points', 'cash', 'stock_left', 'merchant'],
                   'reward_stats: program, reward, redemptions, quantity, points, cash, stock_left, merchant');
SELECT has_view('loyalty', 'redemptions', 'view loyalty.redemptions');
SELECT columns_are('loyalty', 'redemptions',
                   ARRAY['program', 'member', 'ref', 'reward', 'quantity', 'points', 'cash', 'merchant', 'at', 'cancelled_at'],
                   'redemptions: program, member, ref, reward, quantity, points, cash, merchant, at, cancelled_at');
SELECT col_is_pk('loyalty', 'redemption', ARRAY['program_id', 'member', 'ref'], 'redemptions keyed by program, member, ref');
SELECT col_is_pk('loyalty', 'reward_stock', ARRAY['program_id', 'reward'], 'one stock row per reward of a program');
SELECT col_is_pk('loyalty', 'reward', ARRAY['program_id', 'code'], 'a reward is unique in its program');
SELECT table_privs_are('loyalty', 'reward_stock', 'loyalty_writer', ARRAY[]::text[],
                       'writers cannot change stock directly');
SELECT table_privs_are('loyalty', 'redemption', 'loyalty_writer', ARRAY[]::text[],
                       'writers cannot change redemptions directly');

-- alliances (SPEC §9): merchants, their roles, the settlement
SELECT has_function('loyalty', 'add_merchant', ARRAY['text','text','text','numeric']);
SELECT function_returns('loyalty', 'add_merchant', ARRAY['text','text','text','numeric'], 'void');
SELECT function_lang_is('loyalty', 'add_merchant', ARRAY['text','text','text','numeric'], 'c');
SELECT function_privs_are('loyalty', 'add_merchant', ARRAY['text','text','text','numeric'],
                          'loyalty_writer', ARRAY[]::text[]);
SELECT function_privs_are('loyalty', 'add_merchant', ARRAY['text','text','text','numeric'],
                          'loyalty_admin', ARRAY['EXECUTE']);
SELECT has_function('loyalty', 'grant_merchant', ARRAY['name','text','text']);
SELECT function_returns('loyalty', 'grant_merchant', ARRAY['name','text','text'], 'void');
SELECT function_lang_is('loyalty', 'grant_merchant', ARRAY['name','text','text'], 'c');
SELECT function_privs_are('loyalty', 'grant_merchant', ARRAY['name','text','text'],
                          'loyalty_writer', ARRAY[]::text[]);
SELECT function_privs_are('loyalty', 'grant_merchant', ARRAY['name','text','text'],
                          'loyalty_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'redeem', ARRAY['text','text','bigint','text','timestamp with time zone','text'],
                          'loyalty_writer', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'redeem_value', ARRAY['text','text','numeric','text','timestamp with time zone','text'],
                          'loyalty_writer', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'record_event', ARRAY['text','text','text','text','timestamp with time zone','text'],
                          'public', ARRAY[]::text[]);
SELECT hasnt_function('loyalty', 'earn', ARRAY['text','text','numeric','text','timestamp with time zone','text'],
                      'earn without merchant is gone (one signature, merchant last)');
SELECT has_column('loyalty', 'ledger', 'merchant', 'every ledger row records its merchant');
SELECT has_view('loyalty', 'merchant_settlement', 'view loyalty.merchant_settlement');
SELECT columns_are('loyalty', 'merchant_settlement',
                   ARRAY['program', 'merchant', 'month', 'issued', 'redeemed', 'net_points', 'net_value'],
                   'merchant_settlement: program, merchant, month, issued, redeemed, net_points, net_value');
SELECT col_is_pk('loyalty', 'merchant', ARRAY['program_id', 'code'], 'a merchant is unique in its program');
SELECT col_is_pk('loyalty', 'merchant_grant', ARRAY['role'], 'one program and merchant per merchant role');
SELECT table_privs_are('loyalty', 'merchant_grant', 'loyalty_writer', ARRAY[]::text[],
                       'writers cannot change merchant grants directly');

-- scale-out: ids are each member's own sequence, no identity on member tables
SELECT is((SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           WHERE c.relnamespace = 'loyalty'::regnamespace
             AND c.relname IN ('account', 'ledger', 'lot', 'streak', 'tier_change', 'offer', 'redemption')
             AND a.attidentity <> ''), 0::bigint, 'member tables have no identity column');
-- distribute(): Citus only, for its owner and superusers only
SELECT throws_ok($$SELECT * FROM loyalty.distribute()$$, '55000', NULL,
                 'distribute() without Citus: 55000');
SELECT throws_ok($$SELECT * FROM loyalty.distribute(0)$$, '55000', NULL,
                 'distribute() checks for Citus first');
SELECT function_privs_are('loyalty', 'distribute', ARRAY['integer'], 'loyalty_admin', ARRAY[]::text[]);
SELECT function_privs_are('loyalty', 'distribute', ARRAY['integer'], 'public', ARRAY[]::text[]);
SELECT is((SELECT count(*) FROM pg_constraint
           WHERE conrelid = 'loyalty.tracked_table'::regclass AND contype = 'f'), 0::bigint,
          'tracked_table has no foreign key (it stays local on a Citus coordinator)');

-- order-lines tables (README "Order lines tables")
SELECT has_function('loyalty', 'track_order_lines',
  ARRAY['regclass','text','name','name','name','name','name','regclass','name','name','name','name','boolean']);
SELECT function_returns('loyalty', 'track_order_lines',
  ARRAY['regclass','text','name','name','name','name','name','regclass','name','name','name','name','boolean'], 'void');
SELECT function_lang_is('loyalty', 'track_order_lines',
  ARRAY['regclass','text','name','name','name','name','name','regclass','name','name','name','name','boolean'], 'c');
SELECT function_privs_are('loyalty', 'track_order_lines',
  ARRAY['regclass','text','name','name','name','name','name','regclass','name','name','name','name','boolean'],
  'loyalty_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'track_order_lines',
  ARRAY['regclass','text','name','name','name','name','name','regclass','name','name','name','name','boolean'],
  'loyalty_writer', ARRAY[]::text[]);
SELECT function_privs_are('loyalty', 'untrack_order_lines', ARRAY['regclass'], 'loyalty_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('loyalty', 'untrack_order_lines', ARRAY['regclass'], 'public', ARRAY[]::text[]);
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'loyalty._order_lines_trigger()'::regprocedure), false,
          'the order-lines trigger is not SECURITY DEFINER: the app''s tables are read as the role that fires it');
SELECT columns_are('loyalty', 'tracked_order_lines',
  ARRAY['relid', 'program', 'order_column', 'line_column', 'amount_column', 'category_column', 'member_column',
        'orders', 'orders_ref_column', 'orders_member_column', 'at_column', 'refund_column'],
  'tracked_order_lines: one row per tracked lines table, its column mapping');
SELECT table_privs_are('loyalty', 'tracked_order_lines', 'loyalty_admin', ARRAY['SELECT']);
SELECT table_privs_are('loyalty', 'tracked_order_lines', 'loyalty_writer', ARRAY[]::text[]);

-- append-only, and a writer can operate through the functions only
SELECT loyalty.create_program('tap');
SELECT lives_ok($$SELECT loyalty.earn('tap', 'm', 10, 'o1', '2026-01-01')$$, 'earn works');
SELECT throws_ok($$UPDATE loyalty.ledger SET points = 0$$, '42501', NULL, 'ledger UPDATE fails');

-- every function, procedure, table and view a user sees says what it is (\df+, \dv+)
SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'loyalty'::regnamespace
             AND p.proname NOT LIKE '\_%' AND obj_description(p.oid, 'pg_proc') IS NULL),
          0::bigint, 'every public function and procedure has a description');
SELECT is((SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'loyalty'::regnamespace
             AND c.relkind IN ('r', 'v') AND c.relname NOT LIKE '\_%'
             AND obj_description(c.oid, 'pg_class') IS NULL),
          0::bigint, 'every table and view has a description');
SELECT * FROM finish();
ROLLBACK;
