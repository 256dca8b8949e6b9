-- Host totals: capacity, use by everyone together, by the system accounts, and idle. No user named.
-- SECURITY DEFINER, as sru_usage_totals() (R__sru_usage_totals.sql), whose host rows these are.
CREATE OR REPLACE FUNCTION sru_usage_by_host(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (system_id uuid, hostname text, hours double precision, users bigint,
               cpu_core_hours double precision, ram_gb_hours double precision, gpu_hours double precision,
               gpu_idle_held_hours double precision,
               system_cpu_core_hours double precision, system_ram_gb_hours double precision,
               idle_cpu_core_hours double precision, idle_ram_gb_hours double precision,
               idle_gpu_hours double precision, capacity_cpu_core_hours double precision,
               capacity_ram_gb_hours double precision, capacity_gpu_hours double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT t.system_id, t.hostname, t.hours, t.users, t.cpu_core_hours, t.ram_gb_hours, t.gpu_hours,
         t.gpu_idle_held_hours, t.system_cpu_core_hours, t.system_ram_gb_hours, t.idle_cpu_core_hours,
         t.idle_ram_gb_hours, t.idle_gpu_hours, t.capacity_cpu_core_hours, t.capacity_ram_gb_hours,
         t.capacity_gpu_hours
    FROM sru_usage_totals(p_from, p_to) t
   WHERE t.total_of = 'host'
   ORDER BY t.hostname;
END $$;
GRANT EXECUTE ON FUNCTION sru_usage_by_host(timestamptz, timestamptz)
  TO personal_usage_reader, dashboard_readonly, analyst, admin;
