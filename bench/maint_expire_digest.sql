-- bench/maint_expire_digest.sql — what a run of expire_points (or its
-- floor) wrote, as one line; the floor and the procedure must print the same
-- digest (ledger ids differ between them, so they are left out).
SELECT format('lots_open=%s points_open=%s lots_expired=%s held=%s expire_rows=%s expired_points=%s digest=%s',
              (SELECT count(*) FROM loyalty.lot WHERE remaining > 0),
              (SELECT sum(remaining) FROM loyalty.lot),
              (SELECT format('%s/%s', count(*) FILTER (WHERE expired > 0), sum(expired)) FROM loyalty.lot),
              (SELECT sum(held) FROM loyalty.account),
              count(*), -sum(points),
              left(md5(string_agg(format('%s/%s/%s/%s', member, lot_id, points, at), ','
                                  ORDER BY member, lot_id)), 12))
FROM loyalty.ledger WHERE kind = 'expire';
