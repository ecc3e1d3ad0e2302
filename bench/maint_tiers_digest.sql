-- bench/maint_tiers_digest.sql — what a run of evaluate_tiers (or its floor)
-- wrote, as one line: renewals, the transitions at :as_of and a digest of every
-- account's tier state and of the new tier_change rows (ids left out).
SELECT format('renewed=%s changes=%s due_left=%s digest=%s/%s',
              (SELECT count(*) FROM loyalty.account
                WHERE tier_until = :'until' AND tier_since < :'as_of'),
              (SELECT string_agg(t, ' ' ORDER BY t) FROM
                 (SELECT format('%s>%s:%s', from_tier, to_tier, count(*)) AS t
                  FROM loyalty.tier_change WHERE at = :'as_of'
                  GROUP BY from_tier, to_tier) c),
              (SELECT count(*) FROM loyalty.account WHERE tier_until <= :'as_of'),
              (SELECT left(md5(string_agg(format('%s/%s/%s/%s', member, tier, tier_since, tier_until),
                                          ',' ORDER BY member)), 12)
                 FROM loyalty.account),
              (SELECT left(md5(string_agg(format('%s/%s/%s/%s/%s', member, from_tier, to_tier,
                                                 reason, valid_until), ',' ORDER BY member)), 12)
                 FROM loyalty.tier_change WHERE at = :'as_of'));
