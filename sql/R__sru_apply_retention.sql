-- The data lifecycle for servers without TimescaleDB policies (`sru db maintain`, run as admin):
-- retention of raw data and of hourly data. SECURITY DEFINER because drop_chunks and DELETE need
-- the tables' owner; granted to admin only. TimescaleDB's information views are read through
-- dynamic SQL: on the plain tier they do not exist, even to the planner.
-- History: 035_maintenance, 036_maintenance_plain_tier; this file is the definition in force
-- (user_usage_metrics and the ledger's rollups since 060-063).
CREATE OR REPLACE FUNCTION sru_apply_retention(p_raw interval DEFAULT INTERVAL '1 year',
                                    p_hourly interval DEFAULT INTERVAL '3 years')
RETURNS TABLE (relation text, method text, removed bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  t text;
  tsdb boolean := to_regclass('timescaledb_information.hypertables') IS NOT NULL;
  n bigint;
  has_policy boolean;
  is_hyper boolean;
BEGIN
  IF p_raw < INTERVAL '1 day' OR p_hourly < p_raw THEN
    RAISE EXCEPTION 'retention must keep at least a day of raw data and no less hourly than raw data'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH t IN ARRAY ARRAY['usage_metrics', 'process_snapshots', 'user_usage_metrics'] LOOP
    relation := t;
    has_policy := false;
    is_hyper := false;
    IF tsdb THEN  -- dynamic SQL: without TimescaleDB these views do not exist, even to the planner
      EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.jobs j WHERE j.hypertable_name = $1 '
              'AND j.proc_name = ''policy_retention''), EXISTS (SELECT 1 FROM timescaledb_information.hypertables h '
              'WHERE h.hypertable_name = $1)' INTO has_policy, is_hyper USING t;
    END IF;
    IF has_policy THEN
      method := 'policy'; removed := 0;
    ELSIF is_hyper THEN
      EXECUTE format('SELECT count(*) FROM drop_chunks(%L, older_than => now() - %L::interval)', t, p_raw)
        INTO n;
      method := 'drop_chunks'; removed := n;  -- chunks
    ELSE
      EXECUTE format('DELETE FROM %I WHERE "timestamp" < now() - %L::interval', t, p_raw);
      GET DIAGNOSTICS n = ROW_COUNT;
      method := 'delete'; removed := n;       -- rows
    END IF;
    RETURN NEXT;
  END LOOP;
  relation := 'hourly_performance_stats';
  IF EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = 'hourly_performance_stats'::regclass AND c.relkind = 'r') THEN
    DELETE FROM hourly_performance_stats WHERE bucket < now() - p_hourly;
    GET DIAGNOSTICS n = ROW_COUNT;
    method := 'delete'; removed := n;
  ELSE
    method := 'policy'; removed := 0;        -- the continuous aggregate's retention policy (006)
  END IF;
  RETURN NEXT;
  -- The usage ledger's rollups (063) are kept as long as hourly_performance_stats.
  relation := 'user_usage rollups';
  IF EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = 'user_usage_hourly'::regclass AND c.relkind = 'r') THEN
    DELETE FROM user_usage_hourly WHERE bucket < now() - p_hourly;
    GET DIAGNOSTICS n = ROW_COUNT;
    removed := n;
    DELETE FROM user_usage_host_hourly WHERE bucket < now() - p_hourly;
    DELETE FROM user_usage_daily WHERE bucket < now() - p_hourly;
    GET DIAGNOSTICS n = ROW_COUNT;
    removed := removed + n;
    DELETE FROM user_usage_host_daily WHERE bucket < now() - p_hourly;
    method := 'delete';
  ELSE
    method := 'policy'; removed := 0;        -- the continuous aggregates' retention policies (063)
  END IF;
  RETURN NEXT;
  -- Hourly summaries follow the raw data; daily and longer summaries are small and kept.
  relation := 'performance_summaries (hourly)';
  DELETE FROM performance_summaries WHERE period_type = 'hourly' AND period_start < now() - p_raw;
  GET DIAGNOSTICS n = ROW_COUNT;
  method := 'delete'; removed := n;
  RETURN NEXT;
END $$;

GRANT EXECUTE ON FUNCTION sru_apply_retention(interval, interval) TO admin;
