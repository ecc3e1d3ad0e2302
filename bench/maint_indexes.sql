-- bench/maint_indexes.sql — fast bulk load for the maintenance benchmark
-- templates (\ir'd by maint_expire_setup.sql and maint_tiers_setup.sql).
--
-- bench.drop_indexes() remembers the definitions of the primary keys and
-- indexes of the member tables (account, lot, ledger, tier_change) and drops
-- them; bench.restore_indexes() recreates exactly those definitions, with the
-- same names, by sorted builds.  Loading millions of rows in time order into
-- (program_id, member, ...) btrees one by one takes minutes with the dev
-- cluster's 128MB shared_buffers; this takes seconds.  Indexes are not
-- members of the extension (only the tables are), so this changes nothing
-- in the schema.  The rebuilt indexes are denser than ones grown by
-- random inserts (no half-empty pages from splits); both the procedures and
-- the floors run on them.
CREATE TABLE bench.saved_index (ord serial, tbl regclass, name text, is_pkey boolean, def text);

CREATE FUNCTION bench.drop_indexes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  INSERT INTO bench.saved_index (tbl, name, is_pkey, def)
  SELECT i.indrelid::regclass, c.relname, i.indisprimary,
         CASE WHEN i.indisprimary
              THEN pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conindid = i.indexrelid))
              ELSE pg_get_indexdef(i.indexrelid) END
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE i.indrelid IN ('loyalty.account'::regclass, 'loyalty.lot'::regclass,
                       'loyalty.ledger'::regclass, 'loyalty.tier_change'::regclass)
  ORDER BY i.indrelid, c.relname;
  FOR r IN SELECT * FROM bench.saved_index ORDER BY ord LOOP
    IF r.is_pkey THEN
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.name);
    ELSE
      EXECUTE format('DROP INDEX loyalty.%I', r.name);
    END IF;
  END LOOP;
END $$;

CREATE FUNCTION bench.restore_indexes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM bench.saved_index ORDER BY ord LOOP
    IF r.is_pkey THEN
      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.tbl, r.name, r.def);
    ELSE
      EXECUTE r.def;
    END IF;
  END LOOP;
  DELETE FROM bench.saved_index;
END $$;
