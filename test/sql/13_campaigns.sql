-- Campaign limits (max_per_member, budget) and offers granted to members (SPEC §8).
\i test/sql/preamble.psql
-- quote total and lines
CREATE FUNCTION pg_temp.qt(p text, m text, a numeric, t timestamptz)
RETURNS bigint LANGUAGE sql AS $f$
  SELECT sum(points)::bigint FROM loyalty.quote(p, m, a, t)
$f$;
CREATE FUNCTION pg_temp.ql(p text, m text, a numeric, t timestamptz)
RETURNS text LANGUAGE sql AS $f$
  SELECT string_agg(source || '=' || points, ' ') FROM loyalty.quote(p, m, a, t)
$f$;
CREATE FUNCTION pg_temp.stats(p text)
RETURNS TABLE(rule text, purchases bigint, points bigint, budget bigint, spent bigint, remaining bigint)
LANGUAGE sql AS $f$
  SELECT rule, purchases, points, budget, spent, remaining FROM loyalty.rule_stats
  WHERE program = p ORDER BY rule
$f$;
CREATE FUNCTION pg_temp.offers(p text)
RETURNS TABLE(member text, rule text, uses_left integer, valid_from timestamptz, valid_until timestamptz,
              uses integer, ref text)
LANGUAGE sql AS $f$
  SELECT member, rule, uses_left, valid_from, valid_until, uses, ref FROM loyalty.member_offers
  WHERE program = p ORDER BY member, rule, valid_until NULLS LAST, ref
$f$;
-- everything a failed call could have written
CREATE FUNCTION pg_temp.written()
RETURNS text LANGUAGE sql AS $f$
  SELECT format('rules=%s accounts=%s ledger=%s offers=%s budgets=%s spent=%s',
                (SELECT count(*) FROM loyalty.rule), (SELECT count(*) FROM loyalty.account),
                (SELECT count(*) FROM loyalty.ledger), (SELECT count(*) FROM loyalty.offer),
                (SELECT count(*) FROM loyalty.rule_budget),
                (SELECT coalesce(sum(spent), 0) FROM loyalty.rule_budget))
$f$;

-- 1. The limits are params of multiplier and bonus rules, checked: LY007,
--    nothing written.
SELECT loyalty.create_program('cmp_lim') > 0 AS ok;
SELECT pg_temp.written() AS before \gset
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'bonus', '{"points": 10, "max_per_member": 0}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'bonus', '{"points": 10, "max_per_member": 1.5}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'bonus', '{"points": 10, "max_per_member": "2"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'bonus', '{"points": 10, "max_per_member": 2147483648}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'multiplier', '{"factor": 2, "budget": 0}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'multiplier', '{"factor": 2, "budget": -5}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'multiplier', '{"factor": 2, "budget": 99.5}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'multiplier', '{"factor": 2, "budget": null}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'multiplier', '{"factor": 2, "budget": 1000000000001}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'multiplier', '{"factor": 2, "offer": "yes"}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'multiplier', '{"factor": 2, "offer": [true]}')$$);
-- only on multiplier and bonus
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'category_rate', '{"category": "a", "points_per_unit": 2, "budget": 10}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'event', '{"event": "survey", "points": 5, "max_per_member": 1}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'streak', '{"event": "checkin", "days": 3, "points": 5, "offer": true}')$$);
SELECT pg_temp.err($$SELECT loyalty.add_rule('cmp_lim', 'x', 'referral', '{"referee_points": 5, "budget": 100}')$$);
SELECT pg_temp.written() = :'before' AS nothing_written;
-- the edges are accepted
SELECT loyalty.add_rule('cmp_lim', 'edge', 'bonus', '{"points": 1, "max_per_member": 1, "budget": 1, "offer": false}');
SELECT loyalty.add_rule('cmp_lim', 'wide', 'multiplier',
                        '{"factor": 2, "max_per_member": 2147483647, "budget": 1000000000000}');

-- 2. max_per_member: a welcome bonus for a member's first three purchases.
SELECT loyalty.create_program('cmp_per') > 0 AS ok;
SELECT loyalty.add_rule('cmp_per', 'welcome', 'bonus', '{"points": 30, "max_per_member": 3}');
SELECT pg_temp.ql('cmp_per', 'm1', 100, '2026-01-05') AS quote_1;
SELECT loyalty.earn('cmp_per', 'm1', 100, 'o1', '2026-01-05') AS first,
       loyalty.earn('cmp_per', 'm1', 100, 'o2', '2026-01-06') AS second;
SELECT pg_temp.ql('cmp_per', 'm1', 100, '2026-01-07') AS quote_3;
SELECT loyalty.earn('cmp_per', 'm1', 100, 'o3', '2026-01-07') AS third_the_last;
-- a retry of the third purchase replays it and uses nothing more
SELECT loyalty.earn('cmp_per', 'm1', 100, 'o3', '2026-01-08') AS third_replayed;
SELECT pg_temp.ql('cmp_per', 'm1', 100, '2026-01-09') AS quote_4;
SELECT loyalty.earn('cmp_per', 'm1', 100, 'o4', '2026-01-09') AS fourth_no_bonus;
-- a refund of a purchase gives no use back
SELECT loyalty.refund('cmp_per', 'm1', 'o1', 100, 'r1', '2026-01-10') AS clawed_back;
SELECT loyalty.earn('cmp_per', 'm1', 100, 'o5', '2026-01-11') AS after_refund_no_bonus;
-- another member has its own three
SELECT loyalty.earn('cmp_per', 'm2', 100, 'o1', '2026-01-11') AS other_member;
-- a limit on a group's larger bonus: once used, the next of the group applies
SELECT loyalty.add_rule('cmp_per', 'big', 'bonus', '{"points": 500, "group": "ladder", "min_amount": 1000, "max_per_member": 1}');
SELECT loyalty.add_rule('cmp_per', 'small', 'bonus', '{"points": 200, "group": "ladder", "min_amount": 1000}');
SELECT loyalty.earn('cmp_per', 'm3', 1000, 'o1', '2026-01-12') AS big_once,
       loyalty.earn('cmp_per', 'm3', 1000, 'o2', '2026-01-13') AS then_small;
-- a limit set later counts the purchases the rule already applied to
SELECT loyalty.add_rule('cmp_per', 'welcome', 'bonus', '{"points": 30, "max_per_member": 1}');
SELECT loyalty.earn('cmp_per', 'm2', 100, 'o2', '2026-01-14') AS m2_used_its_one;
SELECT * FROM pg_temp.stats('cmp_per');

-- 3. budget: the most points a rule awards in the program.  A purchase
--    whose share would pass what is left gets nothing from the rule.
SELECT loyalty.create_program('cmp_bud') > 0 AS ok;
SELECT loyalty.add_rule('cmp_bud', 'b100', 'bonus', '{"points": 100, "budget": 250}');
SELECT loyalty.earn('cmp_bud', 'a', 10, 'o1', '2026-02-01') AS a_gets_100,
       loyalty.earn('cmp_bud', 'b', 10, 'o1', '2026-02-01') AS b_gets_100;
SELECT * FROM pg_temp.stats('cmp_bud');
-- 50 left: the next purchase would pass it and gets no part of the 100
SELECT pg_temp.ql('cmp_bud', 'c', 10, '2026-02-01') AS quote_c;
SELECT loyalty.earn('cmp_bud', 'c', 10, 'o1', '2026-02-01') AS c_gets_base_only;
SELECT * FROM pg_temp.stats('cmp_bud');
-- a budget met exactly: the share equal to what is left is paid
SELECT loyalty.add_rule('cmp_bud', 'b50', 'bonus', '{"points": 50, "budget": 100}');
SELECT loyalty.earn('cmp_bud', 'd', 10, 'o1', '2026-02-02') AS d,
       loyalty.earn('cmp_bud', 'e', 10, 'o1', '2026-02-02') AS e_takes_the_last_50,
       loyalty.earn('cmp_bud', 'f', 10, 'o1', '2026-02-02') AS f_nothing_left;
SELECT * FROM pg_temp.stats('cmp_bud');
-- a retry spends nothing more; a refund gives nothing back
SELECT loyalty.earn('cmp_bud', 'e', 10, 'o1', '2026-02-03') AS e_replayed;
SELECT loyalty.refund('cmp_bud', 'e', 'o1', 10, 'r1', '2026-02-03') AS e_refunded;
SELECT * FROM pg_temp.stats('cmp_bud');
-- raising a budget pays again from what is spent
SELECT loyalty.add_rule('cmp_bud', 'b50', 'bonus', '{"points": 50, "budget": 150}');
SELECT loyalty.earn('cmp_bud', 'f', 10, 'o2', '2026-02-04') AS f_after_raise;
SELECT * FROM pg_temp.stats('cmp_bud');

-- a multiplier's share is its line: the extra points it gives
SELECT loyalty.create_program('cmp_mul') > 0 AS ok;
SELECT loyalty.add_rule('cmp_mul', 'dbl', 'multiplier', '{"factor": 2, "budget": 300}');
SELECT pg_temp.qt('cmp_mul', 'a', 100, '2026-03-01') AS quote_a, loyalty.earn('cmp_mul', 'a', 100, 'o1', '2026-03-01') AS a;
SELECT pg_temp.qt('cmp_mul', 'b', 150, '2026-03-01') AS quote_b, loyalty.earn('cmp_mul', 'b', 150, 'o1', '2026-03-01') AS b;
-- 50 left: 60 extra would pass it, 50 extra is exactly it, then 1 is too many
SELECT pg_temp.qt('cmp_mul', 'c', 60, '2026-03-01') AS quote_c, loyalty.earn('cmp_mul', 'c', 60, 'o1', '2026-03-01') AS c;
SELECT pg_temp.qt('cmp_mul', 'd', 50, '2026-03-01') AS quote_d, loyalty.earn('cmp_mul', 'd', 50, 'o1', '2026-03-01') AS d;
SELECT pg_temp.qt('cmp_mul', 'e', 1, '2026-03-01') AS quote_e, loyalty.earn('cmp_mul', 'e', 1, 'o1', '2026-03-01') AS e;
SELECT * FROM pg_temp.stats('cmp_mul');
-- dropping a multiplier changes the lines after it: 2 (budget 150) then 1.5
SELECT loyalty.create_program('cmp_chain') > 0 AS ok;
SELECT loyalty.add_rule('cmp_chain', 'm2', 'multiplier', '{"factor": 2, "budget": 150}');
SELECT loyalty.add_rule('cmp_chain', 'm15', 'multiplier', '{"factor": 1.5}');
SELECT pg_temp.ql('cmp_chain', 'a', 100, '2026-03-02') AS quote_a;
SELECT loyalty.earn('cmp_chain', 'a', 100, 'o1', '2026-03-02') AS a_300;
SELECT pg_temp.ql('cmp_chain', 'b', 100, '2026-03-02') AS quote_b;
SELECT loyalty.earn('cmp_chain', 'b', 100, 'o1', '2026-03-02') AS b_150_not_250;
SELECT member, points, detail FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'cmp_chain' ORDER BY l.member, l.id;
SELECT * FROM pg_temp.stats('cmp_chain');
-- an exhausted bonus of a group lets the next of the group apply
SELECT loyalty.create_program('cmp_grp') > 0 AS ok;
SELECT loyalty.add_rule('cmp_grp', 'gold', 'bonus', '{"points": 500, "group": "g", "budget": 500}');
SELECT loyalty.add_rule('cmp_grp', 'silver', 'bonus', '{"points": 200, "group": "g", "budget": 300}');
SELECT loyalty.add_rule('cmp_grp', 'bronze', 'bonus', '{"points": 50, "group": "g"}');
SELECT loyalty.earn('cmp_grp', 'a', 10, 'o1', '2026-03-03') AS gold,
       loyalty.earn('cmp_grp', 'b', 10, 'o1', '2026-03-03') AS silver,
       loyalty.earn('cmp_grp', 'c', 10, 'o1', '2026-03-03') AS bronze_100_left_of_silver;
SELECT * FROM pg_temp.stats('cmp_grp');
SELECT * FROM loyalty.verify();

-- 4. Offers: rules that apply only to members holding a grant.
SELECT loyalty.create_program('cmp_off') > 0 AS ok;
SELECT loyalty.add_rule('cmp_off', 'bday2x', 'multiplier', '{"factor": 2, "offer": true}');
SELECT loyalty.add_rule('cmp_off', 'card', 'bonus', '{"points": 88, "offer": true}');
SELECT loyalty.add_rule('cmp_off', 'plain', 'bonus', '{"points": 1}');
-- without a grant an offer does not apply
SELECT pg_temp.ql('cmp_off', 'm', 100, '2026-03-10') AS quote_no_grant;
SELECT loyalty.earn('cmp_off', 'm', 100, 'o1', '2026-03-01') AS no_grant;
-- a two-use coupon for March
SELECT loyalty.grant_offer('cmp_off', 'm', 'bday2x', 2, '2026-03-05', '2026-04-01', 'g1');
SELECT * FROM pg_temp.offers('cmp_off');
SELECT pg_temp.ql('cmp_off', 'm', 100, '2026-03-04') AS quote_before_window;
SELECT loyalty.earn('cmp_off', 'm', 100, 'o2', '2026-03-04 23:59:59') AS before_window;
SELECT pg_temp.ql('cmp_off', 'm', 100, '2026-03-05') AS quote_at_from;
SELECT loyalty.earn('cmp_off', 'm', 100, 'o3', '2026-03-05') AS at_from_doubled;
SELECT * FROM pg_temp.offers('cmp_off');
-- a retry uses nothing more
SELECT loyalty.earn('cmp_off', 'm', 100, 'o3', '2026-03-06') AS replayed;
SELECT uses_left FROM loyalty.member_offers WHERE program = 'cmp_off' AND member = 'm';
SELECT loyalty.earn('cmp_off', 'm', 100, 'o4', '2026-03-31 23:59:59') AS last_use;
SELECT pg_temp.ql('cmp_off', 'm', 100, '2026-03-31 23:59:59.5') AS quote_used_up;
SELECT loyalty.earn('cmp_off', 'm', 100, 'o5', '2026-03-31 23:59:59.5') AS used_up;
-- a refund does not give the use back
SELECT loyalty.refund('cmp_off', 'm', 'o4', 100, 'r4', '2026-04-01') AS refunded;
SELECT * FROM pg_temp.offers('cmp_off');
-- expiry: [valid_from, valid_until); several grants: the one ending first is used first
SELECT loyalty.grant_offer('cmp_off', 'n', 'card', 1, valid_until => '2026-05-01');
SELECT loyalty.grant_offer('cmp_off', 'n', 'card', 1, valid_until => '2026-04-20');
SELECT loyalty.grant_offer('cmp_off', 'n', 'card');
SELECT loyalty.earn('cmp_off', 'n', 10, 'o1', '2026-04-10') AS card_1;
SELECT * FROM pg_temp.offers('cmp_off') WHERE member = 'n';
SELECT loyalty.earn('cmp_off', 'n', 10, 'o2', '2026-05-01') AS card_2_never_ending;
SELECT pg_temp.ql('cmp_off', 'n', 10, '2026-05-01') AS quote_only_expired_left;
SELECT loyalty.earn('cmp_off', 'n', 10, 'o3', '2026-05-01') AS expired_left;
SELECT loyalty.earn('cmp_off', 'n', 10, 'o4', '2026-04-30') AS back_dated_within_window;
SELECT * FROM pg_temp.offers('cmp_off') WHERE member = 'n';
-- grant_offer enrols an unknown member (no points)
SELECT count(*) AS o_before FROM loyalty.account a JOIN loyalty.program p ON p.id = a.program_id
WHERE p.code = 'cmp_off' AND a.member = 'o';
SELECT loyalty.grant_offer('cmp_off', 'o', 'card', 3, ref => 'crm-1');
SELECT loyalty.grant_offer('cmp_off', 'o', 'card', 3, ref => 'crm-1') AS retry_is_a_no_op;
SELECT member, tier, available FROM loyalty.member_summary WHERE program = 'cmp_off' AND member = 'o';
SELECT * FROM pg_temp.offers('cmp_off') WHERE member = 'o';
-- an offer with a budget: a purchase the budget cannot pay does not use the grant
SELECT loyalty.add_rule('cmp_off', 'vip', 'bonus', '{"points": 100, "offer": true, "budget": 100}');
SELECT loyalty.grant_offer('cmp_off', 'v', 'vip', 2);
SELECT loyalty.grant_offer('cmp_off', 'w', 'vip', 1);
SELECT loyalty.earn('cmp_off', 'v', 10, 'o1', '2026-06-01') AS v_vip,
       loyalty.earn('cmp_off', 'w', 10, 'o1', '2026-06-01') AS w_budget_spent,
       loyalty.earn('cmp_off', 'v', 10, 'o2', '2026-06-01') AS v_budget_spent;
SELECT * FROM pg_temp.offers('cmp_off') WHERE rule = 'vip';
SELECT * FROM pg_temp.stats('cmp_off');
SELECT * FROM loyalty.verify();

-- 5. grant_offer's errors: SQLSTATE, nothing written (no enrolment either)
SELECT pg_temp.written() AS before \gset
SELECT pg_temp.err($$SELECT loyalty.grant_offer('nope', 'x', 'card')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'nope')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'plain')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'card', 0)$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'card', -1)$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'card', NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'card', 1, '2026-05-01', '2026-05-01')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'card', 1, '2026-05-02', '2026-05-01')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'card', 1, 'infinity')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'card', ref => '')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', 'card', ref => repeat('r', 201))$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', repeat('x', 201), 'card')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', '', 'card')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer(NULL, 'x', 'card')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', NULL, 'card')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', NULL)$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'x', '')$$);
-- the ref of a grant reused with other arguments
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'o', 'card', 2, ref => 'crm-1')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'o', 'bday2x', 3, ref => 'crm-1')$$);
SELECT pg_temp.err($$SELECT loyalty.grant_offer('cmp_off', 'o', 'card', 3, valid_until => '2027-01-01', ref => 'crm-1')$$);
SELECT pg_temp.written() = :'before' AS nothing_written;
SELECT * FROM pg_temp.offers('cmp_off') WHERE member = 'o';

-- 6. Orders tables earn through the same limits: two orders of one member
--    in one statement, a bonus for the first purchase only
SELECT loyalty.create_program('cmp_ord') > 0 AS ok;
SELECT loyalty.add_rule('cmp_ord', 'once', 'bonus', '{"points": 7, "max_per_member": 1}');
SELECT loyalty.add_rule('cmp_ord', 'pool', 'bonus', '{"points": 5, "budget": 10}');
CREATE TABLE campaign_orders (customer text, total numeric, order_no text, placed_at timestamptz);
SELECT loyalty.track_orders('campaign_orders', 'cmp_ord', 'customer', 'total', 'order_no', at_column => 'placed_at');
INSERT INTO campaign_orders VALUES ('k', 100, 'A1', '2026-07-01'), ('k', 100, 'A2', '2026-07-02'),
                               ('l', 100, 'A3', '2026-07-03');
SELECT l.member, l.ref, l.points, l.detail FROM loyalty.ledger l JOIN loyalty.program p ON p.id = l.program_id
WHERE p.code = 'cmp_ord' ORDER BY l.member, l.id;
SELECT * FROM pg_temp.stats('cmp_ord');

-- 7. rule_stats: budget, spent and remaining (NULL for a rule without a budget)
SELECT program, rule, purchases, points, budget, spent, remaining FROM loyalty.rule_stats
WHERE program IN ('cmp_bud', 'cmp_lim') ORDER BY program, rule;
