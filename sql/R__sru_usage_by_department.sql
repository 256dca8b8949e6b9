-- Department totals: what Grafana and every console user may see (no row names a person).
-- SECURITY DEFINER, as sru_usage_totals() (R__sru_usage_totals.sql), whose department rows these are.
CREATE OR REPLACE FUNCTION sru_usage_by_department(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (department text, users bigint, hosts bigint, cpu_core_hours double precision,
               ram_gb_hours double precision, gpu_hours double precision,
               gpu_idle_held_hours double precision, gpu_memory_gb_hours double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT t.department, t.users, t.hosts, t.cpu_core_hours, t.ram_gb_hours, t.gpu_hours,
         t.gpu_idle_held_hours, t.gpu_memory_gb_hours
    FROM sru_usage_totals(p_from, p_to) t
   WHERE t.total_of = 'department'
   ORDER BY t.department;
END $$;
GRANT EXECUTE ON FUNCTION sru_usage_by_department(timestamptz, timestamptz)
  TO personal_usage_reader, dashboard_readonly, analyst, admin;
