-- harness.sql — installed by test/fuzz.sh into fuzz_a and fuzz_b (after
-- CREATE EXTENSION loyalty), and at the top of every reproducer.
--   fuzz.dropped  oids of orders tables the sequence dropped (op o_stale)
--   fuzz.digest() what the checks compare between the two databases
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS fuzz;
CREATE TABLE IF NOT EXISTS fuzz.dropped (id serial PRIMARY KEY, oid oid);

-- the value of a query, or its error's SQLSTATE: a check goes on past a
-- member whose balance() fails
CREATE OR REPLACE FUNCTION fuzz.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
  EXECUTE q INTO v;
  RETURN coalesce(v, '<null>');
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR ' || SQLSTATE;
END $$;

-- One line per fact, in a fixed order; fuzz_a (swept) and fuzz_b (never
-- swept) must give the same lines:
--   verify|...             a row of loyalty.verify() (there must be none)
--   bal|member|instant|n   balance(program, member, instant); instant 'now' = default
--   tier|member|instant|t  tier_of (at each instant when tier_of takes an at)
--   ledger|member|kind|sum|count   the ledger without the expiry rows
--   summary|member|{...}   member_summary: tier, available, pending, debt, ...
--   rule|offer|codes|...   rule_stats (budgets), member_offers, code_batches (0.5.0 on)
CREATE OR REPLACE FUNCTION fuzz.digest(prog text, instants timestamptz[], pool text[])
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  r record; m text; i int; members text[];
  tier_at boolean := to_regprocedure('loyalty.tier_of(text,text,timestamptz)') IS NOT NULL;
BEGIN
  FOR r IN SELECT * FROM loyalty.verify() v LOOP
    RETURN NEXT 'verify|' || row_to_json(r)::text;
  END LOOP;
  SELECT array_agg(x ORDER BY x) INTO members
  FROM (SELECT unnest(pool) AS x
        UNION SELECT s.member FROM loyalty.member_summary s WHERE s.program = prog) q;
  FOREACH m IN ARRAY coalesce(members, '{}') LOOP
    RETURN NEXT format('bal|%s|now|%s', m, fuzz.try(format('SELECT loyalty.balance(%L, %L)', prog, m)));
    FOR i IN 1 .. coalesce(array_length(instants, 1), 0) LOOP
      RETURN NEXT format('bal|%s|%s|%s', m, instants[i] AT TIME ZONE 'UTC',
                         fuzz.try(format('SELECT loyalty.balance(%L, %L, %L::timestamptz)', prog, m, instants[i])));
    END LOOP;
    RETURN NEXT format('tier|%s|now|%s', m, fuzz.try(format('SELECT loyalty.tier_of(%L, %L)', prog, m)));
    IF tier_at THEN
      FOR i IN 1 .. coalesce(array_length(instants, 1), 0) LOOP
        RETURN NEXT format('tier|%s|%s|%s', m, instants[i] AT TIME ZONE 'UTC',
                           fuzz.try(format('SELECT loyalty.tier_of(%L, %L, %L::timestamptz)', prog, m, instants[i])));
      END LOOP;
    END IF;
  END LOOP;
  FOR r IN SELECT s.member, s.kind, sum(s.points) AS pts, count(*) AS n
           FROM loyalty.statement s
           WHERE s.program = prog AND s.kind <> 'expire'
           GROUP BY s.member, s.kind ORDER BY s.member, s.kind LOOP
    RETURN NEXT format('ledger|%s|%s|%s|%s', r.member, r.kind, r.pts, r.n);
  END LOOP;
  FOR r IN SELECT s.member, to_jsonb(s) AS j FROM loyalty.member_summary s
           WHERE s.program = prog ORDER BY s.member LOOP
    RETURN NEXT format('summary|%s|%s', r.member,
                       jsonb_build_object('tier', r.j -> 'tier', 'available', r.j -> 'available',
                                          'pending', r.j -> 'pending', 'debt', r.j -> 'debt',
                                          'lifetime_earned', r.j -> 'lifetime_earned',
                                          'lifetime_redeemed', r.j -> 'lifetime_redeemed',
                                          'lifetime_expired', r.j -> 'lifetime_expired',
                                          'qualifying', r.j -> 'qualifying'));
  END LOOP;
  -- campaigns, offers and codes (0.5.0 on): what the budgets spent, the
  -- grants' uses, who got each code
  IF to_regclass('loyalty.code_batches') IS NOT NULL THEN
    FOR r IN EXECUTE 'SELECT rule, purchases, points, budget, spent FROM loyalty.rule_stats WHERE program = $1 ORDER BY rule' USING prog LOOP
      RETURN NEXT format('rule|%s|%s|%s|%s|%s', r.rule, r.purchases, r.points, r.budget, r.spent);
    END LOOP;
    FOR r IN EXECUTE 'SELECT member, rule, uses, uses_left, ref FROM loyalty.member_offers WHERE program = $1 ORDER BY member, rule, ref, uses, uses_left' USING prog LOOP
      RETURN NEXT format('offer|%s|%s|%s|%s|%s', r.member, r.rule, r.uses, r.uses_left, r.ref);
    END LOOP;
    FOR r IN EXECUTE 'SELECT batch, codes, used, points_credited FROM loyalty.code_batches WHERE program = $1 ORDER BY batch' USING prog LOOP
      RETURN NEXT format('codes|%s|%s|%s|%s', r.batch, r.codes, r.used, r.points_credited);
    END LOOP;
  END IF;
  -- alliances (0.6.0 on): each merchant's settlement, and over all of them
  -- the ledger's issued and redeemed points exactly (a verify line if not)
  IF to_regclass('loyalty.merchant_settlement') IS NOT NULL THEN
    FOR r IN EXECUTE 'SELECT merchant, month, issued, redeemed, net_value FROM loyalty.merchant_settlement WHERE program = $1 ORDER BY month, merchant NULLS FIRST' USING prog LOOP
      RETURN NEXT format('settle|%s|%s|%s|%s|%s', r.merchant, r.month, r.issued, r.redeemed, r.net_value);
    END LOOP;
    FOR r IN EXECUTE 'SELECT s.issued, s.redeemed, l.issued AS l_issued, l.redeemed AS l_redeemed
                      FROM (SELECT coalesce(sum(issued), 0) AS issued, coalesce(sum(redeemed), 0) AS redeemed
                            FROM loyalty.merchant_settlement WHERE program = $1) s,
                           (SELECT coalesce(sum(e.points) FILTER (WHERE e.kind IN (''earn'', ''event'')
                                                 OR (e.kind = ''refund'' AND e.counterparty IS NULL)), 0) AS issued,
                                   coalesce(-sum(e.points) FILTER (WHERE e.kind = ''redeem''), 0) AS redeemed
                            FROM loyalty.ledger e JOIN loyalty.program p ON p.id = e.program_id
                            WHERE p.code = $1 AND e.at <= now()) l
                      WHERE s.issued <> l.issued OR s.redeemed <> l.redeemed' USING prog LOOP
      RETURN NEXT 'verify|' || json_build_object('settlement_disagrees_with_ledger', row_to_json(r))::text;
    END LOOP;
  END IF;
END $$;
RESET client_min_messages;
