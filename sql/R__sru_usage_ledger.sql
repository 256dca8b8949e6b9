-- The usage ledger (issue 19): the time base and the sources are described in
-- R__sru_user_usage_sums.sql, the sums it reads.

-- The ledger: one row per host and user (kind 'user', or 'system' and 'other', the exporter's
-- groups), plus per host its 'idle' row (capacity nobody used) and its 'capacity' row. Per host,
-- user + system + other + idle = capacity. Hours are the host's accounted hours (time base above).
-- GPU: gpu_hours is utilisation-weighted use (a GPU at 50 % for 2 h: 1 GPU-hour), gpu_idle_held_hours
-- the GPU-hours held with memory at near-zero utilisation; idle GPU-hours = capacity - both.
-- With the caller's rights: per-user rows need personal_usage_reader.
CREATE OR REPLACE FUNCTION sru_usage_ledger(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (system_id uuid, hostname text, kind text, user_id bigint, username text, department text,
               hours double precision, cpu_core_hours double precision, ram_gb_hours double precision,
               gpu_hours double precision, gpu_idle_held_hours double precision,
               gpu_memory_gb_hours double precision, avg_processes double precision)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, public, pg_temp AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH s AS (SELECT * FROM sru_user_usage_sums(p_from, p_to)),
  step AS (
    SELECT s.system_id, s.samples,
           -- no two samples in any hour (an evaluation every hour or less often): one per hour
           CASE WHEN s.intervals > 0 THEN s.span_s / s.intervals ELSE 3600.0 END AS step_s
      FROM s WHERE s.user_id IS NULL),
  per_user AS (
    SELECT s.system_id, sy.hostname,
           CASE WHEN u.username IN ('system', 'other') THEN u.username ELSE 'user' END AS kind,
           s.user_id, u.username,
           CASE WHEN u.username IN ('system', 'other') THEN u.username
                ELSE coalesce(u.department, 'unassigned') END AS department,
           st.samples * coalesce(st.step_s, 0) / 3600 AS hours,
           s.cpu_cores * coalesce(st.step_s, 0) / 3600 AS cpu_core_hours,
           s.ram_gb * coalesce(st.step_s, 0) / 3600 AS ram_gb_hours,
           s.gpu_utilization / 100 * coalesce(st.step_s, 0) / 3600 AS gpu_hours,
           s.gpus_idle_held * coalesce(st.step_s, 0) / 3600 AS gpu_idle_held_hours,
           s.gpu_memory_gb * coalesce(st.step_s, 0) / 3600 AS gpu_memory_gb_hours,
           s.processes / nullif(st.samples, 0) AS avg_processes
      FROM s
      JOIN step st ON st.system_id = s.system_id
      JOIN systems sy ON sy.id = s.system_id
      JOIN users u ON u.id = s.user_id
     WHERE s.user_id IS NOT NULL),
  capacity AS (
    SELECT st.system_id, sy.hostname, 'capacity'::text AS kind,
           st.samples * coalesce(st.step_s, 0) / 3600 AS hours,
           coalesce(sy.cpu_cores, 0) * st.samples * coalesce(st.step_s, 0) / 3600 AS cpu_core_hours,
           coalesce(sy.ram_total_gb, 0) * st.samples * coalesce(st.step_s, 0) / 3600 AS ram_gb_hours,
           sy.gpu_count * st.samples * coalesce(st.step_s, 0) / 3600 AS gpu_hours
      FROM step st JOIN systems sy ON sy.id = st.system_id),
  used AS (
    SELECT p.system_id, sum(p.cpu_core_hours) AS cpu, sum(p.ram_gb_hours) AS ram,
           sum(p.gpu_hours) AS gpu, sum(p.gpu_idle_held_hours) AS held
      FROM per_user p GROUP BY p.system_id)
  SELECT p.system_id, p.hostname, p.kind, p.user_id, p.username, p.department, p.hours,
         coalesce(p.cpu_core_hours, 0), coalesce(p.ram_gb_hours, 0), coalesce(p.gpu_hours, 0),
         coalesce(p.gpu_idle_held_hours, 0), coalesce(p.gpu_memory_gb_hours, 0), p.avg_processes
    FROM per_user p
  UNION ALL
  SELECT c.system_id, c.hostname, 'idle', NULL, NULL, NULL, c.hours,
         greatest(c.cpu_core_hours - coalesce(u.cpu, 0), 0),
         greatest(c.ram_gb_hours - coalesce(u.ram, 0), 0),
         greatest(c.gpu_hours - coalesce(u.gpu, 0) - coalesce(u.held, 0), 0), 0, 0, NULL
    FROM capacity c LEFT JOIN used u ON u.system_id = c.system_id
  UNION ALL
  SELECT c.system_id, c.hostname, c.kind, NULL, NULL, NULL, c.hours, c.cpu_core_hours,
         c.ram_gb_hours, c.gpu_hours, 0, 0, NULL
    FROM capacity c;
END $$;
GRANT SELECT (id, hostname, cpu_cores, ram_total_gb, gpu_count) ON systems TO personal_usage_reader;
GRANT SELECT (id, username, department) ON users TO personal_usage_reader;
GRANT EXECUTE ON FUNCTION sru_usage_ledger(timestamptz, timestamptz) TO personal_usage_reader;
