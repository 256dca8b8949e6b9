-- tiers: full
-- On the full tier the ledger's rollups are continuous aggregates (063_user_usage_rollups_cagg.sql)
-- kept by their policies and refreshed by the optimizer (optimizer/hourly_stats.py); real-time
-- aggregation covers the newest buckets, so the ledger may read them up to any time. The functions
-- exist so that callers need no tier test. The plain and apache bodies: R__sru_rollup_user_usage.sql.
CREATE OR REPLACE FUNCTION sru_rollup_user_usage(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, public AS $$
  SELECT 0
$$;
GRANT EXECUTE ON FUNCTION sru_rollup_user_usage(timestamptz, timestamptz) TO admin, analyst;
