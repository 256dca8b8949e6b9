-- tiers: plain apache
-- Fills hourly_performance_stats from the raw samples of the hours in [p_from, p_to), with the same
-- columns and grouping as the full tier's continuous aggregate (means and maxima only). Idempotent.
-- One week per statement, and an UPDATE only where a value changed, so a pass over a year neither
-- sorts the year nor rewrites unchanged hours (bench/README.md, "Optimizer").
-- The full tier's body (a continuous aggregate, nothing to roll up) is R__sru_rollup_hourly_stats_full.sql.
-- History: 033_hourly_rollup_table (INSERT … ON CONFLICT over the whole range), 037; this file is
-- the definition in force.
CREATE OR REPLACE FUNCTION sru_rollup_hourly_stats(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
SET work_mem = '64MB'
SET jit = off AS $$
DECLARE
  v_slice timestamptz := sru_period_floor('hourly', p_from);
  v_next timestamptz;
  n integer;
  total integer := 0;
BEGIN
  WHILE v_slice < p_to LOOP
    v_next := least(v_slice + INTERVAL '7 days', p_to);
    EXECUTE $q$
    WITH src AS (
      SELECT u.system_id, date_bin('1 hour', u."timestamp", TIMESTAMPTZ '2000-01-03 00:00+00') AS bucket,
             count(*) AS sample_count, avg(u.cpu_percent) AS avg_cpu_percent,
                 max(u.cpu_percent) AS max_cpu_percent, avg(u.ram_percent) AS avg_ram_percent,
                 max(u.ram_percent) AS max_ram_percent, avg(u.swap_percent) AS
                 avg_swap_percent, max(u.swap_percent) AS max_swap_percent,
                 avg(u.gpu_utilization) AS avg_gpu_utilization, max(u.gpu_utilization) AS
                 max_gpu_utilization, avg(u.gpu_memory_percent) AS avg_gpu_memory_percent,
                 max(u.gpu_memory_percent) AS max_gpu_memory_percent, avg(u.gpu_temp) AS
                 avg_gpu_temp, max(u.gpu_temp) AS max_gpu_temp, avg(u.cpu_temp) AS
                 avg_cpu_temp, max(u.cpu_temp) AS max_cpu_temp, avg(u.disk_read_mb_s) AS
                 avg_disk_read_mb_s, max(u.disk_read_mb_s) AS max_disk_read_mb_s,
                 avg(u.disk_write_mb_s) AS avg_disk_write_mb_s, max(u.disk_write_mb_s) AS
                 max_disk_write_mb_s, avg(u.disk_io_wait_percent) AS avg_disk_io_wait_percent,
                 max(u.disk_io_wait_percent) AS max_disk_io_wait_percent, avg(u.net_sent_mb_s)
                 AS avg_net_sent_mb_s, max(u.net_sent_mb_s) AS max_net_sent_mb_s,
                 avg(u.net_recv_mb_s) AS avg_net_recv_mb_s, max(u.net_recv_mb_s) AS
                 max_net_recv_mb_s, avg(u.load_1m) AS avg_load_1m, max(u.load_1m) AS
                 max_load_1m
        FROM usage_metrics u
       WHERE u."timestamp" >= $1 AND u."timestamp" < $2
       GROUP BY 1, 2
    ), upd AS (
      UPDATE hourly_performance_stats h SET (sample_count, avg_cpu_percent, max_cpu_percent,
          avg_ram_percent, max_ram_percent, avg_swap_percent, max_swap_percent, avg_gpu_utilization,
          max_gpu_utilization, avg_gpu_memory_percent, max_gpu_memory_percent, avg_gpu_temp,
          max_gpu_temp, avg_cpu_temp, max_cpu_temp, avg_disk_read_mb_s, max_disk_read_mb_s,
          avg_disk_write_mb_s, max_disk_write_mb_s, avg_disk_io_wait_percent,
          max_disk_io_wait_percent, avg_net_sent_mb_s, max_net_sent_mb_s, avg_net_recv_mb_s,
          max_net_recv_mb_s, avg_load_1m, max_load_1m) = (s.sample_count, s.avg_cpu_percent,
          s.max_cpu_percent, s.avg_ram_percent, s.max_ram_percent, s.avg_swap_percent,
          s.max_swap_percent, s.avg_gpu_utilization, s.max_gpu_utilization, s.avg_gpu_memory_percent,
          s.max_gpu_memory_percent, s.avg_gpu_temp, s.max_gpu_temp, s.avg_cpu_temp, s.max_cpu_temp,
          s.avg_disk_read_mb_s, s.max_disk_read_mb_s, s.avg_disk_write_mb_s, s.max_disk_write_mb_s,
          s.avg_disk_io_wait_percent, s.max_disk_io_wait_percent, s.avg_net_sent_mb_s,
          s.max_net_sent_mb_s, s.avg_net_recv_mb_s, s.max_net_recv_mb_s, s.avg_load_1m, s.max_load_1m)
        FROM src s
       WHERE h.system_id = s.system_id AND h.bucket = s.bucket AND h.bucket >= $1 AND h.bucket < $2
         AND (h.sample_count, h.avg_cpu_percent, h.max_cpu_percent, h.avg_ram_percent,
             h.max_ram_percent, h.avg_swap_percent, h.max_swap_percent, h.avg_gpu_utilization,
             h.max_gpu_utilization, h.avg_gpu_memory_percent, h.max_gpu_memory_percent,
             h.avg_gpu_temp, h.max_gpu_temp, h.avg_cpu_temp, h.max_cpu_temp, h.avg_disk_read_mb_s,
             h.max_disk_read_mb_s, h.avg_disk_write_mb_s, h.max_disk_write_mb_s,
             h.avg_disk_io_wait_percent, h.max_disk_io_wait_percent, h.avg_net_sent_mb_s,
             h.max_net_sent_mb_s, h.avg_net_recv_mb_s, h.max_net_recv_mb_s, h.avg_load_1m,
             h.max_load_1m)
             IS DISTINCT FROM (s.sample_count, s.avg_cpu_percent, s.max_cpu_percent,
                 s.avg_ram_percent, s.max_ram_percent, s.avg_swap_percent, s.max_swap_percent,
                 s.avg_gpu_utilization, s.max_gpu_utilization, s.avg_gpu_memory_percent,
                 s.max_gpu_memory_percent, s.avg_gpu_temp, s.max_gpu_temp, s.avg_cpu_temp,
                 s.max_cpu_temp, s.avg_disk_read_mb_s, s.max_disk_read_mb_s,
                 s.avg_disk_write_mb_s, s.max_disk_write_mb_s, s.avg_disk_io_wait_percent,
                 s.max_disk_io_wait_percent, s.avg_net_sent_mb_s, s.max_net_sent_mb_s,
                 s.avg_net_recv_mb_s, s.max_net_recv_mb_s, s.avg_load_1m, s.max_load_1m)
      RETURNING 1
    ), ins AS (
      INSERT INTO hourly_performance_stats (system_id, bucket, sample_count, avg_cpu_percent,
          max_cpu_percent, avg_ram_percent, max_ram_percent, avg_swap_percent, max_swap_percent,
          avg_gpu_utilization, max_gpu_utilization, avg_gpu_memory_percent, max_gpu_memory_percent,
          avg_gpu_temp, max_gpu_temp, avg_cpu_temp, max_cpu_temp, avg_disk_read_mb_s,
          max_disk_read_mb_s, avg_disk_write_mb_s, max_disk_write_mb_s, avg_disk_io_wait_percent,
          max_disk_io_wait_percent, avg_net_sent_mb_s, max_net_sent_mb_s, avg_net_recv_mb_s,
          max_net_recv_mb_s, avg_load_1m, max_load_1m)
      SELECT s.* FROM src s
       WHERE NOT EXISTS (SELECT FROM hourly_performance_stats h
                          WHERE h.system_id = s.system_id AND h.bucket = s.bucket
                              AND h.bucket >= $1 AND h.bucket < $2)
      ON CONFLICT (system_id, bucket) DO NOTHING  -- a concurrent pass wrote the same hour
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins)$q$
    INTO n USING v_slice, v_next;
    total := total + n;
    v_slice := v_next;
  END LOOP;
  RETURN total;
END $$;
GRANT EXECUTE ON FUNCTION sru_rollup_hourly_stats(timestamptz, timestamptz) TO admin, analyst;
