-- tiers: plain apache
-- Without continuous aggregates the optimizer fills hourly_performance_stats itself from the raw
-- samples of the hours in [p_from, p_to), with the same columns and grouping as the full edition's
-- continuous aggregate (means and maxima only: a hash aggregate, cheap over a whole year). Idempotent.
CREATE FUNCTION sru_rollup_hourly_stats(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
SET work_mem = '256MB' AS $$
DECLARE
  n integer;
BEGIN
  INSERT INTO hourly_performance_stats AS h (
    system_id, bucket, sample_count, avg_cpu_percent, max_cpu_percent, avg_ram_percent, max_ram_percent,
    avg_swap_percent, max_swap_percent, avg_gpu_utilization, max_gpu_utilization, avg_gpu_memory_percent,
    max_gpu_memory_percent, avg_gpu_temp, max_gpu_temp, avg_cpu_temp, max_cpu_temp, avg_disk_read_mb_s,
    max_disk_read_mb_s, avg_disk_write_mb_s, max_disk_write_mb_s, avg_disk_io_wait_percent,
    max_disk_io_wait_percent, avg_net_sent_mb_s, max_net_sent_mb_s, avg_net_recv_mb_s, max_net_recv_mb_s,
    avg_load_1m, max_load_1m)
  SELECT u.system_id, date_trunc('hour', u."timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*),
         avg(u.cpu_percent), max(u.cpu_percent),
         avg(u.ram_percent), max(u.ram_percent),
         avg(u.swap_percent), max(u.swap_percent),
         avg(u.gpu_utilization), max(u.gpu_utilization),
         avg(u.gpu_memory_percent), max(u.gpu_memory_percent),
         avg(u.gpu_temp), max(u.gpu_temp),
         avg(u.cpu_temp), max(u.cpu_temp),
         avg(u.disk_read_mb_s), max(u.disk_read_mb_s),
         avg(u.disk_write_mb_s), max(u.disk_write_mb_s),
         avg(u.disk_io_wait_percent), max(u.disk_io_wait_percent),
         avg(u.net_sent_mb_s), max(u.net_sent_mb_s),
         avg(u.net_recv_mb_s), max(u.net_recv_mb_s),
         avg(u.load_1m), max(u.load_1m)
    FROM usage_metrics u
   WHERE u."timestamp" >= sru_period_floor('hourly', p_from) AND u."timestamp" < p_to
   GROUP BY 1, 2
  ON CONFLICT (system_id, bucket) DO UPDATE SET
    sample_count = EXCLUDED.sample_count, avg_cpu_percent = EXCLUDED.avg_cpu_percent,
    max_cpu_percent = EXCLUDED.max_cpu_percent, avg_ram_percent = EXCLUDED.avg_ram_percent,
    max_ram_percent = EXCLUDED.max_ram_percent, avg_swap_percent = EXCLUDED.avg_swap_percent,
    max_swap_percent = EXCLUDED.max_swap_percent, avg_gpu_utilization = EXCLUDED.avg_gpu_utilization,
    max_gpu_utilization = EXCLUDED.max_gpu_utilization, avg_gpu_memory_percent = EXCLUDED.avg_gpu_memory_percent,
    max_gpu_memory_percent = EXCLUDED.max_gpu_memory_percent, avg_gpu_temp = EXCLUDED.avg_gpu_temp,
    max_gpu_temp = EXCLUDED.max_gpu_temp, avg_cpu_temp = EXCLUDED.avg_cpu_temp,
    max_cpu_temp = EXCLUDED.max_cpu_temp, avg_disk_read_mb_s = EXCLUDED.avg_disk_read_mb_s,
    max_disk_read_mb_s = EXCLUDED.max_disk_read_mb_s, avg_disk_write_mb_s = EXCLUDED.avg_disk_write_mb_s,
    max_disk_write_mb_s = EXCLUDED.max_disk_write_mb_s,
    avg_disk_io_wait_percent = EXCLUDED.avg_disk_io_wait_percent,
    max_disk_io_wait_percent = EXCLUDED.max_disk_io_wait_percent,
    avg_net_sent_mb_s = EXCLUDED.avg_net_sent_mb_s, max_net_sent_mb_s = EXCLUDED.max_net_sent_mb_s,
    avg_net_recv_mb_s = EXCLUDED.avg_net_recv_mb_s, max_net_recv_mb_s = EXCLUDED.max_net_recv_mb_s,
    avg_load_1m = EXCLUDED.avg_load_1m, max_load_1m = EXCLUDED.max_load_1m;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
GRANT EXECUTE ON FUNCTION sru_rollup_hourly_stats(timestamptz, timestamptz) TO admin, analyst;
