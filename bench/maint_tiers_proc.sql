-- bench/maint_tiers_proc.sql — the procedure under test (top-level CALL:
-- non-atomic, one COMMIT per batch).
CALL loyalty.evaluate_tiers(:'as_of', :batch);
