-- The input of sru_refresh_summaries(): one row per host and period of the given type in
-- [p_from, p_to), with avg, p95 and max of every resource. The same body on every tier, so every tier
-- gives the same summaries:
-- * hourly and daily: exact, from the raw samples, one UTC day (one chunk) at a time;
-- * weekly and monthly: from hourly_performance_stats (a table filled by the rollup on plain and
--   apache, the continuous aggregate on full); p95 is the 95th percentile of the period's hourly
--   means. The optimizer brings the hourly stats up to date before it summarises (optimizer/run.py).
-- History: 031 (two tier variants), 037 (plain, apache); this file is the definition in force.
CREATE OR REPLACE FUNCTION sru_summary_source(p_period text, p_from timestamptz, p_to timestamptz)
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
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public
SET work_mem = '64MB'
SET jit = off AS $$
#variable_conflict use_column
DECLARE
  v_unit text := sru_period_unit(p_period);
  v_len interval := sru_period_length(p_period);
  v_slice timestamptz := p_from;
  v_step interval := INTERVAL '1 day';
BEGIN
  IF p_period IN ('weekly', 'monthly') THEN
    RETURN QUERY
    SELECT h.system_id, b.local_start AT TIME ZONE 'UTC', (b.local_start + v_len) AT TIME ZONE 'UTC',
           sum(h.sample_count)::integer,
           sum(h.avg_cpu_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_cpu_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_cpu_percent), max(h.max_cpu_percent),
           sum(h.avg_ram_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_ram_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_ram_percent), max(h.max_ram_percent),
           sum(h.avg_swap_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_swap_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_swap_percent), max(h.max_swap_percent),
           sum(h.avg_gpu_utilization * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_gpu_utilization IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_gpu_utilization), max(h.max_gpu_utilization),
           sum(h.avg_gpu_memory_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER
               (WHERE h.avg_gpu_memory_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_gpu_memory_percent),
               max(h.max_gpu_memory_percent),
           sum(h.avg_disk_io_wait_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER
               (WHERE h.avg_disk_io_wait_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_io_wait_percent),
               max(h.max_disk_io_wait_percent),
           sum(h.avg_disk_read_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_disk_read_mb_s IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_read_mb_s), max(h.max_disk_read_mb_s),
           sum(h.avg_disk_write_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_disk_write_mb_s IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_write_mb_s), max(h.max_disk_write_mb_s),
           sum(h.avg_net_sent_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_net_sent_mb_s IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_net_sent_mb_s), max(h.max_net_sent_mb_s),
           sum(h.avg_net_recv_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_net_recv_mb_s IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_net_recv_mb_s), max(h.max_net_recv_mb_s),
           sum(h.avg_cpu_temp * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_cpu_temp IS NOT NULL), 0), max(h.max_cpu_temp),
           sum(h.avg_gpu_temp * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_gpu_temp IS NOT NULL), 0), max(h.max_gpu_temp),
           sum(h.avg_load_1m * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_load_1m IS NOT NULL), 0), max(h.max_load_1m)
      FROM hourly_performance_stats h
     CROSS JOIN LATERAL (SELECT date_trunc(v_unit, h.bucket AT TIME ZONE 'UTC') AS local_start) b
     WHERE h.bucket >= p_from AND h.bucket < p_to
     GROUP BY h.system_id, b.local_start;
    RETURN;
  END IF;
  -- EXECUTE: planned with the slice's bounds as constants, so only its chunks are scanned (a
  -- cached generic plan would probe every chunk of the hypertable for every slice).
  WHILE v_slice < p_to LOOP
    RETURN QUERY EXECUTE $q$
    SELECT u.system_id, b.start, b.start + $1, count(*)::integer,
           avg(u.cpu_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.cpu_percent),
               max(u.cpu_percent),
           avg(u.ram_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.ram_percent),
               max(u.ram_percent),
           avg(u.swap_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.swap_percent),
               max(u.swap_percent),
           avg(u.gpu_utilization), percentile_cont(0.95) WITHIN GROUP (ORDER BY
               u.gpu_utilization), max(u.gpu_utilization),
           avg(u.gpu_memory_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY
               u.gpu_memory_percent), max(u.gpu_memory_percent),
           avg(u.disk_io_wait_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY
               u.disk_io_wait_percent), max(u.disk_io_wait_percent),
           avg(u.disk_read_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.disk_read_mb_s),
               max(u.disk_read_mb_s),
           avg(u.disk_write_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY
               u.disk_write_mb_s), max(u.disk_write_mb_s),
           avg(u.net_sent_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.net_sent_mb_s),
               max(u.net_sent_mb_s),
           avg(u.net_recv_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.net_recv_mb_s),
               max(u.net_recv_mb_s),
           avg(u.cpu_temp), max(u.cpu_temp),
           avg(u.gpu_temp), max(u.gpu_temp),
           avg(u.load_1m), max(u.load_1m)
      FROM usage_metrics u
     CROSS JOIN LATERAL (SELECT date_bin($1, u."timestamp", TIMESTAMPTZ '2000-01-03 00:00+00') AS start) b
     WHERE u."timestamp" >= $2 AND u."timestamp" < $3
     GROUP BY u.system_id, b.start$q$
    USING v_len, v_slice, least(v_slice + v_step, p_to);
    v_slice := v_slice + v_step;
  END LOOP;
END $$;
