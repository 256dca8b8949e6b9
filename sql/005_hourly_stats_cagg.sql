-- tiers: full
-- Continuous aggregate, refreshed every hour over the last two hours; real-time aggregation covers
-- the newest bucket between refreshes.
CREATE MATERIALIZED VIEW hourly_performance_stats
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT system_id,
       time_bucket(INTERVAL '1 hour', "timestamp") AS bucket,
       count(*)                  AS sample_count,
       avg(cpu_percent)          AS avg_cpu_percent,
       max(cpu_percent)          AS max_cpu_percent,
       avg(ram_percent)          AS avg_ram_percent,
       max(ram_percent)          AS max_ram_percent,
       avg(swap_percent)         AS avg_swap_percent,
       max(swap_percent)         AS max_swap_percent,
       avg(gpu_utilization)      AS avg_gpu_utilization,
       max(gpu_utilization)      AS max_gpu_utilization,
       avg(gpu_memory_percent)   AS avg_gpu_memory_percent,
       max(gpu_memory_percent)   AS max_gpu_memory_percent,
       avg(gpu_temp)             AS avg_gpu_temp,
       max(gpu_temp)             AS max_gpu_temp,
       avg(cpu_temp)             AS avg_cpu_temp,
       max(cpu_temp)             AS max_cpu_temp,
       avg(disk_read_mb_s)       AS avg_disk_read_mb_s,
       max(disk_read_mb_s)       AS max_disk_read_mb_s,
       avg(disk_write_mb_s)      AS avg_disk_write_mb_s,
       max(disk_write_mb_s)      AS max_disk_write_mb_s,
       avg(disk_io_wait_percent) AS avg_disk_io_wait_percent,
       max(disk_io_wait_percent) AS max_disk_io_wait_percent,
       avg(net_sent_mb_s)        AS avg_net_sent_mb_s,
       max(net_sent_mb_s)        AS max_net_sent_mb_s,
       avg(net_recv_mb_s)        AS avg_net_recv_mb_s,
       max(net_recv_mb_s)        AS max_net_recv_mb_s,
       avg(load_1m)              AS avg_load_1m,
       max(load_1m)              AS max_load_1m
  FROM usage_metrics
 GROUP BY system_id, bucket
WITH NO DATA;

SELECT add_continuous_aggregate_policy('hourly_performance_stats',
  start_offset => INTERVAL '2 hours', end_offset => NULL, schedule_interval => INTERVAL '1 hour');
GRANT SELECT ON hourly_performance_stats TO admin, dashboard_readonly, analyst;
