-- Department and host totals of one period from one read of the ledger: the console's Usage page
-- shows both, and the ledger is the whole cost (the grouping below works on ~10 rows per host).
-- sru_usage_by_department() and sru_usage_by_host() are this function's rows of one kind.
-- SECURITY DEFINER: the rows behind them are personal_usage_reader's to read; no row names a person.
-- total_of: 'department' rows carry department, users, hosts; 'host' rows system_id, hostname,
-- hours, users and the host columns. gpu_memory_gb_hours and the used columns are on both.
CREATE OR REPLACE FUNCTION sru_usage_totals(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (total_of text, department text, system_id uuid, hostname text, hours double precision,
               users bigint, hosts bigint, cpu_core_hours double precision,
               ram_gb_hours double precision, gpu_hours double precision,
               gpu_idle_held_hours double precision, gpu_memory_gb_hours double precision,
               system_cpu_core_hours double precision, system_ram_gb_hours double precision,
               idle_cpu_core_hours double precision, idle_ram_gb_hours double precision,
               idle_gpu_hours double precision, capacity_cpu_core_hours double precision,
               capacity_ram_gb_hours double precision, capacity_gpu_hours double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH l AS MATERIALIZED (SELECT * FROM sru_usage_ledger(p_from, p_to))
  SELECT 'department'::text, l.department, NULL::uuid, NULL::text, NULL::double precision,
         count(DISTINCT l.user_id) FILTER (WHERE l.kind = 'user'), count(DISTINCT l.system_id),
         sum(l.cpu_core_hours), sum(l.ram_gb_hours), sum(l.gpu_hours), sum(l.gpu_idle_held_hours),
         sum(l.gpu_memory_gb_hours), NULL::double precision, NULL::double precision,
         NULL::double precision, NULL::double precision, NULL::double precision,
         NULL::double precision, NULL::double precision, NULL::double precision
    FROM l
   WHERE l.kind IN ('user', 'system', 'other')
   GROUP BY l.department
  UNION ALL
  SELECT 'host'::text, NULL::text, l.system_id, l.hostname, max(l.hours) FILTER (WHERE l.kind = 'capacity'),
         count(DISTINCT l.user_id) FILTER (WHERE l.kind = 'user'), NULL::bigint,
         sum(l.cpu_core_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.ram_gb_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.gpu_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.gpu_idle_held_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.gpu_memory_gb_hours) FILTER (WHERE l.kind IN ('user', 'system', 'other')),
         sum(l.cpu_core_hours) FILTER (WHERE l.kind = 'system'),
         sum(l.ram_gb_hours) FILTER (WHERE l.kind = 'system'),
         sum(l.cpu_core_hours) FILTER (WHERE l.kind = 'idle'),
         sum(l.ram_gb_hours) FILTER (WHERE l.kind = 'idle'),
         sum(l.gpu_hours) FILTER (WHERE l.kind = 'idle'),
         sum(l.cpu_core_hours) FILTER (WHERE l.kind = 'capacity'),
         sum(l.ram_gb_hours) FILTER (WHERE l.kind = 'capacity'),
         sum(l.gpu_hours) FILTER (WHERE l.kind = 'capacity')
    FROM l
   GROUP BY l.system_id, l.hostname;
END $$;
GRANT EXECUTE ON FUNCTION sru_usage_totals(timestamptz, timestamptz)
  TO personal_usage_reader, dashboard_readonly, analyst, admin;
