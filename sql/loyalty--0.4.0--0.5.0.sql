-- loyalty 0.4.0 -> 0.5.0: receipts, campaign limits, member offers and
-- single-use codes (issue #12; in progress).
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" to load this file. \quit

-- Receipts (SPEC §8): several lines, each at its category's rate and
-- multipliers, bonuses on the receipt; one ledger row and one lot.
CREATE FUNCTION loyalty.earn_order(program text, member text, lines jsonb, ref text,
                                   at timestamptz DEFAULT pg_catalog.now(),
                                   merchant text DEFAULT NULL) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_earn_order'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

CREATE FUNCTION loyalty.quote_order(program text, member text, lines jsonb,
                                    at timestamptz DEFAULT pg_catalog.now(),
                                    merchant text DEFAULT NULL)
  RETURNS TABLE(source text, points bigint)
  AS 'MODULE_PATHNAME', 'loyalty_quote_order'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;

CREATE FUNCTION loyalty.refund_lines(program text, member text, original_ref text, lines jsonb,
                                     ref text, at timestamptz DEFAULT pg_catalog.now()) RETURNS bigint
  AS 'MODULE_PATHNAME', 'loyalty_refund_lines'
  LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  SET enable_seqscan = off;
REVOKE ALL ON FUNCTION loyalty.earn_order(text, text, jsonb, text, timestamptz, text),
  loyalty.quote_order(text, text, jsonb, timestamptz, text),
  loyalty.refund_lines(text, text, text, jsonb, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  loyalty.earn_order(text, text, jsonb, text, timestamptz, text),
  loyalty.quote_order(text, text, jsonb, timestamptz, text),
  loyalty.refund_lines(text, text, text, jsonb, text, timestamptz)
  TO loyalty_writer;
COMMENT ON FUNCTION loyalty.earn_order(text,text,jsonb,text,timestamp with time zone,text) IS 'Credit a receipt of several lines (category rates and multipliers per line, bonuses on the receipt); returns the points earned (idempotent by ref)';
COMMENT ON FUNCTION loyalty.quote_order(text,text,jsonb,timestamp with time zone,text) IS 'What a receipt would earn, line by line of the explanation, writing nothing';
COMMENT ON FUNCTION loyalty.refund_lines(text,text,text,jsonb,text,timestamp with time zone) IS 'Claw back the points of refunded lines of a receipt; returns the points clawed back';

-- receipts in the statement (its detail's receipt) and category rates of receipts in rule_stats
CREATE OR REPLACE VIEW loyalty._part_statement AS
SELECT p.code AS program, e.member, e.id, e.at, e.kind, e.points,
       sum(e.points) OVER (PARTITION BY p.code, e.member ORDER BY e.at, e.id)::bigint AS balance_after,
       e.ref,
       jsonb_strip_nulls(jsonb_build_object(
         'amount', e.amount, 'category', e.category, 'event', e.event,
         'original_ref', e.original_ref, 'counterparty', e.counterparty,
         'reason', e.reason, 'lines', e.detail,
         -- a receipt's lines (earn_order), and what a refund took of each
         'receipt', e.detail -> 'lines')) AS detail
FROM loyalty.ledger e
JOIN loyalty.program p ON p.id = e.program_id
WHERE e.at <= now();

CREATE OR REPLACE VIEW loyalty._part_rule_stats AS
SELECT p.code AS program, r.code AS rule,
       count(u.id) AS purchases,
       coalesce(sum(u.points), 0)::bigint AS points
FROM loyalty.rule r
JOIN loyalty.program p ON p.id = r.program_id
LEFT JOIN LATERAL (
  SELECT e.id, (e.detail -> 'rules' ->> r.code)::bigint AS points
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail -> 'rules' ? r.code AND e.at <= now()
  UNION ALL
  SELECT e.id, (e.detail ->> 'base')::bigint
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail ->> 'rate' = r.code AND e.at <= now()
  UNION ALL
  -- a receipt's lines at a category rate: their base points
  SELECT e.id, (e.detail -> 'rates' ->> r.code)::bigint
  FROM loyalty.ledger e
  WHERE e.program_id = r.program_id AND e.detail -> 'rates' ? r.code AND e.at <= now()) u ON true
GROUP BY p.code, r.code, r.id;
