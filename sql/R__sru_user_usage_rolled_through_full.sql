-- tiers: full
-- Real-time continuous aggregates: the ledger may read the rollups up to any time. Plain and apache:
-- R__sru_user_usage_rolled_through.sql.
CREATE OR REPLACE FUNCTION sru_user_usage_rolled_through() RETURNS timestamptz
LANGUAGE sql IMMUTABLE SECURITY INVOKER SET search_path = pg_catalog, public AS $$
  SELECT 'infinity'::timestamptz
$$;
GRANT EXECUTE ON FUNCTION sru_user_usage_rolled_through() TO admin, analyst, dashboard_readonly,
  personal_usage_reader;
