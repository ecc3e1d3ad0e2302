-- bench/maint_program.sql — the start of both maintenance templates
-- (\ir'd by maint_expire_setup.sql and maint_tiers_setup.sql): the extension,
-- program 'bench' (1 point per yuan, floor, expiry fixed 3 years,
-- Asia/Shanghai, tiers silver 0 / gold 3000 / platinum 9000, multipliers 1,
-- no rules) as :program_id, the loader (bench/loader.sql), the random seed.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET TimeZone = 'Asia/Shanghai';

CREATE EXTENSION loyalty;

SELECT loyalty.create_program(
  code          => 'bench',
  name          => 'maintenance bench',
  expiry        => 'fixed',
  expiry_after  => '3 years',
  timezone      => 'Asia/Shanghai') AS program_id \gset
SELECT loyalty.add_tier('bench', 'silver',      0);
SELECT loyalty.add_tier('bench', 'gold',     3000);
SELECT loyalty.add_tier('bench', 'platinum', 9000);

\ir loader.sql
SET maintenance_work_mem = '256MB';
SELECT setseed(0.42);
