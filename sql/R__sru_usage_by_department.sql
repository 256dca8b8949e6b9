-- Department totals: what Grafana and every console user may see (no row names a person).
-- SECURITY DEFINER: the rows behind them are personal_usage_reader's to read.
CREATE OR REPLACE FUNCTION sru_usage_by_department(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (department text, users bigint, hosts bigint, cpu_core_hours double precision,
               ram_gb_hours double precision, gpu_hours double precision,
               gpu_idle_held_hours double precision, gpu_memory_gb_hours double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT l.department, count(DISTINCT l.user_id) FILTER (WHERE l.kind = 'user'),
         count(DISTINCT l.system_id), sum(l.cpu_core_hours), sum(l.ram_gb_hours), sum(l.gpu_hours),
         sum(l.gpu_idle_held_hours), sum(l.gpu_memory_gb_hours)
    FROM sru_usage_ledger(p_from, p_to) l
   WHERE l.kind IN ('user', 'system', 'other')
   GROUP BY l.department
   ORDER BY l.department;
END $$;
GRANT EXECUTE ON FUNCTION sru_usage_by_department(timestamptz, timestamptz)
  TO personal_usage_reader, dashboard_readonly, analyst, admin;
