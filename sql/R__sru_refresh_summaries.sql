-- Recompute the summaries of type p_period for the periods overlapping [p_from, p_to), with their
-- flags, bottleneck and score. Idempotent. The flags' limits are sru_thresholds() (R__sru_thresholds.sql).
-- History: 032_optimizer_functions (the limits as literals); this file is the definition in force.
CREATE OR REPLACE FUNCTION sru_refresh_summaries(p_period text, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_from timestamptz;
  v_to timestamptz;
  n integer;
  -- The flags' limits, read once per call (R__sru_thresholds.sql).
  c_idle_cpu constant double precision := sru_threshold('idle_cpu_percent');
  c_idle_ram constant double precision := sru_threshold('idle_ram_percent');
  c_idle_gpu constant double precision := sru_threshold('idle_gpu_utilization');
  c_busy constant double precision := sru_threshold('overutilized_percent');
BEGIN
  IF sru_period_unit(p_period) IS NULL THEN
    RAISE EXCEPTION 'unknown period type %', p_period USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
    RETURN 0;
  END IF;
  v_from := sru_period_floor(p_period, p_from);
  v_to := sru_period_floor(p_period, p_to);
  IF v_to < p_to THEN
    v_to := v_to + sru_period_length(p_period);
  END IF;
  INSERT INTO performance_summaries AS t (
    system_id, period_type, period_start, period_end, sample_count,
    avg_cpu_percent, p95_cpu_percent, max_cpu_percent, avg_ram_percent, p95_ram_percent, max_ram_percent,
    avg_swap_percent, p95_swap_percent, max_swap_percent,
    avg_gpu_utilization, p95_gpu_utilization, max_gpu_utilization,
    avg_gpu_memory_percent, p95_gpu_memory_percent, max_gpu_memory_percent,
    avg_disk_io_wait_percent, p95_disk_io_wait_percent, max_disk_io_wait_percent,
    avg_disk_read_mb_s, p95_disk_read_mb_s, max_disk_read_mb_s,
    avg_disk_write_mb_s, p95_disk_write_mb_s, max_disk_write_mb_s,
    avg_net_sent_mb_s, p95_net_sent_mb_s, max_net_sent_mb_s,
    avg_net_recv_mb_s, p95_net_recv_mb_s, max_net_recv_mb_s,
    avg_cpu_temp, max_cpu_temp, avg_gpu_temp, max_gpu_temp, avg_load_1m, max_load_1m,
    is_underutilized, is_overutilized, has_bottleneck, bottleneck_type, utilization_score, computed_at)
  SELECT s.system_id, p_period, s.period_start, s.period_end, s.sample_count,
         s.avg_cpu_percent, s.p95_cpu_percent, s.max_cpu_percent,
         s.avg_ram_percent, s.p95_ram_percent, s.max_ram_percent,
         s.avg_swap_percent, s.p95_swap_percent, s.max_swap_percent,
         s.avg_gpu_utilization, s.p95_gpu_utilization, s.max_gpu_utilization,
         s.avg_gpu_memory_percent, s.p95_gpu_memory_percent, s.max_gpu_memory_percent,
         s.avg_disk_io_wait_percent, s.p95_disk_io_wait_percent, s.max_disk_io_wait_percent,
         s.avg_disk_read_mb_s, s.p95_disk_read_mb_s, s.max_disk_read_mb_s,
         s.avg_disk_write_mb_s, s.p95_disk_write_mb_s, s.max_disk_write_mb_s,
         s.avg_net_sent_mb_s, s.p95_net_sent_mb_s, s.max_net_sent_mb_s,
         s.avg_net_recv_mb_s, s.p95_net_recv_mb_s, s.max_net_recv_mb_s,
         s.avg_cpu_temp, s.max_cpu_temp, s.avg_gpu_temp, s.max_gpu_temp, s.avg_load_1m, s.max_load_1m,
         -- Under-utilised: little CPU, RAM and GPU even at the 95th percentile.
         coalesce(s.u_cpu < c_idle_cpu AND s.u_ram < c_idle_ram AND coalesce(s.u_gpu, 0) < c_idle_gpu, false),
         -- Over-utilised: some resource at the limit or more at the 95th percentile.
         coalesce(greatest(s.u_cpu, s.u_ram, s.u_gpu, s.u_gpu_mem) >= c_busy, false),
         s.bottleneck IS NOT NULL, s.bottleneck,
         calculate_utilization_score(s.u_cpu, s.u_ram, s.u_gpu),
         now()
    FROM (SELECT src.*,
                 -- p95 where the source has one (the full tier's hourly periods have none: use max).
                 coalesce(src.p95_cpu_percent, src.max_cpu_percent) AS u_cpu,
                 coalesce(src.p95_ram_percent, src.max_ram_percent) AS u_ram,
                 coalesce(src.p95_gpu_utilization, src.max_gpu_utilization) AS u_gpu,
                 coalesce(src.p95_gpu_memory_percent, src.max_gpu_memory_percent) AS u_gpu_mem,
                 detect_bottleneck(coalesce(src.p95_cpu_percent, src.max_cpu_percent),
                                   coalesce(src.p95_ram_percent, src.max_ram_percent),
                                   coalesce(src.p95_swap_percent, src.max_swap_percent),
                                   coalesce(src.p95_gpu_utilization, src.max_gpu_utilization),
                                   coalesce(src.p95_gpu_memory_percent, src.max_gpu_memory_percent),
                                   coalesce(src.p95_disk_io_wait_percent, src.max_disk_io_wait_percent),
                                   src.max_cpu_temp, src.max_gpu_temp,
                                   coalesce(src.p95_net_sent_mb_s, src.max_net_sent_mb_s)
                                     + coalesce(src.p95_net_recv_mb_s, src.max_net_recv_mb_s)) AS bottleneck
            FROM sru_summary_source(p_period, v_from, v_to) src) s
  ON CONFLICT (system_id, period_type, period_start) DO UPDATE SET
    period_end = EXCLUDED.period_end, sample_count = EXCLUDED.sample_count,
    avg_cpu_percent = EXCLUDED.avg_cpu_percent, p95_cpu_percent = EXCLUDED.p95_cpu_percent,
    max_cpu_percent = EXCLUDED.max_cpu_percent, avg_ram_percent = EXCLUDED.avg_ram_percent,
    p95_ram_percent = EXCLUDED.p95_ram_percent, max_ram_percent = EXCLUDED.max_ram_percent,
    avg_swap_percent = EXCLUDED.avg_swap_percent, p95_swap_percent = EXCLUDED.p95_swap_percent,
    max_swap_percent = EXCLUDED.max_swap_percent, avg_gpu_utilization = EXCLUDED.avg_gpu_utilization,
    p95_gpu_utilization = EXCLUDED.p95_gpu_utilization, max_gpu_utilization = EXCLUDED.max_gpu_utilization,
    avg_gpu_memory_percent = EXCLUDED.avg_gpu_memory_percent,
    p95_gpu_memory_percent = EXCLUDED.p95_gpu_memory_percent,
    max_gpu_memory_percent = EXCLUDED.max_gpu_memory_percent,
    avg_disk_io_wait_percent = EXCLUDED.avg_disk_io_wait_percent,
    p95_disk_io_wait_percent = EXCLUDED.p95_disk_io_wait_percent,
    max_disk_io_wait_percent = EXCLUDED.max_disk_io_wait_percent,
    avg_disk_read_mb_s = EXCLUDED.avg_disk_read_mb_s, p95_disk_read_mb_s = EXCLUDED.p95_disk_read_mb_s,
    max_disk_read_mb_s = EXCLUDED.max_disk_read_mb_s, avg_disk_write_mb_s = EXCLUDED.avg_disk_write_mb_s,
    p95_disk_write_mb_s = EXCLUDED.p95_disk_write_mb_s, max_disk_write_mb_s = EXCLUDED.max_disk_write_mb_s,
    avg_net_sent_mb_s = EXCLUDED.avg_net_sent_mb_s, p95_net_sent_mb_s = EXCLUDED.p95_net_sent_mb_s,
    max_net_sent_mb_s = EXCLUDED.max_net_sent_mb_s, avg_net_recv_mb_s = EXCLUDED.avg_net_recv_mb_s,
    p95_net_recv_mb_s = EXCLUDED.p95_net_recv_mb_s, max_net_recv_mb_s = EXCLUDED.max_net_recv_mb_s,
    avg_cpu_temp = EXCLUDED.avg_cpu_temp, max_cpu_temp = EXCLUDED.max_cpu_temp,
    avg_gpu_temp = EXCLUDED.avg_gpu_temp, max_gpu_temp = EXCLUDED.max_gpu_temp,
    avg_load_1m = EXCLUDED.avg_load_1m, max_load_1m = EXCLUDED.max_load_1m,
    is_underutilized = EXCLUDED.is_underutilized, is_overutilized = EXCLUDED.is_overutilized,
    has_bottleneck = EXCLUDED.has_bottleneck, bottleneck_type = EXCLUDED.bottleneck_type,
    utilization_score = EXCLUDED.utilization_score, computed_at = EXCLUDED.computed_at;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
