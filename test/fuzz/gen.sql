-- gen.sql — the statement generator of the loyalty fuzzer (test/fuzz.sh).
--
-- Loaded into the scratch database fuzz_gen (never into a database with the
-- extension under test).  fg.generate(seed, ...) fills fg.step with one
-- seed's statement sequence; fg.steps_text() hands it to the driver.  All
-- randomness comes from random() after setseed(), so a seed (with the same
-- FUZZ_NOW, steps and switches) always gives the same sequence.
--
-- Everything random lives in this one file, in four parts:
--   1. the vocabulary: fg.vocab, one row per operation, with its weight
--   2. the value generators: members, refs, amounts, points, times ...
--   3. the operations: fg.op_<name>(), each emits one or more steps
--   4. generate(): the program set-up, the main loop, the checks
-- To add an operation: write fg.op_<name>() and add its row to fg.vocab
-- (see test/fuzz/README.md).
--
-- Step kinds (fg.step.kind):
--   setup  both databases, must succeed
--   op     both databases, SQLSTATE and result compared
--   sweep  fuzz_a only (the twin fuzz_b never runs the scheduled procedures)
--   check  both databases: fuzz.digest() (verify, balances, tiers, ledger)
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS fg CASCADE;
CREATE SCHEMA fg;

-------------------------------------------------------------------------------
-- 1. Vocabulary.  grp: api | orders | sweep | config.  needs: the loyalty
-- function the operation calls (skipped when the installed version lacks it).
-- txn: may run inside a BEGIN ... COMMIT/ROLLBACK block of op_txn.
-------------------------------------------------------------------------------
CREATE TABLE fg.vocab (
  op     text PRIMARY KEY,
  grp    text NOT NULL,
  weight int  NOT NULL,
  needs  text,
  txn    boolean NOT NULL DEFAULT true
);
INSERT INTO fg.vocab (op, grp, weight, needs, txn) VALUES
  -- the SQL API
  ('enroll',         'api',     4, 'enroll',        true),
  ('earn',           'api',    22, 'earn',          true),
  ('quote',          'api',     3, 'quote',         true),
  ('record_event',   'api',     5, 'record_event',  true),
  ('redeem',         'api',    14, 'redeem',        true),
  ('redeem_value',   'api',     4, 'redeem_value',  true),
  ('refund',         'api',    10, 'refund',        true),
  ('earn_order',     'api',     8, 'earn_order',    true),
  ('quote_order',    'api',     2, 'quote_order',   true),
  ('refund_lines',   'api',     4, 'refund_lines',  true),
  ('grant_offer',    'api',     3, 'grant_offer',   true),
  ('redeem_code',    'api',     4, 'redeem_code',   true),
  ('add_codes',      'config',  1, 'add_codes',     true),
  ('adjust',         'api',     5, 'adjust',        true),
  ('transfer',       'api',     5, 'transfer',      true),
  ('redeem_reward',  'api',    10, 'redeem_reward', true),
  ('cancel_redemption', 'api',  5, 'cancel_redemption', true),
  ('balance',        'api',     5, 'balance',       true),
  ('tier_of',        'api',     3, 'tier_of',       true),
  ('replay',         'api',     7, NULL,            true),
  ('txn',            'api',     2, NULL,            false),
  ('config',         'config',  1, 'add_rule',      true),
  -- orders tables of the app (schema app)
  ('o_create',       'orders',  2, NULL,            true),
  ('o_track',        'orders',  4, 'track_orders',  true),
  ('o_untrack',      'orders',  1, 'untrack_orders', true),
  ('o_insert',       'orders', 10, NULL,            true),
  ('o_insert_many',  'orders',  4, NULL,            true),
  ('o_copy',         'orders',  3, NULL,            true),
  ('o_update',       'orders', 10, NULL,            true),
  ('o_story',        'orders',  5, NULL,            true),
  ('o_upsert',       'orders',  2, NULL,            true),
  ('o_merge',        'orders',  1, NULL,            true),
  ('o_delete',       'orders',  4, NULL,            true),
  ('o_truncate',     'orders',  1, NULL,            true),
  ('o_drop',         'orders',  1, NULL,            true),
  ('o_alter',        'orders',  2, NULL,            true),
  ('o_stale',        'orders',  1, 'untrack_orders', true),
  ('o_detach',       'orders',  1, NULL,            true),
  -- the scheduled procedures, fuzz_a only
  ('s_expire',       'sweep',   6, 'expire_points', false),
  ('s_maintenance',  'sweep',   3, 'run_maintenance', false),
  ('s_tiers',        'sweep',   2, 'evaluate_tiers', false),
  ('s_block',        'sweep',   1, 'expire_points', false);

-- the output: one row per statement
CREATE TABLE fg.step (n int PRIMARY KEY, kind text NOT NULL, op text, sql text NOT NULL);
-- run options and the program's configuration (key -> value)
CREATE TABLE fg.opt (k text PRIMARY KEY, v text);
-- distinct business times used (the instants the checks compare balances at)
CREATE TABLE fg.ats (ts timestamptz PRIMARY KEY, i serial);
-- operations with a ref, for replays and refunds
CREATE TABLE fg.hist (i serial PRIMARY KEY, op text, member text, ref text, amount text,
                      tmpl text, at text);
-- the two orders tables of the app: 'plain' and 'part' (partitioned by at)
CREATE TABLE fg.tbl (
  slot    text PRIMARY KEY,
  name    text,             -- unquoted, in schema app
  live    boolean NOT NULL DEFAULT false,
  cols    jsonb,            -- role -> {"name": ..., "type": ...}
  parts   jsonb,            -- [{"name": ..., "lo": ..., "hi": ..., "attached": bool}]
  next_id int NOT NULL DEFAULT 1
);

-------------------------------------------------------------------------------
-- 2. Random choices and values
-------------------------------------------------------------------------------
CREATE FUNCTION fg.ri(lo int, hi int) RETURNS int LANGUAGE sql VOLATILE
AS $$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;
CREATE FUNCTION fg.chance(p float8) RETURNS boolean LANGUAGE sql VOLATILE
AS $$ SELECT random() < p $$;
CREATE FUNCTION fg.pick(a anyarray) RETURNS anyelement LANGUAGE plpgsql VOLATILE
AS $$ BEGIN RETURN a[fg.ri(array_lower(a, 1), array_upper(a, 1))]; END $$;
-- weighted choice: items[i] with weight w[i]
CREATE FUNCTION fg.wpick(items text[], w int[]) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  total int := 0; x int; i int;
BEGIN
  FOR i IN 1 .. array_length(w, 1) LOOP total := total + w[i]; END LOOP;
  x := fg.ri(1, total);
  FOR i IN 1 .. array_length(w, 1) LOOP
    x := x - w[i];
    IF x <= 0 THEN RETURN items[i]; END IF;
  END LOOP;
  RETURN items[array_length(items, 1)];
END $$;

CREATE FUNCTION fg.o(key text) RETURNS text LANGUAGE sql STABLE
AS $$ SELECT v FROM fg.opt WHERE k = key $$;
CREATE FUNCTION fg.oi(key text) RETURNS int LANGUAGE sql STABLE
AS $$ SELECT v::int FROM fg.opt WHERE k = key $$;
CREATE FUNCTION fg.set(key text, val text) RETURNS void LANGUAGE sql
AS $$ INSERT INTO fg.opt VALUES (key, val) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v $$;
CREATE FUNCTION fg.now0() RETURNS timestamptz LANGUAGE sql STABLE
AS $$ SELECT v::timestamptz FROM fg.opt WHERE k = 'now0' $$;
CREATE FUNCTION fg.has(fn text) RETURNS boolean LANGUAGE sql STABLE
AS $$ SELECT fn = ANY (string_to_array(fg.o('funcs'), ',')) $$;

CREATE FUNCTION fg.emit(k text, stmt text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO fg.step (n, kind, op, sql)
  SELECT coalesce(max(n), 0) + 1, k, fg.o('cur_op'), stmt FROM fg.step
$$;

-- a numeric or bigint argument: plain when it reads as a number, else a literal
CREATE FUNCTION fg.num(x text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN x IS NULL THEN 'NULL'
              WHEN x ~ '^-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$' THEN x
              ELSE quote_literal(x) END
$$;

-- the program argument: almost always the program under test
CREATE FUNCTION fg.prog() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF fg.chance(0.97) THEN RETURN '''fz'''; END IF;
  RETURN fg.pick(ARRAY['''nope''', 'NULL', '''''']);
END $$;

-- members: a small pool ('101' ...) so operations collide; the pool also
-- fits integer member columns.  Now and then NULL, empty, 200/201/300 chars.
CREATE FUNCTION fg.member_raw() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF fg.chance(0.94) THEN RETURN (100 + fg.ri(1, fg.oi('members')))::text; END IF;
  RETURN fg.pick(ARRAY[NULL, '', repeat('m', 200), repeat('m', 201), repeat('m', 300),
                       ' 101', 'M''x', '会员1', '0101', '-1']);
END $$;

-- refs: per-kind pools ('1001'.. for orders and earn, 'rd1'.. for redeem ...),
-- reused on purpose (idempotent replays, LY005), crossing pools now and
-- then, and NULL / empty / long ones
CREATE FUNCTION fg.ref_raw(pool text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE r float8 := random();
BEGIN
  IF r < 0.86 THEN
    IF pool = 'order' THEN RETURN (1000 + fg.ri(1, 16))::text; END IF;
    RETURN pool || fg.ri(1, 8);
  ELSIF r < 0.92 THEN
    RETURN (1000 + fg.ri(1, 16))::text;
  END IF;
  RETURN fg.pick(ARRAY[NULL, '', repeat('r', 200), repeat('r', 201), repeat('r', 300),
                       'o''1', '订单-7', ' 1001', '1001#refund@10']);
END $$;

-- purchase amounts; int_only: for integer amount columns
CREATE FUNCTION fg.amount_raw(int_only boolean DEFAULT false) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE r float8 := random();
BEGIN
  IF r < 0.72 THEN
    IF NOT int_only AND fg.chance(0.4) THEN
      RETURN fg.ri(1, 400)::text || '.' || lpad(fg.ri(0, 99)::text, 2, '0');
    END IF;
    RETURN fg.ri(1, 400)::text;
  ELSIF r < 0.82 THEN
    RETURN fg.pick(ARRAY['1', '5', '0.01', '0.5', '0.001', '999', '1000']);
  END IF;
  RETURN fg.pick(ARRAY[NULL, '0', '-5', '-0.01', 'NaN', 'Infinity', '-Infinity', '1e20',
                       '99999999999999999999999', '1e-30', '123456789012.345',
                       '9223372036854775807', '1e300']);
END $$;

-- points (bigint arguments)
CREATE FUNCTION fg.points_raw() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE r float8 := random();
BEGIN
  IF r < 0.55 THEN RETURN fg.ri(1, 120)::text;
  ELSIF r < 0.82 THEN RETURN fg.ri(100, 800)::text;
  ELSIF r < 0.86 THEN RETURN '1';
  END IF;
  RETURN fg.pick(ARRAY[NULL, '0', '-1', '-50', '9223372036854775807', '-9223372036854775808',
                       '100000000000', '4611686018427387904']);
END $$;

CREATE FUNCTION fg.category_raw() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN fg.pick(ARRAY['snacks', 'snacks', 'liquor', 'liquor', 'drinks', NULL, NULL, 'other', '']);
END $$;

CREATE FUNCTION fg.event_raw() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF fg.chance(0.8) AND fg.o('events') <> '' THEN
    RETURN fg.pick(string_to_array(fg.o('events'), ','));
  END IF;
  RETURN fg.pick(ARRAY['checkin', 'signup', 'nope', NULL, '', repeat('e', 300)]);
END $$;

-- a business time on the seed's timeline: mostly the past (back-dated),
-- some future, ties with earlier times, now and then years away.  Offsets
-- are whole hours from FUZZ_NOW so that nothing lands next to the moment a
-- statement with the default now() runs (fuzz_a and fuzz_b run seconds apart).
CREATE FUNCTION fg.time_raw() RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r float8 := random(); span int := fg.oi('span'); cnt int; t timestamptz;
BEGIN
  SELECT count(*) INTO cnt FROM fg.ats;
  IF r < 0.2 AND cnt > 0 THEN
    SELECT ts INTO t FROM fg.ats ORDER BY ts OFFSET fg.ri(0, cnt - 1) LIMIT 1;
    RETURN t;
  ELSIF r < 0.72 THEN t := fg.now0() - fg.ri(0, span) * interval '1 hour';
  ELSIF r < 0.93 THEN t := fg.now0() + fg.ri(1, greatest(span / 3, 2)) * interval '1 hour';
  ELSIF r < 0.965 THEN t := fg.now0() - fg.ri(3, 30) * interval '1 year';
  ELSE t := fg.now0() + fg.ri(3, 80) * interval '1 year';
  END IF;
  INSERT INTO fg.ats (ts) VALUES (t) ON CONFLICT DO NOTHING;
  RETURN t;
END $$;

CREATE FUNCTION fg.ts_lit(t timestamptz) RETURNS text LANGUAGE sql STABLE
AS $$ SELECT quote_literal(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00') $$;

-- the at => argument of an operation ('' = left out: the default now())
CREATE FUNCTION fg.at_arg() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE r float8 := random();
BEGIN
  IF r < 0.07 THEN RETURN ''; END IF;
  IF r < 0.10 THEN
    RETURN ', at => ' || fg.pick(ARRAY['NULL', '''infinity''', '''-infinity''',
                                        '''294276-12-31 00:00:00+00''', '''4713-11-24 00:00:00+00 BC''',
                                        '''1970-01-01 00:00:00+00''']);
  END IF;
  RETURN ', at => ' || fg.ts_lit(fg.time_raw());
END $$;

-- as_of of a sweep: past, present, future, far future, odd
CREATE FUNCTION fg.as_of_lit() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE r float8 := random(); span int := fg.oi('span'); t timestamptz;
BEGIN
  IF r < 0.12 THEN RETURN NULL; END IF;              -- default: now()
  IF r < 0.50 THEN t := fg.now0() - fg.ri(0, span) * interval '1 hour';
  ELSIF r < 0.78 THEN t := fg.now0() + fg.ri(1, span) * interval '1 hour';
  ELSIF r < 0.96 THEN t := fg.now0() + fg.ri(2, 80) * interval '1 year';
  ELSE RETURN fg.pick(ARRAY['NULL', '''infinity''', '''-infinity''', '''294276-12-31 00:00:00+00''']);
  END IF;
  INSERT INTO fg.ats (ts) VALUES (t) ON CONFLICT DO NOTHING;
  RETURN fg.ts_lit(t);
END $$;

-- an API call: emit it and remember it for replays (tmpl has %AT% where the
-- at => argument goes)
CREATE FUNCTION fg.api(op text, m text, ref text, amt text, tmpl text, at text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM fg.emit('op', replace(tmpl, '%AT%', at));
  IF ref IS NOT NULL THEN
    INSERT INTO fg.hist (op, member, ref, amount, tmpl, at) VALUES (op, m, ref, amt, tmpl, at);
  END IF;
END $$;

-------------------------------------------------------------------------------
-- 3a. Operations: the SQL API
-------------------------------------------------------------------------------
-- the merchant argument (alliances, 0.6.0 on): mostly none, else a merchant
-- of the program, NULL or an unknown one
CREATE FUNCTION fg.merchant_arg() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF NOT fg.has('add_merchant') OR fg.chance(0.6) THEN RETURN ''; END IF;
  RETURN ', merchant => ' || fg.pick(ARRAY['''m1''', '''m2''', '''m2''', 'NULL', '''nowhere''']);
END $$;

CREATE FUNCTION fg.op_enroll() RETURNS void LANGUAGE plpgsql AS $$
DECLARE extra text := '';
BEGIN
  IF fg.chance(0.3) THEN
    extra := extra || ', birthday => ' ||
             quote_literal(to_char(fg.now0() - fg.ri(6000, 20000) * interval '1 day', 'YYYY-MM-DD'));
  END IF;
  IF fg.chance(0.3) THEN extra := extra || ', referred_by => ' || quote_nullable(fg.member_raw()); END IF;
  PERFORM fg.emit('op', format('SELECT loyalty.enroll(%s, %s%s%s)', fg.prog(),
                               quote_nullable(fg.member_raw()), fg.at_arg(), extra));
END $$;

CREATE FUNCTION fg.op_earn() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m text := fg.member_raw(); amt text := fg.amount_raw(); ref text := fg.ref_raw('order');
  cat text := '';
BEGIN
  IF fg.chance(0.6) THEN cat := ', category => ' || quote_nullable(fg.category_raw()); END IF;
  cat := cat || fg.merchant_arg();
  PERFORM fg.api('earn', m, ref, amt,
                 format('SELECT loyalty.earn(%s, %s, %s, %s%%AT%%%s)', fg.prog(), quote_nullable(m),
                        fg.num(amt), quote_nullable(ref), cat),
                 fg.at_arg());
END $$;

CREATE FUNCTION fg.op_quote() RETURNS void LANGUAGE plpgsql AS $$
DECLARE cat text := '';
BEGIN
  IF fg.chance(0.6) THEN cat := ', category => ' || quote_nullable(fg.category_raw()); END IF;
  PERFORM fg.emit('op', format('SELECT source, points FROM loyalty.quote(%s, %s, %s%s%s)', fg.prog(),
                               quote_nullable(fg.member_raw()), fg.num(fg.amount_raw()), fg.at_arg(), cat));
END $$;

CREATE FUNCTION fg.op_record_event() RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text := fg.member_raw(); ref text := fg.ref_raw('ev');
BEGIN
  PERFORM fg.api('record_event', m, ref, NULL,
                 format('SELECT loyalty.record_event(%s, %s, %s, %s%%AT%%%s)', fg.prog(), quote_nullable(m),
                        quote_nullable(fg.event_raw()), quote_nullable(ref), fg.merchant_arg()),
                 fg.at_arg());
END $$;

CREATE FUNCTION fg.op_redeem() RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text := fg.member_raw(); ref text := fg.ref_raw('rd');
BEGIN
  PERFORM fg.api('redeem', m, ref, NULL,
                 format('SELECT loyalty.redeem(%s, %s, %s, %s%%AT%%%s)', fg.prog(), quote_nullable(m),
                        fg.num(fg.points_raw()), quote_nullable(ref), fg.merchant_arg()),
                 fg.at_arg());
END $$;

CREATE FUNCTION fg.op_redeem_value() RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text := fg.member_raw(); ref text := fg.ref_raw('rv'); v text;
BEGIN
  v := CASE WHEN fg.chance(0.8) THEN round(fg.ri(1, 60) / 10.0, 1)::text ELSE fg.amount_raw() END;
  PERFORM fg.api('redeem_value', m, ref, v,
                 format('SELECT loyalty.redeem_value(%s, %s, %s, %s%%AT%%%s)', fg.prog(), quote_nullable(m),
                        fg.num(v), quote_nullable(ref), fg.merchant_arg()),
                 fg.at_arg());
END $$;

-- a refund, mostly of a purchase made before (by the API or an orders
-- table), in part, in full, more than the order, or of an unknown ref
CREATE FUNCTION fg.op_refund() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  h record; m text; orig text; amt text; cnt int; ref text := fg.ref_raw('rf');
BEGIN
  SELECT count(*) INTO cnt FROM fg.hist WHERE op IN ('earn', 'earn_order');
  IF cnt > 0 AND fg.chance(0.8) THEN
    SELECT * INTO h FROM fg.hist WHERE op IN ('earn', 'earn_order') ORDER BY i OFFSET fg.ri(0, cnt - 1) LIMIT 1;
    m := h.member; orig := h.ref;
    IF fg.chance(0.1) THEN m := fg.member_raw(); END IF;     -- somebody else's order number
    IF h.amount ~ '^[0-9]+(\.[0-9]+)?$' AND fg.chance(0.85) THEN
      amt := fg.wpick(ARRAY['full', 'part', 'part', 'over', 'tiny'], ARRAY[3, 4, 0, 1, 1]);
      amt := CASE amt WHEN 'full' THEN h.amount
                      WHEN 'part' THEN round(h.amount::numeric * fg.pick(ARRAY[0.1, 0.25, 0.5, 0.75]), 2)::text
                      WHEN 'over' THEN (h.amount::numeric + 1)::text
                      ELSE '0.01' END;
      IF amt = '0.00' THEN amt := '0.01'; END IF;
    ELSE
      amt := fg.amount_raw();
    END IF;
  ELSE
    m := fg.member_raw(); orig := fg.ref_raw('order'); amt := fg.amount_raw();
    IF fg.chance(0.3) THEN orig := 'unknown' || fg.ri(1, 3); END IF;
  END IF;
  PERFORM fg.api('refund', m, ref, amt,
                 format('SELECT loyalty.refund(%s, %s, %s, %s, %s%%AT%%)', fg.prog(), quote_nullable(m),
                        quote_nullable(orig), fg.num(amt), quote_nullable(ref)),
                 fg.at_arg());
END $$;

-- a receipt of 1-4 lines (receipts, 0.5.0): amounts as JSON numbers, now and
-- then a bad line (a string amount, NaN as text, a duplicate key, nothing)
CREATE FUNCTION fg.lines_raw() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE n int := fg.ri(1, 4); parts text[] := '{}'; a text; c text; k text;
BEGIN
  IF fg.chance(0.03) THEN RETURN fg.pick(ARRAY['[]', '{}', '5', 'null', '[{"line": "1"}]']); END IF;
  FOR i IN 1 .. n LOOP
    a := fg.amount_raw();
    IF a IS NULL OR a !~ '^-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$' THEN a := to_json(coalesce(a, 'x'))::text; END IF;
    c := fg.category_raw();
    k := CASE WHEN fg.chance(0.05) THEN '"1"' ELSE to_json(i::text)::text END;
    parts := parts || format('{"line": %s, "category": %s, "amount": %s}', k,
                             coalesce(to_json(c)::text, 'null'), a);
  END LOOP;
  RETURN '[' || array_to_string(parts, ', ') || ']';
END $$;

CREATE FUNCTION fg.op_earn_order() RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text := fg.member_raw(); ref text := fg.ref_raw('order'); l text := fg.lines_raw(); tot text;
BEGIN
  BEGIN
    SELECT sum((x ->> 'amount')::numeric)::text INTO tot FROM jsonb_array_elements(l::jsonb) x;
  EXCEPTION WHEN OTHERS THEN tot := NULL;
  END;
  PERFORM fg.api('earn_order', m, ref, tot,
                 format('SELECT loyalty.earn_order(%s, %s, %s, %s%%AT%%%s)', fg.prog(), quote_nullable(m),
                        quote_literal(l), quote_nullable(ref), fg.merchant_arg()),
                 fg.at_arg());
END $$;

CREATE FUNCTION fg.op_quote_order() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM fg.emit('op', format('SELECT source, points FROM loyalty.quote_order(%s, %s, %s%s)', fg.prog(),
                               quote_nullable(fg.member_raw()), quote_literal(fg.lines_raw()), fg.at_arg()));
END $$;

-- lines of a receipt made before (or of a plain purchase: its line "1")
CREATE FUNCTION fg.op_refund_lines() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  h record; cnt int; ref text := fg.ref_raw('rl'); lines text;
BEGIN
  SELECT count(*) INTO cnt FROM fg.hist WHERE op IN ('earn_order', 'earn');
  IF cnt = 0 THEN RETURN; END IF;
  SELECT * INTO h FROM fg.hist WHERE op IN ('earn_order', 'earn') ORDER BY i OFFSET fg.ri(0, cnt - 1) LIMIT 1;
  lines := format('[{"line": %s, "amount": %s}]', to_json(fg.ri(1, 3)::text),
                  fg.pick(ARRAY['0.01', '1', '5', '10.5', '50', '400', '1000']));
  IF fg.chance(0.3) THEN
    lines := format('[{"line": "1", "amount": %s}, {"line": "2", "amount": %s}]',
                    fg.pick(ARRAY['1', '2.5', '20']), fg.pick(ARRAY['1', '3', '100']));
  END IF;
  PERFORM fg.api('refund_lines', h.member, ref, NULL,
                 format('SELECT loyalty.refund_lines(%s, %s, %s, %s, %s%%AT%%)', fg.prog(), quote_nullable(h.member),
                        quote_nullable(h.ref), quote_literal(lines), quote_nullable(ref)),
                 fg.at_arg());
END $$;

CREATE FUNCTION fg.op_adjust() RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text := fg.member_raw(); ref text := fg.ref_raw('ad'); p text := fg.points_raw();
BEGIN
  IF p ~ '^[0-9]+$' AND fg.chance(0.45) THEN p := '-' || p; END IF;
  PERFORM fg.api('adjust', m, ref, p,
                 format('SELECT loyalty.adjust(%s, %s, %s, %s, %s%%AT%%)', fg.prog(), quote_nullable(m),
                        fg.num(p), quote_nullable(fg.pick(ARRAY['goodwill', 'goodwill', 'fix', NULL, '', repeat('x', 300)])),
                        quote_nullable(ref)),
                 fg.at_arg());
END $$;

CREATE FUNCTION fg.op_transfer() RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text := fg.member_raw(); ref text := fg.ref_raw('tr'); m2 text;
BEGIN
  m2 := fg.wpick(ARRAY['pool', 'self', 'new'], ARRAY[8, 1, 1]);
  m2 := CASE m2 WHEN 'pool' THEN fg.member_raw() WHEN 'self' THEN m ELSE 'new' || fg.ri(1, 3) END;
  PERFORM fg.api('transfer', m, ref, NULL,
                 format('SELECT loyalty.transfer(%s, %s, %s, %s, %s%%AT%%)', fg.prog(), quote_nullable(m),
                        quote_nullable(m2), fg.num(fg.points_raw()), quote_nullable(ref)),
                 fg.at_arg());
END $$;

-- the points mall (0.6.0): rewards made at set-up (a limited mug, a tea
-- with a per-member limit and a cash part, an unlimited pin), some unknown
CREATE FUNCTION fg.op_redeem_reward() RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text := fg.member_raw(); ref text := fg.ref_raw('rw');
BEGIN
  PERFORM fg.api('redeem_reward', m, ref, NULL,
                 format('SELECT loyalty.redeem_reward(%s, %s, %s, %s, %s%%AT%%)', fg.prog(), quote_nullable(m),
                        quote_nullable(fg.wpick(ARRAY['mug', 'tea', 'pin', 'nope', NULL], ARRAY[4, 3, 3, 1, 1])),
                        fg.wpick(ARRAY['1', '2', '3', '0', 'NULL'], ARRAY[6, 2, 1, 1, 1]), quote_nullable(ref)),
                 fg.at_arg());
END $$;

-- a redemption made before (or an unknown one), cancelled with a new ref
CREATE FUNCTION fg.op_cancel_redemption() RETURNS void LANGUAGE plpgsql AS $$
DECLARE h record; cnt int; ref text := fg.ref_raw('cx'); m text; rref text;
BEGIN
  SELECT count(*) INTO cnt FROM fg.hist WHERE op = 'redeem_reward';
  IF cnt = 0 OR fg.chance(0.1) THEN
    m := fg.member_raw(); rref := fg.ref_raw('rw');
  ELSE
    SELECT * INTO h FROM fg.hist WHERE op = 'redeem_reward' ORDER BY i OFFSET fg.ri(0, cnt - 1) LIMIT 1;
    m := h.member; rref := h.ref;
  END IF;
  PERFORM fg.api('cancel_redemption', m, ref, NULL,
                 format('SELECT loyalty.cancel_redemption(%s, %s, %s, %s%%AT%%)', fg.prog(), quote_nullable(m),
                        quote_nullable(rref), quote_nullable(ref)),
                 fg.at_arg());
END $$;

CREATE FUNCTION fg.op_balance() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM fg.emit('op', format('SELECT loyalty.balance(%s, %s%s)', fg.prog(),
                               quote_nullable(fg.member_raw()), fg.at_arg()));
END $$;

CREATE FUNCTION fg.op_tier_of() RETURNS void LANGUAGE plpgsql AS $$
DECLARE at text := '';
BEGIN
  IF fg.o('tier_of_at') = 'true' THEN at := fg.at_arg(); END IF;
  PERFORM fg.emit('op', format('SELECT loyalty.tier_of(%s, %s%s)', fg.prog(),
                               quote_nullable(fg.member_raw()), at));
END $$;

-- the same call again: same member, ref and arguments; the at of a retry
-- may differ.  Mostly the first result comes back, nothing written.
CREATE FUNCTION fg.op_replay() RETURNS void LANGUAGE plpgsql AS $$
DECLARE h record; cnt int;
BEGIN
  SELECT count(*) INTO cnt FROM fg.hist WHERE tmpl IS NOT NULL;
  IF cnt = 0 THEN PERFORM fg.op_earn(); RETURN; END IF;
  SELECT * INTO h FROM fg.hist WHERE tmpl IS NOT NULL ORDER BY i OFFSET fg.ri(0, cnt - 1) LIMIT 1;
  PERFORM fg.emit('op', replace(h.tmpl, '%AT%', CASE WHEN fg.chance(0.5) THEN h.at ELSE fg.at_arg() END));
END $$;

-- an offer granted to a member (the rule may not be an offer: LY007), some
-- with a window, some with a ref (replayed like the other operations)
CREATE FUNCTION fg.op_grant_offer() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m text := fg.member_raw(); ref text := CASE WHEN fg.chance(0.6) THEN fg.ref_raw('gr') END;
  rules text[] := string_to_array(fg.o('rules'), ','); win text := ''; from_at timestamptz;
BEGIN
  IF fg.chance(0.5) THEN
    from_at := fg.now0() - fg.ri(0, fg.oi('span')) * interval '1 hour';
    win := format(', valid_from => %s, valid_until => %s', fg.ts_lit(from_at),
                  fg.ts_lit(from_at + fg.ri(1, fg.oi('span')) * interval '1 hour'));
  END IF;
  PERFORM fg.api('grant_offer', m, ref, NULL,
                 format('SELECT loyalty.grant_offer(%s, %s, %s, %s%s%s)', fg.prog(), quote_nullable(m),
                        quote_nullable(CASE WHEN cardinality(rules) > 0 AND fg.chance(0.9) THEN fg.pick(rules) ELSE 'nope' END),
                        fg.pick(ARRAY['1', '1', '2', '5', '0']), win,
                        CASE WHEN ref IS NULL THEN '' ELSE ', ref => ' || quote_literal(ref) END),
                 '');
END $$;

-- a batch of codes K1..K30 in random ranges (ranges overlap: LY007 all or none)
CREATE FUNCTION fg.op_add_codes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE lo int := fg.ri(1, 30); n int := fg.ri(1, 6);
BEGIN
  PERFORM fg.emit('op', format(
    'SELECT loyalty.add_codes(''fz'', %L, ARRAY(SELECT ''K'' || g FROM generate_series(%s, %s) g), %s%s)',
    fg.pick(ARRAY['caps', 'lids']), lo, lo + n - 1, fg.pick(ARRAY['5', '20', '100']),
    CASE WHEN fg.chance(0.4) THEN ', valid_until => ' || fg.ts_lit(fg.now0() - fg.ri(0, fg.oi('span')) * interval '1 hour' + interval '10 days') ELSE '' END));
END $$;

-- a code scanned by a member: unknown (LY009), expired, used by another (LY008) or credited
CREATE FUNCTION fg.op_redeem_code() RETURNS void LANGUAGE plpgsql AS $$
DECLARE m text := fg.member_raw(); code text := 'K' || fg.ri(1, 36);
BEGIN
  PERFORM fg.api('redeem_code', m, 'code:' || code, NULL,
                 format('SELECT loyalty.redeem_code(%s, %s, %L%%AT%%)', fg.prog(), quote_nullable(m), code),
                 fg.at_arg());
END $$;

-- configuration changes while the program runs
CREATE FUNCTION fg.op_config() RETURNS void LANGUAGE plpgsql AS $$
DECLARE c text := fg.wpick(ARRAY['active', 'rule', 'setting'], ARRAY[3, 3, 2]); rules text[];
BEGIN
  rules := string_to_array(fg.o('rules'), ',');
  IF c = 'active' AND cardinality(rules) > 0 THEN
    PERFORM fg.emit('op', format('SELECT loyalty.set_rule_active(''fz'', %L, %s)', fg.pick(rules),
                                 fg.pick(ARRAY['true', 'false'])));
  ELSIF c = 'setting' THEN
    PERFORM fg.emit('op', format('SELECT loyalty.create_program(''fz'', %s)',
      fg.pick(ARRAY['points_per_unit => 2', 'points_per_unit => 1', 'rounding => ''ceil''',
                    'stacking => ''add''', 'max_multiplier => 2',
                    'expiry_after => ''60 days''', 'name => ''renamed''',
                    'pending_for => ''2 days''', 'points_per_value => 50'])) || ' IS NOT NULL');
  ELSE
    PERFORM fg.add_rule('late' || fg.ri(1, 3), 'op');
  END IF;
END $$;

-- a transaction block of a few operations, committed or rolled back
CREATE FUNCTION fg.op_txn() RETURNS void LANGUAGE plpgsql AS $$
DECLARE k int := fg.ri(1, 4);
BEGIN
  PERFORM fg.emit('op', 'BEGIN');
  FOR i IN 1 .. k LOOP PERFORM fg.run_op(fg.choose(true)); END LOOP;
  PERFORM fg.emit('op', fg.pick(ARRAY['COMMIT', 'COMMIT', 'ROLLBACK']));
END $$;

-------------------------------------------------------------------------------
-- 3b. Operations: the app's orders tables (schema app)
-------------------------------------------------------------------------------
CREATE FUNCTION fg.qt(s text) RETURNS text LANGUAGE sql STABLE
AS $$ SELECT 'app.' || quote_ident(name) FROM fg.tbl WHERE slot = s $$;
-- a column of the table: its name quoted, NULL when the table has none for the role
CREATE FUNCTION fg.qc(s text, role text) RETURNS text LANGUAGE sql STABLE
AS $$ SELECT quote_ident(cols -> role ->> 'name') FROM fg.tbl WHERE slot = s $$;
CREATE FUNCTION fg.ctype(s text, role text) RETURNS text LANGUAGE sql STABLE
AS $$ SELECT cols -> role ->> 'type' FROM fg.tbl WHERE slot = s $$;
CREATE FUNCTION fg.is_int(typ text) RETURNS boolean LANGUAGE sql IMMUTABLE
AS $$ SELECT typ IN ('integer', 'bigint', 'smallint') $$;

-- a live table, or NULL
CREATE FUNCTION fg.live_slot() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE s text[];
BEGIN
  SELECT array_agg(slot ORDER BY slot) INTO s FROM fg.tbl WHERE live;
  IF s IS NULL THEN RETURN NULL; END IF;
  RETURN fg.pick(s);
END $$;

-- a value (raw text, NULL for SQL NULL) for a column of the role
CREATE FUNCTION fg.col_raw(s text, role text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE typ text := fg.ctype(s, role); v text; t timestamptz;
BEGIN
  CASE role
  WHEN 'member' THEN
    v := fg.member_raw();
    IF fg.is_int(typ) AND v !~ '^[0-9]+$' AND fg.chance(0.7) THEN v := (100 + fg.ri(1, fg.oi('members')))::text; END IF;
  WHEN 'ref' THEN
    v := fg.ref_raw('order');
    IF fg.is_int(typ) AND v !~ '^[0-9]+$' AND fg.chance(0.7) THEN v := (1000 + fg.ri(1, 16))::text; END IF;
  WHEN 'amount' THEN v := fg.amount_raw(fg.is_int(typ));
  WHEN 'refunded' THEN
    v := fg.wpick(ARRAY['0', 'null', 'some', 'odd'], ARRAY[14, 2, 3, 1]);
    v := CASE v WHEN '0' THEN '0' WHEN 'null' THEN NULL WHEN 'some' THEN fg.ri(1, 60)::text
                ELSE fg.pick(ARRAY['-5', 'NaN', '1e20']) END;
  WHEN 'category' THEN v := fg.category_raw();
  WHEN 'at' THEN
    IF fg.chance(0.05) THEN RETURN NULL; END IF;
    IF fg.chance(0.03) THEN RETURN fg.pick(ARRAY['infinity', '-infinity']); END IF;
    t := fg.time_raw();
    v := CASE typ WHEN 'date' THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                  WHEN 'timestamp' THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                  ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00' END;
  ELSE v := NULL;
  END CASE;
  RETURN v;
END $$;

CREATE FUNCTION fg.roles(s text) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT array_agg(r ORDER BY o) FROM fg.tbl, unnest(ARRAY['member', 'amount', 'ref', 'at', 'category', 'refunded'])
         WITH ORDINALITY u(r, o)
  WHERE slot = s AND cols ? r
$$;

-- (id, columns...) of an INSERT: some optional columns left to their defaults
CREATE FUNCTION fg.ins_roles(s text) RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE r text; out text[] := '{}';
BEGIN
  FOREACH r IN ARRAY fg.roles(s) LOOP
    IF r IN ('category', 'refunded', 'at') AND fg.chance(0.1) THEN CONTINUE; END IF;
    out := out || r;
  END LOOP;
  RETURN out;
END $$;

CREATE FUNCTION fg.col_list(s text, roles text[]) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT 'id' || coalesce(string_agg(', ' || fg.qc(s, r), '' ORDER BY o), '')
  FROM unnest(roles) WITH ORDINALITY u(r, o)
$$;

CREATE FUNCTION fg.next_id(s text) RETURNS int LANGUAGE sql AS $$
  UPDATE fg.tbl SET next_id = next_id + 1 WHERE slot = s RETURNING next_id - 1
$$;

-- the id of a row that probably exists
CREATE FUNCTION fg.some_id(s text) RETURNS int LANGUAGE sql VOLATILE
AS $$ SELECT fg.ri(1, greatest(next_id - 1, 1)) FROM fg.tbl WHERE slot = s $$;

-- remember an order row for API refunds of it
CREATE FUNCTION fg.note_order(member text, ref text, amount text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO fg.hist (op, member, ref, amount, tmpl, at)
  SELECT 'earn', member, ref, amount, NULL, NULL WHERE member IS NOT NULL AND ref IS NOT NULL
$$;

-- a VALUES row for the roles; notes the order
CREATE FUNCTION fg.values_row(s text, roles text[]) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE r text; v text; vals text := fg.next_id(s)::text; mem text; ref text; amt text;
BEGIN
  FOREACH r IN ARRAY roles LOOP
    v := fg.col_raw(s, r);
    IF r = 'member' THEN mem := v; ELSIF r = 'ref' THEN ref := v; ELSIF r = 'amount' THEN amt := v; END IF;
    vals := vals || ', ' || quote_nullable(v);
  END LOOP;
  PERFORM fg.note_order(mem, ref, amt);
  RETURN '(' || vals || ')';
END $$;

CREATE FUNCTION fg.table_names(s text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE s WHEN 'plain' THEN ARRAY['orders', 'Orders "1"', 'sales']
                ELSE ARRAY['porders', 'Part Orders'] END
$$;

-- a new table in the slot: random column names, types and order
CREATE FUNCTION fg.op_o_create(s text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t record; v_cols jsonb := '{}'; r text; defs text[] := '{}'; nm text; typ text;
  parted boolean; b1 timestamptz; b2 timestamptz; v_parts jsonb := '[]'; pn text; lo text; hi text;
  i int; use_default boolean; order_roles text[];
BEGIN
  IF s IS NULL THEN s := fg.pick(ARRAY['plain', 'part']); END IF;
  SELECT * INTO t FROM fg.tbl WHERE slot = s;
  IF t.live THEN PERFORM fg.op_o_drop(s); END IF;
  parted := (s = 'part');
  nm := fg.pick(fg.table_names(s));
  FOREACH r IN ARRAY ARRAY['member', 'amount', 'ref', 'at', 'category', 'refunded'] LOOP
    IF r IN ('category', 'refunded') AND fg.chance(0.15) THEN CONTINUE; END IF;
    v_cols := v_cols || jsonb_build_object(r, jsonb_build_object(
      'name', CASE r
        WHEN 'member'   THEN fg.pick(ARRAY['member', 'cust', 'Cust No'])
        WHEN 'amount'   THEN fg.pick(ARRAY['amount', 'amt', 'Amount (¥)'])
        WHEN 'ref'      THEN fg.pick(ARRAY['ref', 'no', 'order no'])
        WHEN 'at'       THEN fg.pick(ARRAY['at', 'ordered_at', 'Order "Time"'])
        WHEN 'category' THEN fg.pick(ARRAY['category', 'cat'])
        ELSE fg.pick(ARRAY['refunded', 'refund_amt']) END,
      'type', CASE r
        WHEN 'member'   THEN fg.wpick(ARRAY['text', 'integer', 'bigint', 'varchar(40)'], ARRAY[4, 2, 1, 1])
        WHEN 'amount'   THEN fg.wpick(ARRAY['numeric', 'numeric(12,2)', 'integer', 'double precision'], ARRAY[4, 3, 1, 1])
        WHEN 'ref'      THEN fg.wpick(ARRAY['text', 'bigint', 'integer', 'varchar(300)'], ARRAY[4, 2, 1, 1])
        WHEN 'at'       THEN fg.wpick(ARRAY['timestamptz', 'timestamp', 'date'], ARRAY[4, 2, 1])
        WHEN 'category' THEN 'text'
        ELSE fg.wpick(ARRAY['numeric', 'numeric(12,2)', 'integer'], ARRAY[4, 2, 1]) END));
  END LOOP;
  -- column order: shuffled
  SELECT array_agg(k ORDER BY random()) INTO order_roles FROM (SELECT k FROM jsonb_object_keys(v_cols) k ORDER BY k) q;
  FOREACH r IN ARRAY order_roles LOOP
    defs := defs || (quote_ident(v_cols -> r ->> 'name') || ' ' || (v_cols -> r ->> 'type') ||
                     CASE WHEN r = 'refunded' THEN ' DEFAULT 0' ELSE '' END);
  END LOOP;
  UPDATE fg.tbl SET name = nm, live = true, cols = v_cols, next_id = greatest(fg.tbl.next_id, 1), parts = '[]'
  WHERE slot = s;
  IF NOT parted THEN
    PERFORM fg.emit('op', format('CREATE TABLE app.%I (id bigint PRIMARY KEY, %s)', nm, array_to_string(defs, ', ')));
    RETURN;
  END IF;
  PERFORM fg.emit('op', format('CREATE TABLE app.%I (id bigint, %s) PARTITION BY RANGE (%I)', nm,
                               array_to_string(defs, ', '), v_cols -> 'at' ->> 'name'));
  -- 2 or 3 partitions around the timeline, the last one sometimes DEFAULT
  b1 := fg.now0() - (fg.oi('span') / 2) * interval '1 hour';
  b2 := fg.now0() - fg.ri(0, 48) * interval '1 hour';
  typ := v_cols -> 'at' ->> 'type';
  FOR i IN 0 .. fg.ri(1, 2) LOOP
    pn := nm || '_p' || i;
    lo := CASE i WHEN 0 THEN 'MINVALUE' WHEN 1 THEN fg.typed_at(b1, typ) ELSE fg.typed_at(b2, typ) END;
    hi := CASE WHEN i = 0 THEN fg.typed_at(b1, typ) ELSE 'MAXVALUE' END;
    IF i = 1 AND fg.chance(0.5) THEN hi := fg.typed_at(b2, typ); END IF;
    use_default := (i = 2 AND fg.chance(0.4));
    IF i = 2 AND NOT use_default THEN lo := fg.typed_at(b2, typ); END IF;
    IF i = 1 AND hi = 'MAXVALUE' THEN
      -- this partition takes everything from b1 on: no third one
      PERFORM fg.emit('op', format('CREATE TABLE app.%I PARTITION OF app.%I FOR VALUES FROM (%s) TO (MAXVALUE)',
                                   pn, nm, lo));
      v_parts := v_parts || jsonb_build_object('name', pn, 'bound', format('FOR VALUES FROM (%s) TO (MAXVALUE)', lo), 'attached', true);
      EXIT;
    END IF;
    IF i = 1 AND fg.chance(0.5) THEN
      -- a partition made on its own, columns in another order, then attached
      PERFORM fg.emit('op', format('CREATE TABLE app.%I (%s, id bigint)', pn,
                                   (SELECT string_agg(d, ', ' ORDER BY md5(d || nm)) FROM unnest(defs) d)));
      PERFORM fg.emit('op', format('ALTER TABLE app.%I ATTACH PARTITION app.%I FOR VALUES FROM (%s) TO (%s)',
                                   nm, pn, lo, hi));
    ELSIF use_default THEN
      PERFORM fg.emit('op', format('CREATE TABLE app.%I PARTITION OF app.%I DEFAULT', pn, nm));
    ELSE
      PERFORM fg.emit('op', format('CREATE TABLE app.%I PARTITION OF app.%I FOR VALUES FROM (%s) TO (%s)',
                                   pn, nm, lo, hi));
    END IF;
    v_parts := v_parts || jsonb_build_object('name', pn, 'attached', true,
                                         'bound', CASE WHEN use_default THEN 'DEFAULT'
                                                       ELSE format('FOR VALUES FROM (%s) TO (%s)', lo, hi) END);
  END LOOP;
  UPDATE fg.tbl SET parts = v_parts WHERE slot = s;
END $$;

CREATE FUNCTION fg.typed_at(t timestamptz, typ text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT quote_literal(CASE typ WHEN 'date' THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                                WHEN 'timestamp' THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                                ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00' END)
$$;

-- the table, or NULL after creating one (the caller then does nothing more)
CREATE FUNCTION fg.need_table(want_tracked boolean DEFAULT false) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text := fg.live_slot();
BEGIN
  IF s IS NULL THEN
    PERFORM fg.op_o_create();
    -- tracked at once, or later: rows from before tracking (backfill or not)
    IF want_tracked AND fg.chance(0.6) THEN PERFORM fg.op_o_track(fg.live_slot()); END IF;
    RETURN NULL;
  END IF;
  RETURN s;
END $$;

-- track_orders, with and without the optional columns and backfill; again
-- on a tracked table; now and then a partition or a wrong column
CREATE FUNCTION fg.op_o_track(s text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
DECLARE target text; args text := ''; t record; p jsonb;
BEGIN
  IF s IS NULL THEN s := fg.live_slot(); END IF;
  IF s IS NULL THEN PERFORM fg.op_o_create(); s := fg.live_slot(); END IF;
  SELECT * INTO t FROM fg.tbl WHERE slot = s;
  target := fg.qt(s);
  IF t.parts IS NOT NULL AND jsonb_array_length(t.parts) > 0 AND fg.chance(0.08) THEN
    p := t.parts -> fg.ri(0, jsonb_array_length(t.parts) - 1);
    target := 'app.' || quote_ident(p ->> 'name');
  END IF;
  IF t.cols ? 'at' AND fg.chance(0.85) THEN args := args || ', at_column => ' || quote_literal(t.cols -> 'at' ->> 'name'); END IF;
  IF t.cols ? 'category' AND fg.chance(0.6) THEN args := args || ', category_column => ' || quote_literal(t.cols -> 'category' ->> 'name'); END IF;
  IF t.cols ? 'refunded' AND fg.chance(0.75) THEN args := args || ', refund_column => ' || quote_literal(t.cols -> 'refunded' ->> 'name'); END IF;
  IF fg.chance(0.03) THEN args := args || ', category_column => ''nope'''; END IF;
  IF fg.chance(0.6) THEN args := args || ', backfill => ' || fg.pick(ARRAY['true', 'true', 'false']); END IF;
  PERFORM fg.emit('op', format('SELECT loyalty.track_orders(%L, %s, %L, %L, %L%s)', target,
                               CASE WHEN fg.chance(0.97) THEN '''fz''' ELSE '''nope''' END,
                               t.cols -> 'member' ->> 'name', t.cols -> 'amount' ->> 'name',
                               t.cols -> 'ref' ->> 'name', args));
END $$;

CREATE FUNCTION fg.op_o_untrack() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text := fg.need_table();
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  PERFORM fg.emit('op', format('SELECT loyalty.untrack_orders(%L)', fg.qt(s)));
END $$;

CREATE FUNCTION fg.op_o_insert() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text := fg.need_table(true); roles text[];
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  roles := fg.ins_roles(s);
  PERFORM fg.emit('op', format('INSERT INTO %s (%s) VALUES %s', fg.qt(s), fg.col_list(s, roles),
                               fg.values_row(s, roles)));
END $$;

-- several rows in one statement: VALUES lists or INSERT ... SELECT
CREATE FUNCTION fg.op_o_insert_many() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s text := fg.need_table(true); roles text[]; rows text[] := '{}'; k int := fg.ri(2, 6);
  base int; exprs text[] := '{}'; r text; typ text; t0 timestamptz; bad int; e text;
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  roles := fg.ins_roles(s);
  IF fg.chance(0.5) THEN
    FOR i IN 1 .. k LOOP rows := rows || fg.values_row(s, roles); END LOOP;
    PERFORM fg.emit('op', format('INSERT INTO %s (%s) VALUES %s', fg.qt(s), fg.col_list(s, roles),
                                 array_to_string(rows, ', ')));
    RETURN;
  END IF;
  -- INSERT ... SELECT over generate_series; row bad (if any) gets a NULL
  SELECT next_id INTO base FROM fg.tbl WHERE slot = s;
  UPDATE fg.tbl SET next_id = next_id + k WHERE slot = s;
  bad := CASE WHEN fg.chance(0.25) THEN fg.ri(0, k - 1) ELSE -1 END;
  t0 := fg.time_raw();
  FOREACH r IN ARRAY roles LOOP
    typ := fg.ctype(s, r);
    e := CASE r
      WHEN 'member' THEN format('(%s + g %% %s)', 100 + fg.ri(1, 2), fg.ri(1, fg.oi('members')))
      WHEN 'ref' THEN CASE WHEN fg.chance(0.7) THEN format('(%s + g)', 1000 + fg.ri(1, 14))
                           ELSE format('(%s + g %% 2)', 1000 + fg.ri(1, 14)) END
      WHEN 'amount' THEN format('(%s + g * %s)', fg.ri(1, 200), fg.ri(1, 50))
      WHEN 'at' THEN format('(%s::timestamptz - g * interval ''%s hours'')', fg.ts_lit(t0), fg.ri(1, 200))
      WHEN 'category' THEN '(ARRAY[''snacks'', ''liquor'', ''drinks''])[1 + g % 3]'
      ELSE '0' END;
    -- member and ref go in as text unless the column is an integer
    e := format('CAST(%s AS %s)', e,
                CASE WHEN r IN ('member', 'ref', 'category') AND NOT fg.is_int(typ) THEN 'text'
                     WHEN r IN ('member', 'ref') THEN typ
                     ELSE typ END);
    IF bad >= 0 AND fg.chance(0.5) THEN e := format('CASE WHEN g = %s THEN NULL ELSE %s END', bad, e); END IF;
    exprs := exprs || e;
  END LOOP;
  PERFORM fg.emit('op', format('INSERT INTO %s (%s) SELECT %s + g, %s FROM generate_series(0, %s) g',
                               fg.qt(s), fg.col_list(s, roles), base, array_to_string(exprs, ', '), k - 1));
END $$;

CREATE FUNCTION fg.copy_esc(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN v IS NULL THEN '\N'
              ELSE replace(replace(replace(v, '\', '\\'), E'\t', '\t'), E'\n', '\n') END
$$;

CREATE FUNCTION fg.op_o_copy() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s text := fg.need_table(true); roles text[]; lines text := ''; r text; v text; line text;
  mem text; ref text; amt text;
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  roles := fg.ins_roles(s);
  FOR i IN 1 .. fg.ri(1, 5) LOOP
    line := fg.next_id(s)::text; mem := NULL; ref := NULL; amt := NULL;
    FOREACH r IN ARRAY roles LOOP
      v := fg.col_raw(s, r);
      IF r = 'member' THEN mem := v; ELSIF r = 'ref' THEN ref := v; ELSIF r = 'amount' THEN amt := v; END IF;
      line := line || E'\t' || fg.copy_esc(v);
    END LOOP;
    PERFORM fg.note_order(mem, ref, amt);
    lines := lines || line || E'\n';
  END LOOP;
  PERFORM fg.emit('op', format(E'COPY %s (%s) FROM stdin;\n%s\\.', fg.qt(s), fg.col_list(s, roles), lines));
END $$;

-- the rows an UPDATE or DELETE touches
CREATE FUNCTION fg.where_rows(s text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE w text := fg.wpick(ARRAY['id', 'member', 'all', 'half', 'at'], ARRAY[10, 3, 2, 3, 1]);
BEGIN
  RETURN CASE w
    WHEN 'id' THEN CASE WHEN fg.chance(0.5) THEN format('id = %s', fg.some_id(s))
                        -- a row that exists (the k-th one), whatever failed before
                        ELSE format('id = (SELECT id FROM %s ORDER BY id OFFSET %s LIMIT 1)', fg.qt(s), fg.ri(0, 4)) END
    WHEN 'member' THEN format('%s = %L', fg.qc(s, 'member'), (100 + fg.ri(1, fg.oi('members')))::text)
    WHEN 'all' THEN 'true'
    WHEN 'half' THEN 'id % 2 = ' || fg.ri(0, 1)
    ELSE format('%s < %s', coalesce(fg.qc(s, 'at'), 'id'),
                CASE WHEN fg.qc(s, 'at') IS NULL THEN fg.some_id(s)::text
                     ELSE fg.typed_at(fg.time_raw(), fg.ctype(s, 'at')) END) END;
END $$;

-- the SET list of an UPDATE: one to three of member, ref, amount, the
-- refund column up and down, at (a partition move), category
CREATE FUNCTION fg.update_sets(s text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE sets text[] := '{}'; r text; roles text[] := fg.roles(s); c text; k int; amt text;
BEGIN
  amt := coalesce(fg.qc(s, 'amount'), '1');
  FOR i IN 1 .. fg.wpick(ARRAY['1', '2', '3'], ARRAY[6, 3, 1])::int LOOP
    -- the refund column and the member are the most interesting ones
    r := fg.wpick(ARRAY['member', 'ref', 'amount', 'refunded', 'at', 'category'], ARRAY[3, 2, 2, 6, 3, 1]);
    IF NOT r = ANY (roles) THEN r := roles[fg.ri(1, cardinality(roles))]; END IF;
    c := fg.qc(s, r);
    IF EXISTS (SELECT FROM unnest(sets) x WHERE x LIKE c || ' = %') THEN CONTINUE; END IF;
    IF r = 'refunded' THEN
      k := fg.ri(1, 60);
      sets := sets || (c || ' = ' || fg.wpick(ARRAY[
        format('coalesce(%s, 0) + %s', c, k), format('%s - %s', c, k), amt, amt || ' / 2',
        format('coalesce(%s, 0) + %s / 4', c, amt), 'NULL', '0', amt || ' + 1',
        quote_literal(fg.ri(1, 300)::text)], ARRAY[4, 2, 2, 1, 2, 1, 1, 1, 1]));
    ELSIF r = 'amount' AND fg.chance(0.3) THEN
      sets := sets || (c || ' = ' || fg.pick(ARRAY[c || ' * 2', c || ' / 2', c || ' + 1', 'NULL']));
    ELSIF r IN ('member', 'ref') AND fg.chance(0.35) THEN
      sets := sets || (c || ' = NULL');
    ELSE
      sets := sets || (c || ' = ' || quote_nullable(fg.col_raw(s, r)));
    END IF;
  END LOOP;
  RETURN array_to_string(sets, ', ');
END $$;

CREATE FUNCTION fg.op_o_update() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text := fg.need_table(true);
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  PERFORM fg.emit('op', format('UPDATE %s SET %s WHERE %s', fg.qt(s), fg.update_sets(s), fg.where_rows(s)));
END $$;

-- the life of one order: inserted, then a few UPDATEs of it (refunds up and
-- down, member, ref, amount, at), then maybe deleted
CREATE FUNCTION fg.op_o_story() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text := fg.need_table(true); roles text[]; id int;
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  roles := fg.ins_roles(s);
  SELECT next_id INTO id FROM fg.tbl WHERE slot = s;
  PERFORM fg.emit('op', format('INSERT INTO %s (%s) VALUES %s', fg.qt(s), fg.col_list(s, roles),
                               fg.values_row(s, roles)));
  FOR i IN 1 .. fg.ri(1, 4) LOOP
    PERFORM fg.emit('op', format('UPDATE %s SET %s WHERE id = %s', fg.qt(s), fg.update_sets(s), id));
  END LOOP;
  IF fg.chance(0.4) THEN PERFORM fg.emit('op', format('DELETE FROM %s WHERE id = %s', fg.qt(s), id)); END IF;
END $$;

-- INSERT ... ON CONFLICT DO UPDATE (plain table: it has the primary key)
CREATE FUNCTION fg.op_o_upsert() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text; roles text[]; row text; upd text[] := '{}'; r text; id int;
BEGIN
  SELECT slot INTO s FROM fg.tbl WHERE slot = 'plain' AND live;
  IF s IS NULL THEN PERFORM fg.op_o_create('plain'); RETURN; END IF;
  roles := fg.ins_roles(s);
  row := fg.values_row(s, roles);
  IF fg.chance(0.7) THEN
    id := fg.some_id(s);
    row := regexp_replace(row, '^\([0-9]+', '(' || id);
  END IF;
  FOREACH r IN ARRAY roles LOOP
    IF r IN ('refunded', 'amount', 'member', 'ref', 'at') AND fg.chance(0.4) THEN
      upd := upd || format('%s = EXCLUDED.%s', fg.qc(s, r), fg.qc(s, r));
    END IF;
  END LOOP;
  PERFORM fg.emit('op', format('INSERT INTO %s (%s) VALUES %s ON CONFLICT (id) DO %s', fg.qt(s),
                               fg.col_list(s, roles), row,
                               CASE WHEN cardinality(upd) = 0 THEN 'NOTHING'
                                    ELSE 'UPDATE SET ' || array_to_string(upd, ', ') END));
END $$;

-- MERGE: refund rows that exist, insert the others
CREATE FUNCTION fg.op_o_merge() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text := fg.need_table(true); roles text[]; src text[] := '{}'; ins text[] := '{}'; r text;
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  roles := fg.roles(s);
  FOR i IN 1 .. fg.ri(1, 3) LOOP
    src := src || format('(%s, %s)', CASE WHEN fg.chance(0.6) THEN fg.some_id(s) ELSE fg.next_id(s) END,
                         fg.ri(0, 80));
  END LOOP;
  FOREACH r IN ARRAY roles LOOP
    ins := ins || CASE r WHEN 'member' THEN quote_literal((100 + fg.ri(1, fg.oi('members')))::text)
                         WHEN 'ref' THEN 'v.id + 5000'
                         WHEN 'amount' THEN '100'
                         WHEN 'refunded' THEN '0'
                         ELSE quote_nullable(fg.col_raw(s, r)) END;
  END LOOP;
  PERFORM fg.emit('op', format(
    'MERGE INTO %s t USING (VALUES %s) v(id, r) ON t.id = v.id '
    'WHEN MATCHED AND v.r = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET %s '
    'WHEN NOT MATCHED THEN INSERT (%s) VALUES (v.id, %s)',
    fg.qt(s), array_to_string(src, ', '),
    CASE WHEN 'refunded' = ANY (roles) THEN format('%s = v.r', fg.qc(s, 'refunded'))
         ELSE format('%s = v.r', fg.qc(s, 'amount')) END,
    fg.col_list(s, roles), array_to_string(ins, ', ')));
END $$;

CREATE FUNCTION fg.op_o_delete() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text := fg.need_table(true);
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  PERFORM fg.emit('op', format('DELETE FROM %s WHERE %s', fg.qt(s), fg.where_rows(s)));
END $$;

CREATE FUNCTION fg.op_o_truncate() RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text := fg.need_table(true); t record;
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  SELECT * INTO t FROM fg.tbl WHERE slot = s;
  IF jsonb_array_length(t.parts) > 0 AND fg.chance(0.4) THEN
    PERFORM fg.emit('op', format('TRUNCATE app.%I', t.parts -> fg.ri(0, jsonb_array_length(t.parts) - 1) ->> 'name'));
  ELSE
    PERFORM fg.emit('op', format('TRUNCATE %s', fg.qt(s)));
  END IF;
END $$;

-- DROP TABLE (its oid kept in fuzz.dropped for op_o_stale)
CREATE FUNCTION fg.op_o_drop(s text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF s IS NULL THEN s := fg.live_slot(); END IF;
  IF s IS NULL THEN PERFORM fg.op_o_create(); RETURN; END IF;
  PERFORM fg.emit('op', format('INSERT INTO fuzz.dropped (oid) SELECT %L::regclass::oid', fg.qt(s)));
  PERFORM fg.emit('op', format('DROP TABLE %s', fg.qt(s)));
  UPDATE fg.tbl SET live = false WHERE slot = s;
END $$;

-- untrack_orders / track_orders of a table that was dropped
CREATE FUNCTION fg.op_o_stale() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF fg.chance(0.6) THEN
    PERFORM fg.emit('op', 'SELECT loyalty.untrack_orders(oid::regclass) FROM fuzz.dropped ORDER BY id DESC LIMIT 1');
  ELSE
    PERFORM fg.emit('op', 'SELECT loyalty.track_orders(oid::regclass, ''fz'', ''member'', ''amount'', ''ref'', backfill => true) '
                          'FROM fuzz.dropped ORDER BY id DESC LIMIT 1');
  END IF;
END $$;

-- ALTER TABLE of a tracked column: type changes, renames, drops; dropped
-- columns that leave holes in the row layout
CREATE FUNCTION fg.op_o_alter() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s text := fg.need_table(true); a text; c text; t record; newname text;
BEGIN
  IF s IS NULL THEN RETURN; END IF;
  SELECT * INTO t FROM fg.tbl WHERE slot = s;
  a := fg.wpick(ARRAY['amount_text', 'amount_int', 'amount_num', 'member_text', 'member_int', 'ref_text',
                      'refund_text', 'rename', 'drop', 'hole', 'default'],
                ARRAY[2, 1, 1, 2, 1, 1, 1, 2, 1, 2, 1]);
  CASE a
  WHEN 'amount_text' THEN
    PERFORM fg.emit('op', format('ALTER TABLE %s ALTER COLUMN %s TYPE text', fg.qt(s), fg.qc(s, 'amount')));
    UPDATE fg.tbl SET cols = jsonb_set(cols, '{amount,type}', '"text"') WHERE slot = s;
  WHEN 'amount_int' THEN
    PERFORM fg.emit('op', format('ALTER TABLE %1$s ALTER COLUMN %2$s TYPE integer USING round(%2$s::numeric)::integer', fg.qt(s), fg.qc(s, 'amount')));
    UPDATE fg.tbl SET cols = jsonb_set(cols, '{amount,type}', '"integer"') WHERE slot = s;
  WHEN 'amount_num' THEN
    PERFORM fg.emit('op', format('ALTER TABLE %1$s ALTER COLUMN %2$s TYPE numeric USING %2$s::numeric', fg.qt(s), fg.qc(s, 'amount')));
    UPDATE fg.tbl SET cols = jsonb_set(cols, '{amount,type}', '"numeric"') WHERE slot = s;
  WHEN 'member_text' THEN
    PERFORM fg.emit('op', format('ALTER TABLE %s ALTER COLUMN %s TYPE text', fg.qt(s), fg.qc(s, 'member')));
    UPDATE fg.tbl SET cols = jsonb_set(cols, '{member,type}', '"text"') WHERE slot = s;
  WHEN 'member_int' THEN
    PERFORM fg.emit('op', format('ALTER TABLE %1$s ALTER COLUMN %2$s TYPE bigint USING %2$s::text::bigint', fg.qt(s), fg.qc(s, 'member')));
    UPDATE fg.tbl SET cols = jsonb_set(cols, '{member,type}', '"bigint"') WHERE slot = s;
  WHEN 'ref_text' THEN
    PERFORM fg.emit('op', format('ALTER TABLE %s ALTER COLUMN %s TYPE text', fg.qt(s), fg.qc(s, 'ref')));
    UPDATE fg.tbl SET cols = jsonb_set(cols, '{ref,type}', '"text"') WHERE slot = s;
  WHEN 'refund_text' THEN
    IF t.cols ? 'refunded' THEN
      PERFORM fg.emit('op', format('ALTER TABLE %s ALTER COLUMN %s TYPE text', fg.qt(s), fg.qc(s, 'refunded')));
      UPDATE fg.tbl SET cols = jsonb_set(cols, '{refunded,type}', '"text"') WHERE slot = s;
    END IF;
  WHEN 'rename' THEN
    c := fg.pick(ARRAY['member', 'amount', 'ref', 'category', 'refunded']);
    IF t.cols ? c THEN
      newname := (t.cols -> c ->> 'name') || '_' || fg.ri(1, 9);
      PERFORM fg.emit('op', format('ALTER TABLE %s RENAME COLUMN %s TO %I', fg.qt(s), fg.qc(s, c), newname));
      UPDATE fg.tbl SET cols = jsonb_set(cols, ARRAY[c, 'name'], to_jsonb(newname)) WHERE slot = s;
    END IF;
  WHEN 'drop' THEN
    c := fg.pick(ARRAY['category', 'refunded']);
    IF t.cols ? c THEN
      PERFORM fg.emit('op', format('ALTER TABLE %s DROP COLUMN %s', fg.qt(s), fg.qc(s, c)));
      UPDATE fg.tbl SET cols = cols - c WHERE slot = s;
    END IF;
  WHEN 'hole' THEN
    PERFORM fg.emit('op', format('ALTER TABLE %s ADD COLUMN junk%s int DEFAULT 1', fg.qt(s), fg.ri(1, 3)));
    PERFORM fg.emit('op', format('ALTER TABLE %s DROP COLUMN IF EXISTS junk%s', fg.qt(s), fg.ri(1, 3)));
  ELSE
    IF t.cols ? 'refunded' THEN
      PERFORM fg.emit('op', format('ALTER TABLE %s ALTER COLUMN %s SET DEFAULT 5', fg.qt(s), fg.qc(s, 'refunded')));
    END IF;
  END CASE;
END $$;

-- DETACH a partition (and ATTACH it again later)
CREATE FUNCTION fg.op_o_detach() RETURNS void LANGUAGE plpgsql AS $$
DECLARE t record; p jsonb; i int;
BEGIN
  SELECT * INTO t FROM fg.tbl WHERE slot = 'part' AND live;
  IF NOT FOUND OR jsonb_array_length(t.parts) = 0 THEN PERFORM fg.op_o_create('part'); RETURN; END IF;
  i := fg.ri(0, jsonb_array_length(t.parts) - 1);
  p := t.parts -> i;
  IF (p ->> 'attached')::boolean THEN
    PERFORM fg.emit('op', format('ALTER TABLE %s DETACH PARTITION app.%I', fg.qt('part'), p ->> 'name'));
    IF fg.chance(0.5) THEN
      PERFORM fg.emit('op', format('DELETE FROM app.%I WHERE id %% 2 = 0', p ->> 'name'));
    END IF;
  ELSE
    PERFORM fg.emit('op', format('ALTER TABLE %s ATTACH PARTITION app.%I %s', fg.qt('part'), p ->> 'name', p ->> 'bound'));
  END IF;
  UPDATE fg.tbl SET parts = jsonb_set(parts, ARRAY[i::text, 'attached'], to_jsonb(NOT (p ->> 'attached')::boolean))
  WHERE slot = 'part';
END $$;

-------------------------------------------------------------------------------
-- 3c. Operations: the scheduled procedures (fuzz_a only)
-------------------------------------------------------------------------------
CREATE FUNCTION fg.sweep_call(proc text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE as_of text := fg.as_of_lit(); batch text := '';
BEGIN
  IF proc <> 'run_maintenance' AND fg.chance(0.3) THEN
    batch := fg.pick(ARRAY['1', '2', '3', '1000', '0', '-1', 'NULL']);
    RETURN format('CALL loyalty.%s(%s, %s)', proc, coalesce(as_of, 'now()'), batch);
  END IF;
  RETURN format('CALL loyalty.%s(%s)', proc, coalesce(as_of, ''));
END $$;

CREATE FUNCTION fg.op_s_expire() RETURNS void LANGUAGE sql
AS $$ SELECT fg.emit('sweep', fg.sweep_call('expire_points')) $$;
CREATE FUNCTION fg.op_s_maintenance() RETURNS void LANGUAGE sql
AS $$ SELECT fg.emit('sweep', fg.sweep_call('run_maintenance')) $$;
CREATE FUNCTION fg.op_s_tiers() RETURNS void LANGUAGE sql
AS $$ SELECT fg.emit('sweep', fg.sweep_call('evaluate_tiers')) $$;
-- inside a transaction block: the whole run in the caller's transaction
CREATE FUNCTION fg.op_s_block() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM fg.emit('sweep', 'BEGIN');
  PERFORM fg.emit('sweep', fg.sweep_call(fg.pick(ARRAY['expire_points', 'run_maintenance', 'evaluate_tiers'])));
  PERFORM fg.emit('sweep', 'COMMIT');
END $$;

-------------------------------------------------------------------------------
-- 4. The program, the main loop, the checks
-------------------------------------------------------------------------------
-- a rule the program understands (valid params), on the program or later
CREATE FUNCTION fg.add_rule(code text, k text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE kind text; params text; win text := ''; from_at timestamptz;
BEGIN
  kind := fg.wpick(ARRAY['multiplier', 'bonus', 'category_rate', 'event', 'streak', 'referral'],
                   ARRAY[5, 3, 2, 4, 1, 1]);
  params := CASE kind
    WHEN 'multiplier' THEN fg.pick(ARRAY[
      '{"factor": 2, "weekdays": [6, 7]}', '{"factor": 1.5, "categories": ["liquor"]}',
      '{"factor": 3, "min_amount": 300}', '{"factor": 2, "first_purchase": true}',
      '{"factor": 1.2, "min_orders": 2, "orders_window": "90 days"}', '{"factor": 2, "tiers": ["base"]}',
      '{"factor": 2, "birthday_month": true}', '{"factor": 100}', '{"factor": 0.5}',
      '{"factor": 2, "offer": true}', '{"factor": 3, "budget": 150}', '{"factor": 2, "max_per_member": 2}'])
    WHEN 'bonus' THEN fg.pick(ARRAY[
      '{"points": 20, "min_amount": 200, "group": "ladder"}', '{"points": 60, "min_amount": 350, "group": "ladder"}',
      '{"points": 10, "first_purchase": true}', '{"points": 5, "categories": ["snacks"]}',
      '{"points": 40, "offer": true, "group": "ladder"}', '{"points": 25, "budget": 60}',
      '{"points": 15, "max_per_member": 2, "budget": 100}'])
    WHEN 'category_rate' THEN fg.pick(ARRAY[
      '{"category": "drinks", "points_per_unit": 2, "unit": 1}', '{"category": "liquor", "points_per_unit": 1, "unit": 10}'])
    WHEN 'event' THEN fg.pick(ARRAY[
      '{"event": "checkin", "points": 5, "max_per_day": 1}', '{"event": "share", "points": 3, "max_total": 4}',
      '{"event": "signup", "points": 50}', '{"event": "review", "points": 40}'])
    WHEN 'streak' THEN '{"event": "checkin", "days": 3, "points": 20}'
    ELSE '{"referrer_points": 30, "referrer_share": 0.1, "referee_points": 10}' END;
  -- a partner's own double points (alliances, 0.6.0 on)
  IF kind = 'multiplier' AND fg.has('add_merchant') AND fg.chance(0.2) THEN
    params := '{"factor": 2, "merchants": ["m1"]}';
  END IF;
  -- a validity window, valid_until after valid_from (setup must succeed)
  from_at := fg.now0() - fg.ri(0, fg.oi('span')) * interval '1 hour';
  IF fg.chance(0.2) THEN
    win := format(', valid_from => %s', fg.ts_lit(from_at));
  END IF;
  IF fg.chance(0.15) THEN
    win := win || format(', valid_until => %s', fg.ts_lit(from_at + fg.ri(1, fg.oi('span')) * interval '1 hour'));
  END IF;
  PERFORM fg.emit(k, format('SELECT loyalty.add_rule(''fz'', %L, %L, %L%s)', code, kind, params, win));
  PERFORM fg.set('rules', concat_ws(',', nullif(fg.o('rules'), ''), code));
  IF params::jsonb ? 'event' AND params::jsonb ->> 'event' <> 'signup' THEN
    PERFORM fg.set('events', concat_ws(',', nullif(fg.o('events'), ''), params::jsonb ->> 'event'));
  END IF;
END $$;

-- the program: random but valid configuration
CREATE FUNCTION fg.gen_program() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  expiry text; after text := NULL; pending text := NULL; args text := ''; hours int;
  t1 int; t2 int; ntiers int;
BEGIN
  expiry := fg.wpick(ARRAY['none', 'fixed', 'rolling', 'end_of_period'], ARRAY[2, 4, 3, 3]);
  IF expiry <> 'none' THEN
    after := fg.pick(ARRAY['36 hours', '7 days', '30 days', '30 days', '90 days', '180 days',
                           '1 month', '3 months', '1 year', '2 years']);
  END IF;
  IF fg.chance(0.35) THEN
    pending := fg.pick(ARRAY['1 hour', '1 day', '3 days', '7 days', '14 days']);
    IF expiry IN ('fixed', 'rolling') AND pending::interval >= after::interval THEN pending := NULL; END IF;
  END IF;
  args := format(', expiry => %L', expiry);
  IF after IS NOT NULL THEN args := args || format(', expiry_after => %L', after); END IF;
  IF expiry = 'end_of_period' THEN args := args || format(', expiry_period => %L', fg.pick(ARRAY['month', 'quarter', 'year'])); END IF;
  IF pending IS NOT NULL THEN args := args || format(', pending_for => %L', pending); END IF;
  IF fg.chance(0.4) THEN args := args || ', points_per_unit => ' || fg.pick(ARRAY['2', '0.5', '3', '1']); END IF;
  IF fg.chance(0.2) THEN args := args || ', unit => 10'; END IF;
  IF fg.chance(0.5) THEN args := args || format(', rounding => %L', fg.pick(ARRAY['floor', 'round', 'ceil'])); END IF;
  IF fg.chance(0.4) THEN args := args || format(', stacking => %L', fg.pick(ARRAY['multiply', 'add', 'max'])); END IF;
  IF fg.chance(0.25) THEN args := args || ', max_multiplier => ' || fg.pick(ARRAY['2', '3.5']); END IF;
  IF fg.chance(0.3) THEN args := args || ', points_per_value => ' || fg.pick(ARRAY['50', '200', '100']); END IF;
  args := args || format(', tier_basis => %L, tier_window => %L, downgrade => %L, timezone => %L',
                         fg.wpick(ARRAY['points', 'spend', 'orders'], ARRAY[3, 2, 1]),
                         fg.pick(ARRAY['calendar_year', 'rolling_year', 'lifetime']),
                         fg.pick(ARRAY['to_qualified', 'one_step', 'never']),
                         fg.pick(ARRAY['UTC', 'Asia/Shanghai', 'Asia/Shanghai', 'America/New_York',
                                       'Europe/Berlin', 'Asia/Kolkata']));
  PERFORM fg.emit('setup', format('SELECT loyalty.create_program(''fz''%s) IS NOT NULL', args));
  -- the timeline: a few expiry periods back, so that lots expire inside it
  hours := CASE WHEN after IS NULL THEN 24 * 120
                ELSE (extract(epoch FROM after::interval) / 3600)::int END;
  PERFORM fg.set('span', least(greatest(hours * 5 / 2, 96), 3 * 8760)::text);
  PERFORM fg.set('program', args);
  -- alliance merchants (0.6.0 on), before the rules that name them
  IF fg.has('add_merchant') THEN
    PERFORM fg.emit('setup', 'SELECT loyalty.add_merchant(''fz'', ''m1'', ''Store'')');
    PERFORM fg.emit('setup', 'SELECT loyalty.add_merchant(''fz'', ''m2'', ''Cinema'', 0.008)');
  END IF;
  -- tiers: the lowest at 0, up to two more
  ntiers := fg.ri(0, 2);
  PERFORM fg.emit('setup', format('SELECT loyalty.add_tier(''fz'', ''base'', 0%s)',
                                  CASE WHEN fg.chance(0.3) THEN ', points_per_value => 100' ELSE '' END));
  t1 := fg.pick(ARRAY[100, 300, 600]);
  t2 := t1 + fg.pick(ARRAY[200, 700, 1500]);
  IF ntiers >= 1 THEN
    PERFORM fg.emit('setup', format('SELECT loyalty.add_tier(''fz'', ''silver'', %s, %s%s)', t1,
                                    fg.pick(ARRAY['1', '1.2', '1.5']),
                                    CASE WHEN fg.chance(0.5) THEN ', points_per_value => 130' ELSE '' END));
  END IF;
  IF ntiers >= 2 THEN
    PERFORM fg.emit('setup', format('SELECT loyalty.add_tier(''fz'', ''gold'', %s, %s%s)', t2,
                                    fg.pick(ARRAY['1.5', '2']),
                                    CASE WHEN fg.chance(0.5) THEN ', points_per_value => 150' ELSE '' END));
  END IF;
  PERFORM fg.set('rules', ''); PERFORM fg.set('events', '');
  FOR i IN 1 .. fg.ri(0, 4) LOOP PERFORM fg.add_rule('r' || i, 'setup'); END LOOP;
  -- bottle caps K1..K12 from the start (0.5.0 on), so that members race for them
  IF fg.has('add_codes') THEN
    PERFORM fg.emit('setup', 'SELECT loyalty.add_codes(''fz'', ''caps'', ARRAY(SELECT ''K'' || g FROM generate_series(1, 12) g), 10) > 0');
  END IF;
  IF fg.has('add_reward') THEN
    PERFORM fg.emit('setup', format('SELECT loyalty.add_reward(''fz'', ''mug'', %s, stock => %s%s)',
                                    fg.pick(ARRAY[5, 20, 60]), fg.pick(ARRAY[0, 3, 20]),
                                    CASE WHEN ntiers >= 1 AND fg.chance(0.5)
                                         THEN ', tier_points => ''{"silver": 3}''' ELSE '' END));
    PERFORM fg.emit('setup', format('SELECT loyalty.add_reward(''fz'', ''tea'', %s, cash => 1.5, per_member => 2%s)',
                                    fg.pick(ARRAY[3, 10]),
                                    CASE WHEN ntiers >= 1 AND fg.chance(0.3)
                                         THEN ', tiers => ARRAY[''silver'']' ELSE '' END));
    PERFORM fg.emit('setup', 'SELECT loyalty.add_reward(''fz'', ''pin'', 1)');
  END IF;
END $$;

-- pick an operation of the vocabulary by weight
CREATE FUNCTION fg.choose(in_txn boolean DEFAULT false) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE ops text[]; w int[];
BEGIN
  SELECT array_agg(op ORDER BY op), array_agg(weight ORDER BY op) INTO ops, w
  FROM fg.vocab
  WHERE (needs IS NULL OR fg.has(needs))
    AND (grp <> 'orders' OR fg.o('skip_orders') <> 'true')
    AND (grp <> 'sweep' OR fg.o('skip_sweeps') <> 'true')
    AND (txn OR NOT in_txn)
    AND weight > 0;
  RETURN fg.wpick(ops, w);
END $$;

CREATE FUNCTION fg.run_op(op text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM fg.set('cur_op', op);
  EXECUTE format('SELECT fg.%I()', 'op_' || op);
END $$;

-- a check: fuzz.digest() at the instants used so far (the latest ones in
-- the middle of a run, all of them at the end) plus now and far future
CREATE FUNCTION fg.emit_check(final boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE inst text;
BEGIN
  PERFORM fg.set('cur_op', 'check');
  SELECT string_agg(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00', ',' ORDER BY ts) INTO inst
  FROM (SELECT ts FROM fg.ats ORDER BY i DESC LIMIT CASE WHEN final THEN 400 ELSE 16 END) q;
  inst := concat_ws(',', inst,
                    to_char(fg.now0() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00',
                    to_char((fg.now0() + interval '100 years') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00');
  PERFORM fg.emit('check', format('SELECT * FROM fuzz.digest(''fz'', %L, %L)', '{' || inst || '}',
    '{' || (SELECT string_agg((100 + g)::text, ',') FROM generate_series(1, fg.oi('members')) g) || '}'));
END $$;

-- one seed's statements into fg.step
CREATE FUNCTION fg.generate(seed int, steps int, now0 timestamptz, check_every int,
                            skip_orders boolean, skip_sweeps boolean, funcs text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int := 0;
BEGIN
  SET LOCAL TimeZone = 'UTC';
  TRUNCATE fg.step, fg.opt, fg.ats, fg.hist, fg.tbl;
  ALTER SEQUENCE fg.ats_i_seq RESTART; ALTER SEQUENCE fg.hist_i_seq RESTART;
  PERFORM setseed(((seed::bigint * 48271) % 2147483647)::float8 / 2147483647.0);
  PERFORM fg.set('seed', seed::text);
  PERFORM fg.set('now0', now0::text);
  PERFORM fg.set('skip_orders', skip_orders::text);
  PERFORM fg.set('skip_sweeps', skip_sweeps::text);
  PERFORM fg.set('funcs', funcs);
  PERFORM fg.set('tier_of_at', (position('tier_of/3' IN funcs) > 0)::text);
  PERFORM fg.set('members', fg.ri(3, 6)::text);
  PERFORM fg.set('cur_op', 'setup');
  INSERT INTO fg.tbl (slot) VALUES ('plain'), ('part');
  PERFORM fg.emit('setup', 'CREATE SCHEMA app');
  PERFORM fg.gen_program();
  -- the session's time zone: another one than the program's, now and then
  PERFORM fg.set('session_tz', fg.pick(ARRAY['UTC', 'Asia/Tokyo', 'America/Los_Angeles', 'Europe/London']));
  WHILE n < steps LOOP
    PERFORM fg.run_op(fg.choose());
    n := n + 1;
    IF check_every > 0 AND n % check_every = 0 AND n < steps THEN PERFORM fg.emit_check(false); END IF;
  END LOOP;
  PERFORM fg.emit_check(true);
  RETURN (SELECT count(*) FROM fg.step);
END $$;

-- the steps for the driver: "--@@ n kind op" then the statement, per step
CREATE FUNCTION fg.steps_text() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT string_agg(format(E'--@@ %s %s %s\n%s\n', n, kind, coalesce(op, '-'),
                           CASE WHEN sql LIKE 'COPY %' THEN sql ELSE sql || ';' END), '' ORDER BY n)
  FROM fg.step
$$;
