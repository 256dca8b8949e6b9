-- tiers: plain apache
-- One row per host and period of the given type in [p_from, p_to), with avg, p95 and max of every
-- resource: the input of sru_refresh_summaries(). Periods are UTC hours, days, ISO weeks (Monday) and
-- calendar months. p_from and p_to are aligned to period boundaries by the caller.
-- Built from raw samples, so p95 is the exact 95th percentile of the period's samples.
CREATE FUNCTION sru_summary_source(p_period text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (system_id uuid,
               period_start timestamptz,
               period_end timestamptz,
               sample_count integer,
               avg_cpu_percent double precision,
               p95_cpu_percent double precision,
               max_cpu_percent double precision,
               avg_ram_percent double precision,
               p95_ram_percent double precision,
               max_ram_percent double precision,
               avg_swap_percent double precision,
               p95_swap_percent double precision,
               max_swap_percent double precision,
               avg_gpu_utilization double precision,
               p95_gpu_utilization double precision,
               max_gpu_utilization double precision,
               avg_gpu_memory_percent double precision,
               p95_gpu_memory_percent double precision,
               max_gpu_memory_percent double precision,
               avg_disk_io_wait_percent double precision,
               p95_disk_io_wait_percent double precision,
               max_disk_io_wait_percent double precision,
               avg_disk_read_mb_s double precision,
               p95_disk_read_mb_s double precision,
               max_disk_read_mb_s double precision,
               avg_disk_write_mb_s double precision,
               p95_disk_write_mb_s double precision,
               max_disk_write_mb_s double precision,
               avg_net_sent_mb_s double precision,
               p95_net_sent_mb_s double precision,
               max_net_sent_mb_s double precision,
               avg_net_recv_mb_s double precision,
               p95_net_recv_mb_s double precision,
               max_net_recv_mb_s double precision,
               avg_cpu_temp double precision,
               max_cpu_temp double precision,
               avg_gpu_temp double precision,
               max_gpu_temp double precision,
               avg_load_1m double precision,
               max_load_1m double precision)
LANGUAGE sql STABLE
SET search_path = pg_catalog, public
SET work_mem = '256MB' AS $$
  WITH b AS (
    SELECT u.*, date_trunc((SELECT sru_period_unit(p_period)), u."timestamp" AT TIME ZONE 'UTC') AS local_start
      FROM usage_metrics u
     WHERE u."timestamp" >= p_from AND u."timestamp" < p_to
  )
  SELECT u.system_id,
         u.local_start AT TIME ZONE 'UTC',
         (u.local_start + (SELECT sru_period_length(p_period))) AT TIME ZONE 'UTC',
         count(*)::integer,
         avg(u.cpu_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.cpu_percent), max(u.cpu_percent),
         avg(u.ram_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.ram_percent), max(u.ram_percent),
         avg(u.swap_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.swap_percent), max(u.swap_percent),
         avg(u.gpu_utilization), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.gpu_utilization), max(u.gpu_utilization),
         avg(u.gpu_memory_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.gpu_memory_percent), max(u.gpu_memory_percent),
         avg(u.disk_io_wait_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.disk_io_wait_percent), max(u.disk_io_wait_percent),
         avg(u.disk_read_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.disk_read_mb_s), max(u.disk_read_mb_s),
         avg(u.disk_write_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.disk_write_mb_s), max(u.disk_write_mb_s),
         avg(u.net_sent_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.net_sent_mb_s), max(u.net_sent_mb_s),
         avg(u.net_recv_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.net_recv_mb_s), max(u.net_recv_mb_s),
         avg(u.cpu_temp), max(u.cpu_temp),
         avg(u.gpu_temp), max(u.gpu_temp),
         avg(u.load_1m), max(u.load_1m)
    FROM b u
   GROUP BY u.system_id, u.local_start
$$;
