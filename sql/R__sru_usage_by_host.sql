-- Host totals: capacity, use by everyone together, by the system accounts, and idle. No user named.
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
  SELECT l.system_id, l.hostname, max(l.hours) FILTER (WHERE l.kind = 'capacity'),
         count(DISTINCT l.user_id) FILTER (WHERE l.kind = 'user'),
         sum(l.cpu_core_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.ram_gb_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.gpu_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.gpu_idle_held_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.cpu_core_hours) FILTER (WHERE l.kind = 'system'),
         sum(l.ram_gb_hours) FILTER (WHERE l.kind = 'system'),
         sum(l.cpu_core_hours) FILTER (WHERE l.kind = 'idle'),
         sum(l.ram_gb_hours) FILTER (WHERE l.kind = 'idle'),
         sum(l.gpu_hours) FILTER (WHERE l.kind = 'idle'),
         sum(l.cpu_core_hours) FILTER (WHERE l.kind = 'capacity'),
         sum(l.ram_gb_hours) FILTER (WHERE l.kind = 'capacity'),
         sum(l.gpu_hours) FILTER (WHERE l.kind = 'capacity')
    FROM sru_usage_ledger(p_from, p_to) l
   GROUP BY l.system_id, l.hostname
   ORDER BY l.hostname;
END $$;
GRANT EXECUTE ON FUNCTION sru_usage_by_host(timestamptz, timestamptz)
  TO personal_usage_reader, dashboard_readonly, analyst, admin;
