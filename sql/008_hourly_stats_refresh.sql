-- tiers: full
-- The continuous aggregate must hold every hour, including history that arrives late (backfill after
-- an outage, imports, demo data). 005's policy refreshed only the last 2 hours: its first run moved
-- the watermark to now, and every older hour that had never been materialized vanished from the
-- view (real-time aggregation covers only what lies above the watermark).
--
-- * The policy now covers 360 days, i.e. all of the raw data that retention keeps (1 year), and
--   never the dropped range, which must keep its hourly stats for 3 years. TimescaleDB logs every
--   write below the watermark as an invalidation, so a run recomputes only the changed buckets: the
--   wide window costs nothing when nothing changed.
-- * The newest hour is left to real-time aggregation (end_offset 1 hour), so the policy does not
--   materialize a bucket that is still filling.
-- * The optimizer refreshes the range it is about to read before each pass (optimizer/run.py), so
--   a summary never misses late data that the next policy run would have brought. Refreshing needs
--   the aggregate's owner (TimescaleDB, like REFRESH MATERIALIZED VIEW), and cannot run in a
--   function (it commits on its own), so the aggregate belongs to a NOLOGIN role whose only object
--   it is and which analyst and admin are members of.
SELECT remove_continuous_aggregate_policy('hourly_performance_stats');
SELECT add_continuous_aggregate_policy('hourly_performance_stats',
  start_offset => INTERVAL '360 days', end_offset => INTERVAL '1 hour',
  schedule_interval => INTERVAL '1 hour');

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hourly_stats_owner') THEN
    CREATE ROLE hourly_stats_owner NOLOGIN;
  END IF;
END $$;
-- The migrating role keeps the rights of the owner, so the policy job it owns can still refresh.
GRANT hourly_stats_owner TO CURRENT_USER;
GRANT SELECT ON usage_metrics TO hourly_stats_owner;
GRANT USAGE ON SCHEMA public TO hourly_stats_owner;
ALTER MATERIALIZED VIEW hourly_performance_stats OWNER TO hourly_stats_owner;
GRANT hourly_stats_owner TO analyst, admin;
