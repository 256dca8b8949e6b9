-- tiers: full
-- One row per host and period of the given type in [p_from, p_to), with avg, p95 and max of every
-- resource: the input of sru_refresh_summaries(). Periods are UTC hours, days, ISO weeks (Monday) and
-- calendar months. p_from and p_to are aligned to period boundaries by the caller.
-- Built from the hourly_performance_stats continuous aggregate, which keeps no percentiles: p95 is
-- the 95th percentile of the period's hourly means (NULL for hourly periods).
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
    SELECT h.*, date_trunc((SELECT sru_period_unit(p_period)), h.bucket AT TIME ZONE 'UTC') AS local_start
      FROM hourly_performance_stats h
     WHERE h.bucket >= p_from AND h.bucket < p_to
  )
  SELECT h.system_id,
         h.local_start AT TIME ZONE 'UTC',
         (h.local_start + (SELECT sru_period_length(p_period))) AT TIME ZONE 'UTC',
         sum(h.sample_count)::integer,
         sum(h.avg_cpu_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_cpu_percent IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_cpu_percent) END,
         max(h.max_cpu_percent),
         sum(h.avg_ram_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_ram_percent IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_ram_percent) END,
         max(h.max_ram_percent),
         sum(h.avg_swap_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_swap_percent IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_swap_percent) END,
         max(h.max_swap_percent),
         sum(h.avg_gpu_utilization * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_gpu_utilization IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_gpu_utilization) END,
         max(h.max_gpu_utilization),
         sum(h.avg_gpu_memory_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_gpu_memory_percent IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_gpu_memory_percent) END,
         max(h.max_gpu_memory_percent),
         sum(h.avg_disk_io_wait_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_disk_io_wait_percent IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_io_wait_percent) END,
         max(h.max_disk_io_wait_percent),
         sum(h.avg_disk_read_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_disk_read_mb_s IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_read_mb_s) END,
         max(h.max_disk_read_mb_s),
         sum(h.avg_disk_write_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_disk_write_mb_s IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_write_mb_s) END,
         max(h.max_disk_write_mb_s),
         sum(h.avg_net_sent_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_net_sent_mb_s IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_net_sent_mb_s) END,
         max(h.max_net_sent_mb_s),
         sum(h.avg_net_recv_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_net_recv_mb_s IS NOT NULL), 0),
         CASE WHEN p_period = 'hourly' THEN NULL ELSE percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_net_recv_mb_s) END,
         max(h.max_net_recv_mb_s),
         sum(h.avg_cpu_temp * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_cpu_temp IS NOT NULL), 0), max(h.max_cpu_temp),
         sum(h.avg_gpu_temp * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_gpu_temp IS NOT NULL), 0), max(h.max_gpu_temp),
         sum(h.avg_load_1m * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE h.avg_load_1m IS NOT NULL), 0), max(h.max_load_1m)
    FROM b h
   GROUP BY h.system_id, h.local_start
$$;
