-- tiers: plain apache
-- Without continuous aggregates, hourly_performance_stats is an ordinary table with the same columns
-- as the full edition's continuous aggregate; the optimizer's rollup (`sru db maintain`) fills it.
CREATE TABLE hourly_performance_stats (
  system_id                uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  bucket                   timestamptz NOT NULL,
  sample_count             bigint NOT NULL,
  avg_cpu_percent          double precision,
  max_cpu_percent          double precision,
  avg_ram_percent          double precision,
  max_ram_percent          double precision,
  avg_swap_percent         double precision,
  max_swap_percent         double precision,
  avg_gpu_utilization      double precision,
  max_gpu_utilization      double precision,
  avg_gpu_memory_percent   double precision,
  max_gpu_memory_percent   double precision,
  avg_gpu_temp             double precision,
  max_gpu_temp             double precision,
  avg_cpu_temp             double precision,
  max_cpu_temp             double precision,
  avg_disk_read_mb_s       double precision,
  max_disk_read_mb_s       double precision,
  avg_disk_write_mb_s      double precision,
  max_disk_write_mb_s      double precision,
  avg_disk_io_wait_percent double precision,
  max_disk_io_wait_percent double precision,
  avg_net_sent_mb_s        double precision,
  max_net_sent_mb_s        double precision,
  avg_net_recv_mb_s        double precision,
  max_net_recv_mb_s        double precision,
  avg_load_1m              double precision,
  max_load_1m              double precision,
  PRIMARY KEY (system_id, bucket)
);
CREATE INDEX hourly_performance_stats_bucket_idx ON hourly_performance_stats (bucket DESC);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON hourly_performance_stats TO admin;
GRANT SELECT ON hourly_performance_stats TO dashboard_readonly, analyst;
