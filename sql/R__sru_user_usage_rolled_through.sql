-- tiers: plain apache
-- Up to where the rollups are complete: the ledger reads raw rows after this.
CREATE OR REPLACE FUNCTION sru_user_usage_rolled_through() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce(rolled_through, '-infinity') FROM user_usage_rollup_state
$$;
GRANT EXECUTE ON FUNCTION sru_user_usage_rolled_through() TO admin, analyst, dashboard_readonly,
  personal_usage_reader;
