-- tiers: full
-- On the full tier hourly_performance_stats is a continuous aggregate kept by its refresh policy
-- (005, 008): there is nothing to roll up. The function exists so that callers need no tier test.
-- The plain and apache body is R__sru_rollup_hourly_stats.sql.
-- History: 033_hourly_rollup_cagg; this file is the definition in force.
CREATE OR REPLACE FUNCTION sru_rollup_hourly_stats(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, public AS $$
  SELECT 0
$$;
GRANT EXECUTE ON FUNCTION sru_rollup_hourly_stats(timestamptz, timestamptz) TO admin, analyst;
