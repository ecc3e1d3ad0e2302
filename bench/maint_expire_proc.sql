-- bench/maint_expire_proc.sql — the procedure under test (top-level CALL:
-- non-atomic, one COMMIT per batch).
CALL loyalty.expire_points(:'as_of', :batch);
