-- bench/loader.sql — the one way bench/ makes data: schema bench_load.
--
-- A data set is described once, in two tables, and loaded one of two ways:
--
--   bench_load.member (program, member, joined_at, birthday, ord)
--       one row per member to enrol; ord orders the enrolment (and the
--       account heap) when several join at the same instant
--   bench_load.op (program, member, seq, at, kind, amount, category, points, ref)
--       the member's operations in the order it makes them (seq 1, 2, ...):
--       kind 'earn' (amount, category) or 'redeem' (points)
--
--   CALL bench_load.load_calls(program)
--       through the public functions: loyalty.enroll for every member, then
--       loyalty.earn / loyalty.redeem for every op in business-time order
--       (at, member, seq); a COMMIT every 10000 calls.  Use it for small and
--       medium sizes (a few thousand calls a second on 2 cores).
--   CALL bench_load.load(ARRAY[program, ...], how, layout)
--       either: how 'calls', 'bulk' or 'auto' (calls up to 50000 ops)
--   SELECT bench_load.load_bulk(ARRAY[program, ...], layout)
--       set-based INSERTs of the rows those calls would write, for sizes the
--       functions would take too long to load (1M lots).  The ONLY place in
--       bench/ that writes the extension's tables directly.
--
-- Both end with loyalty.verify() and raise an error when it reports anything
-- (bench_load.assert_verified()).  bench/loader_check.sql loads one small
-- data set both ways and compares every row.  The tables are left for the
-- caller to VACUUM (FREEZE, ANALYZE) (it cannot run inside a function).
--
-- What load_bulk writes, as the C code writes it (src/lots.c credit_write,
-- ledger_write; src/tiers.c tier_upgrade, tier_history_write; src/calc.c;
-- src/enroll.c), and so the invariants it keeps:
--   ids    ledger.id, lot.id and tier_change.id are each member's own
--          sequence from 1 in the order of its operations (0.4.0: max + 1
--          under the member's lock); every op writes one ledger row (ledger
--          id = the op's rank), every earn one lot (lot id = the earn's rank,
--          ledger.lot_id = that lot), every upgrade one tier_change row.
--   points base = R(amount * points_per_unit * least(1, max_multiplier) / unit)
--          and points = R(amount * points_per_unit * least(m, max_multiplier)
--          / unit), m the earn multiplier of the tier in force at the op, R
--          the program's rounding (floor, round half up, ceil); ledger.detail
--          {"base": b} plus {"tier": points - b} when it differs; result =
--          points; qual_at = at, qual_points = points, qual_spend = amount,
--          qual_orders = 1.
--   tiers  the member starts in the lowest tier (account.tier = its code,
--          tier_since/tier_until NULL).  An earn upgrades when the
--          qualifying value of its window up to and including it (points,
--          spend or orders of the earns since the window start; calendar_year
--          = the local year, lifetime = all) reaches a higher threshold and
--          adds to the basis: the member then holds the highest tier reached,
--          tier_since = the op's at, tier_until = local 1 January two years
--          on (calendar_year) or NULL (lifetime), a tier_change row 'upgrade'
--          (from, to, valid_until, by_evaluation false).  The crossing earn
--          itself earns at the old tier's multiplier, the next at the new.
--   lots   earned_at = available_at = at; expires_at = at + expiry_after
--          (fixed) or the start of the period after at + expiry_after
--          (end_of_period), NULL (none), in the program's time zone;
--          remaining = points less what a redeem took; source 'earn', ref,
--          amount; expired = repaid = refunded = clawed_back = 0, rolls false.
--   redeem spends the lots usable at its at (earned by then, not expired),
--          first to expire first (expires_at NULLS LAST, earned_at, id);
--          ledger points = -points, result = the balance after it, no qual_*,
--          no detail, no lot.
--   account joined_at, birthday, referral_paid false, debt 0; purchases =
--          earns; credited = sum(lot.points); held = sum(lot.remaining);
--          last_earn_at = the latest earn worth points; last_activity_at =
--          the latest op; roll_until NULL.
--   so verify() holds: sum(ledger.points) = sum(lot.remaining) - debt,
--          credited and held match the lots, every lot within 0..points,
--          every row has an account and a program.
-- What load_bulk refuses (it raises; use load_calls): a program with active
-- rules (rules at load time; add them after the load), pending_for, rolling
-- expiry, a rolling_year tier window; more than one redeem per member, a
-- redeem above the balance; an op at or after the end of an upgraded tier's
-- period (it would evaluate the tier); members already in the program; an
-- op before its member joined, or ops not in strictly increasing time.
-- When loyalty's member tables are empty, load_bulk drops their keys and
-- indexes and rebuilds them with their exact definitions afterwards (sorted
-- builds; indexes are not members of the extension, so the schema ends up
-- identical, the btrees denser than ones grown by inserts).
--
-- Needs a superuser (it sets loyalty.maintenance for its transaction, the
-- documented escape of the restore guard).  \i this file after
-- CREATE EXTENSION loyalty.
CREATE SCHEMA bench_load;

CREATE UNLOGGED TABLE bench_load.member (
  program   text        NOT NULL,
  member    text        NOT NULL,
  joined_at timestamptz NOT NULL,
  birthday  date,
  ord       bigint,
  PRIMARY KEY (program, member)
);

CREATE UNLOGGED TABLE bench_load.op (
  program  text        NOT NULL,
  member   text        NOT NULL,
  seq      integer     NOT NULL,
  at       timestamptz NOT NULL,
  kind     text        NOT NULL CHECK (kind IN ('earn', 'redeem')),
  amount   numeric     CHECK ((kind = 'earn') = (amount IS NOT NULL) AND amount >= 0),
  category text,
  points   bigint      CHECK ((kind = 'redeem') = (points IS NOT NULL) AND points > 0),
  ref      text        NOT NULL,
  PRIMARY KEY (program, member, seq)
);

-- verify() must be empty; otherwise raise with its first problems.
CREATE FUNCTION bench_load.assert_verified() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
  sample text;
BEGIN
  SELECT count(*), string_agg(format('%s/%s: %s (expected %s, actual %s)', program, member,
                                     problem, expected, actual), '; ')
    INTO n, sample
    FROM (SELECT * FROM loyalty.verify() LIMIT 5) v;
  IF n > 0 THEN
    RAISE EXCEPTION 'bench_load: loyalty.verify() reports problems: %', sample;
  END IF;
END $$;

-- The spec of a program: members exist, ops belong to members, in strictly
-- increasing time from the member's enrolment.
CREATE FUNCTION bench_load.check_spec(p_program text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE bad text;
BEGIN
  ANALYZE bench_load.member, bench_load.op;     -- just filled: plans need the sizes
  SELECT format('%s seq %s', o.member, o.seq) INTO bad
    FROM bench_load.op o
    LEFT JOIN bench_load.member m ON m.program = o.program AND m.member = o.member
   WHERE o.program = p_program AND m.member IS NULL LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'bench_load: op % of a member not in bench_load.member', bad;
  END IF;
  SELECT format('%s seq %s', member, seq) INTO bad
    FROM (SELECT o.member, o.seq, o.at, m.joined_at,
                 lag(o.at) OVER (PARTITION BY o.member ORDER BY o.seq) AS prev
            FROM bench_load.op o
            JOIN bench_load.member m ON m.program = o.program AND m.member = o.member
           WHERE o.program = p_program) s
   WHERE at <= prev OR at < joined_at LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'bench_load: op % is not after the member''s enrolment and previous op', bad;
  END IF;
END $$;

-- Through the public functions.
CREATE PROCEDURE bench_load.load_calls(p_program text) LANGUAGE plpgsql AS $$
DECLARE
  r record;
  n bigint := 0;
BEGIN
  PERFORM bench_load.check_spec(p_program);
  FOR r IN SELECT member, joined_at, birthday FROM bench_load.member
           WHERE program = p_program ORDER BY joined_at, ord, member LOOP
    PERFORM loyalty.enroll(p_program, r.member, r.joined_at, r.birthday);
    n := n + 1;
    IF n % 10000 = 0 THEN COMMIT; END IF;
  END LOOP;
  FOR r IN SELECT * FROM bench_load.op WHERE program = p_program ORDER BY at, member, seq LOOP
    IF r.kind = 'earn' THEN
      PERFORM loyalty.earn(p_program, r.member, r.amount, r.ref, r.at, r.category);
    ELSE
      PERFORM loyalty.redeem(p_program, r.member, r.points, r.ref, r.at);
    END IF;
    n := n + 1;
    IF n % 10000 = 0 THEN COMMIT; END IF;
  END LOOP;
  PERFORM bench_load.assert_verified();
END $$;

-- points of `amount` at multiplier m (src/calc.c: one rounding, exact numeric)
CREATE FUNCTION bench_load.points(amount numeric, ppu numeric, unit numeric, m numeric,
                                  max_m numeric, rounding text)
  RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT (CASE rounding WHEN 'floor' THEN floor(x) WHEN 'ceil' THEN ceil(x) ELSE round(x) END)::bigint
  FROM (SELECT amount * ppu * CASE WHEN max_m < m THEN max_m ELSE m END / unit AS x) s
$$;

-- Drop / rebuild the member tables' keys and indexes around a bulk load.
CREATE TABLE bench_load.saved_index (ord serial, tbl regclass, name text, is_pkey boolean, def text);

CREATE FUNCTION bench_load.drop_indexes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  INSERT INTO bench_load.saved_index (tbl, name, is_pkey, def)
  SELECT i.indrelid::regclass, c.relname, i.indisprimary,
         CASE WHEN i.indisprimary
              THEN pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conindid = i.indexrelid))
              ELSE pg_get_indexdef(i.indexrelid) END
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE i.indrelid IN ('loyalty.account'::regclass, 'loyalty.lot'::regclass,
                       'loyalty.ledger'::regclass, 'loyalty.tier_change'::regclass)
  ORDER BY i.indrelid, c.relname;
  FOR r IN SELECT * FROM bench_load.saved_index ORDER BY ord LOOP
    IF r.is_pkey THEN
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.name);
    ELSE
      EXECUTE format('DROP INDEX loyalty.%I', r.name);
    END IF;
  END LOOP;
END $$;

CREATE FUNCTION bench_load.restore_indexes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM bench_load.saved_index ORDER BY ord LOOP
    IF r.is_pkey THEN
      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.tbl, r.name, r.def);
    ELSE
      EXECUTE r.def;
    END IF;
  END LOOP;
  DELETE FROM bench_load.saved_index;
END $$;

-- One program of load_bulk: its rows into the staging tables
-- (bl_account, bl_lot_rows, bl_ledger, bl_tier_change, made by load_bulk).
CREATE FUNCTION bench_load.stage(p_program text)
  RETURNS bigint LANGUAGE plpgsql
  SET TimeZone = 'UTC'        -- set to the program's zone inside; restored on return
  AS $$
DECLARE
  p loyalty.program;
  codes text[];
  thresholds numeric[];
  mults numeric[];
  ntiers int;
  rounds int := 0;
  changed bigint;
  bad text;
  n bigint;
BEGIN
  SELECT * INTO p FROM loyalty.program WHERE code = p_program;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'bench_load: no program %', p_program;
  END IF;
  IF EXISTS (SELECT 1 FROM loyalty.rule WHERE program_id = p.id AND active) THEN
    RAISE EXCEPTION 'bench_load: program % has active rules (load first, add rules after, or use load_calls)', p_program;
  END IF;
  IF p.pending_for <> interval '0' OR p.expiry = 'rolling' THEN
    RAISE EXCEPTION 'bench_load: pending_for and rolling expiry are not supported (use load_calls)';
  END IF;
  SELECT array_agg(code ORDER BY threshold, code), array_agg(threshold ORDER BY threshold, code),
         array_agg(earn_multiplier ORDER BY threshold, code), count(*)
    INTO codes, thresholds, mults, ntiers
    FROM loyalty.tier WHERE program_id = p.id;
  IF ntiers = 0 THEN
    mults := ARRAY[1::numeric];       -- no tiers: factor 1, account.tier NULL
  END IF;
  IF ntiers > 1 AND p.tier_window NOT IN ('calendar_year', 'lifetime') THEN
    RAISE EXCEPTION 'bench_load: tier window % is not supported (use load_calls)', p.tier_window;
  END IF;
  IF EXISTS (SELECT 1 FROM loyalty.account WHERE program_id = p.id) THEN
    RAISE EXCEPTION 'bench_load: program % already has members', p_program;
  END IF;
  PERFORM bench_load.check_spec(p_program);
  IF EXISTS (SELECT 1 FROM bench_load.op WHERE program = p_program AND kind = 'redeem'
             GROUP BY member HAVING count(*) > 1) THEN
    RAISE EXCEPTION 'bench_load: at most one redeem per member (use load_calls)';
  END IF;

  -- business time in the program's zone (date_trunc, + interval: the local
  -- calendar, as src/timeutil.c), and the restore guard's escape (for the
  -- transaction)
  PERFORM set_config('TimeZone', p.timezone, true);
  PERFORM set_config('loyalty.maintenance', 'on', true);

  -- 1. the tier in force at every earn, upgrade by upgrade: an earn whose
  --    window's value reaches a higher tier upgrades; the later earns run at
  --    the new tier.  Each round confirms the first upgrade left per member
  --    (everything before it is final), so rounds <= tiers.
  DROP TABLE IF EXISTS pg_temp.bl_op;
  CREATE TEMP TABLE bl_op AS
  SELECT o.member, o.seq, row_number() OVER w AS id, o.at, o.kind, o.amount, o.category,
         o.points AS take, o.ref,
         CASE WHEN o.kind = 'earn' THEN count(*) FILTER (WHERE o.kind = 'earn') OVER w END AS lot_id,
         CASE WHEN p.tier_window = 'lifetime' THEN NULL ELSE date_trunc('year', o.at) END AS win,
         1 AS tier, NULL::int AS up_to, NULL::int AS up_round
  FROM bench_load.op o WHERE o.program = p_program
  WINDOW w AS (PARTITION BY o.member ORDER BY o.seq);
  CREATE INDEX ON bl_op (member, seq);
  ANALYZE bl_op;
  LOOP
    EXIT WHEN ntiers < 2;
    rounds := rounds + 1;
    WITH v AS (
      SELECT member, seq, tier, up_to, kind, amount, pts,
             sum(CASE WHEN kind <> 'earn' THEN 0 WHEN p.tier_basis = 'points' THEN pts
                      WHEN p.tier_basis = 'spend' THEN amount ELSE 1 END)
               OVER (PARTITION BY member, win ORDER BY seq) AS value
      FROM (SELECT o.*, bench_load.points(o.amount, p.points_per_unit, p.unit, mults[o.tier],
                                          p.max_multiplier, p.rounding) AS pts
            FROM bl_op o) o),
    t AS (
      SELECT member, seq,
             (SELECT max(i) FROM generate_subscripts(thresholds, 1) i WHERE thresholds[i] <= v.value) AS target,
             tier
      FROM v
      WHERE kind = 'earn' AND up_to IS NULL
        AND CASE p.tier_basis WHEN 'points' THEN pts > 0 WHEN 'spend' THEN amount > 0 ELSE true END),
    cand AS (
      SELECT DISTINCT ON (member) member, seq, target FROM t WHERE target > tier ORDER BY member, seq)
    UPDATE bl_op o SET up_to = c.target, up_round = rounds FROM cand c
    WHERE o.member = c.member AND o.seq = c.seq;
    GET DIAGNOSTICS changed = ROW_COUNT;
    EXIT WHEN changed = 0;
    UPDATE bl_op o SET tier = greatest(o.tier, u.up_to) FROM bl_op u
    WHERE u.up_round = rounds AND o.member = u.member AND o.seq > u.seq;
    IF rounds > ntiers THEN
      RAISE EXCEPTION 'bench_load: tier rounds do not converge (bug)';
    END IF;
  END LOOP;

  -- an op at or after the end of its upgraded tier's period would evaluate it
  SELECT format('%s seq %s', member, seq) INTO bad
  FROM (SELECT member, seq, at,
               max(CASE WHEN up_to IS NOT NULL THEN at END)
                 OVER (PARTITION BY member ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS up_at
        FROM bl_op) o
  WHERE p.tier_window = 'calendar_year' AND at >= date_trunc('year', up_at) + interval '2 years'
  LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'bench_load: op % comes after its tier period ended (use load_calls)', bad;
  END IF;

  -- 2. the lots, with what the redeem took (first to expire first among
  --    the lots usable at its time)
  DROP TABLE IF EXISTS pg_temp.bl_lot;
  CREATE TEMP TABLE bl_lot AS
  SELECT o.member, o.lot_id AS id, o.seq, o.at, o.amount, o.ref,
         bench_load.points(o.amount, p.points_per_unit, p.unit, mults[o.tier], p.max_multiplier,
                           p.rounding) AS points,
         CASE p.expiry
           WHEN 'none' THEN NULL
           WHEN 'fixed' THEN o.at + p.expiry_after
           ELSE date_trunc(p.expiry_period, o.at + coalesce(p.expiry_after, interval '0'))
                + CASE p.expiry_period WHEN 'month' THEN interval '1 month'
                                       WHEN 'quarter' THEN interval '3 months'
                                       ELSE interval '1 year' END END AS expires_at,
         0::bigint AS taken
  FROM bl_op o WHERE o.kind = 'earn';
  CREATE INDEX ON bl_lot (member, id);

  DROP TABLE IF EXISTS pg_temp.bl_redeem;
  CREATE TEMP TABLE bl_redeem AS
  SELECT r.member, r.seq, r.take, r.at,
         (SELECT coalesce(sum(l.points), 0) FROM bl_lot l
           WHERE l.member = r.member AND l.at <= r.at
             AND (l.expires_at IS NULL OR l.expires_at > r.at)) AS usable
  FROM bl_op r WHERE r.kind = 'redeem';
  SELECT format('%s seq %s', member, seq) INTO bad FROM bl_redeem WHERE take > usable LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'bench_load: redeem % is above the balance', bad;
  END IF;
  UPDATE bl_lot l SET taken = least(l.points, greatest(0, s.take - (s.cum - l.points)))
  FROM (SELECT l.member, l.id, r.take,
               sum(l.points) OVER (PARTITION BY l.member
                                   ORDER BY l.expires_at NULLS LAST, l.at, l.id) AS cum
        FROM bl_lot l JOIN bl_redeem r ON r.member = l.member
        WHERE l.at <= r.at AND (l.expires_at IS NULL OR l.expires_at > r.at)) s
  WHERE l.member = s.member AND l.id = s.id;

  -- 3. the rows, staged (load_bulk writes them)
  INSERT INTO bl_account (program_id, member, joined_at, birthday, tier, tier_since, tier_until,
                          debt, purchases, last_earn_at, last_activity_at, credited, held, load_ord)
  SELECT p.id, m.member, m.joined_at, m.birthday,
         codes[coalesce(u.up_to, 1)], u.at,
         CASE WHEN u.at IS NOT NULL AND p.tier_window = 'calendar_year'
              THEN date_trunc('year', u.at) + interval '2 years' END,
         0, coalesce(l.n, 0), l.last_earn, o.last_at, coalesce(l.credited, 0), coalesce(l.held, 0), m.ord
  FROM bench_load.member m
  LEFT JOIN (SELECT member, count(*) AS n, max(at) FILTER (WHERE points > 0) AS last_earn,
                    sum(points) AS credited, sum(points - taken) AS held
             FROM bl_lot GROUP BY member) l ON l.member = m.member
  LEFT JOIN (SELECT member, max(at) AS last_at FROM bl_op GROUP BY member) o ON o.member = m.member
  LEFT JOIN (SELECT DISTINCT ON (member) member, at, up_to FROM bl_op WHERE up_to IS NOT NULL
             ORDER BY member, seq DESC) u ON u.member = m.member
  WHERE m.program = p_program;

  INSERT INTO bl_tier_change (program_id, member, id, at, from_tier, to_tier, reason,
                                   valid_until, by_evaluation)
  SELECT p.id, member, row_number() OVER (PARTITION BY member ORDER BY seq), at, codes[tier],
         codes[up_to], 'upgrade',
         CASE WHEN p.tier_window = 'calendar_year' THEN date_trunc('year', at) + interval '2 years' END,
         false
  FROM bl_op WHERE up_to IS NOT NULL;

  INSERT INTO bl_lot_rows (program_id, member, id, earned_at, available_at, expires_at, points,
                           remaining, source, ref, amount)
  SELECT p.id, member, id, at, at, expires_at, points, points - taken, 'earn', ref, amount
  FROM bl_lot;

  INSERT INTO bl_ledger (program_id, member, id, at, kind, points, ref, result, amount,
                         category, lot_id, qual_at, qual_points, qual_spend, qual_orders, detail)
  SELECT p.id, o.member, o.id, o.at, o.kind,
         CASE o.kind WHEN 'earn' THEN l.points ELSE -o.take END, o.ref,
         CASE o.kind WHEN 'earn' THEN l.points ELSE r.usable - r.take END,
         o.amount, o.category, l.id,
         CASE o.kind WHEN 'earn' THEN o.at END,
         coalesce(l.points, 0), coalesce(o.amount, 0), CASE o.kind WHEN 'earn' THEN 1 ELSE 0 END,
         CASE o.kind WHEN 'earn' THEN
           jsonb_build_object('base', b.base)
           || CASE WHEN l.points <> b.base THEN jsonb_build_object('tier', l.points - b.base)
                   ELSE '{}'::jsonb END END
  FROM bl_op o
  LEFT JOIN bl_lot l ON l.member = o.member AND l.seq = o.seq
  LEFT JOIN bl_redeem r ON r.member = o.member AND r.seq = o.seq
  LEFT JOIN LATERAL (SELECT bench_load.points(o.amount, p.points_per_unit, p.unit, 1,
                                              p.max_multiplier, p.rounding) AS base) b ON true;

  SELECT count(*) INTO n FROM bl_op;
  DROP TABLE bl_op, bl_lot, bl_redeem;
  RETURN n;
END $$;

-- Set-based: the rows load_calls would write for each of the programs (see
-- the top of this file), inserted together (one index rebuild).  p_layout:
-- heap order of lots and ledger, 'time' (at, member: as years of operations
-- leave it) or 'member' (member, id).  Returns the ops loaded.
CREATE FUNCTION bench_load.load_bulk(p_programs text[], p_layout text DEFAULT 'time')
  RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  fast boolean;
  n bigint := 0;
  prog text;
  ord text;
BEGIN
  IF p_layout NOT IN ('time', 'member') THEN
    RAISE EXCEPTION 'bench_load: layout must be time or member';
  END IF;
  PERFORM set_config('loyalty.maintenance', 'on', true);
  DROP TABLE IF EXISTS pg_temp.bl_account, pg_temp.bl_lot_rows, pg_temp.bl_ledger, pg_temp.bl_tier_change;
  CREATE TEMP TABLE bl_account (LIKE loyalty.account INCLUDING DEFAULTS, load_ord bigint);
  CREATE TEMP TABLE bl_lot_rows (LIKE loyalty.lot INCLUDING DEFAULTS);
  CREATE TEMP TABLE bl_ledger (LIKE loyalty.ledger INCLUDING DEFAULTS);
  CREATE TEMP TABLE bl_tier_change (LIKE loyalty.tier_change INCLUDING DEFAULTS);
  FOREACH prog IN ARRAY p_programs LOOP
    n := n + bench_load.stage(prog);
  END LOOP;

  fast := NOT EXISTS (SELECT 1 FROM loyalty.account) AND NOT EXISTS (SELECT 1 FROM loyalty.lot)
          AND NOT EXISTS (SELECT 1 FROM loyalty.ledger) AND NOT EXISTS (SELECT 1 FROM loyalty.tier_change);
  IF fast THEN
    PERFORM bench_load.drop_indexes();
  END IF;
  ord := CASE p_layout WHEN 'time' THEN 'at, program_id, member, id' ELSE 'program_id, member, id' END;
  INSERT INTO loyalty.account
  SELECT program_id, member, joined_at, birthday, referred_by, referral_paid, tier, tier_since,
         tier_until, debt, purchases, last_earn_at, last_activity_at, credited, roll_until, held
  FROM bl_account ORDER BY joined_at, load_ord, member;
  INSERT INTO loyalty.tier_change SELECT * FROM bl_tier_change ORDER BY at, program_id, member, id;
  EXECUTE format('INSERT INTO loyalty.lot SELECT l.* FROM bl_lot_rows l ORDER BY %s',
                 replace(ord, 'at,', 'earned_at,'));
  EXECUTE format('INSERT INTO loyalty.ledger SELECT e.* FROM bl_ledger e ORDER BY %s', ord);
  IF fast THEN
    IF pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('256MB') THEN
      PERFORM set_config('maintenance_work_mem', '256MB', true);
    END IF;
    PERFORM bench_load.restore_indexes();
  END IF;
  DROP TABLE bl_account, bl_lot_rows, bl_ledger, bl_tier_change;
  PERFORM bench_load.assert_verified();
  RETURN n;
END $$;

-- Load the programs' specs: how = 'calls', 'bulk', or 'auto' (calls up to
-- 50000 ops, bulk above).  A procedure, so that load_calls may COMMIT.
CREATE PROCEDURE bench_load.load(p_programs text[], how text DEFAULT 'auto', p_layout text DEFAULT 'time')
  LANGUAGE plpgsql AS $$
DECLARE prog text;
BEGIN
  IF how = 'auto' THEN
    how := CASE WHEN (SELECT count(*) FROM bench_load.op WHERE program = ANY (p_programs)) <= 50000
                THEN 'calls' ELSE 'bulk' END;
  END IF;
  RAISE NOTICE 'bench_load: % by %', array_to_string(p_programs, ', '), how;
  IF how = 'bulk' THEN
    PERFORM bench_load.load_bulk(p_programs, p_layout);
  ELSIF how = 'calls' THEN
    FOREACH prog IN ARRAY p_programs LOOP
      CALL bench_load.load_calls(prog);
    END LOOP;
  ELSE
    RAISE EXCEPTION 'bench_load: how must be calls, bulk or auto, not %', how;
  END IF;
END $$;
