-- tiers: full
-- The ledger's hourly and daily rollups (R__sru_usage_ledger.sql), as continuous aggregates:
-- per host, user and bucket the sums of every figure and the number of samples; per host and bucket
-- the time base (distinct evaluation times, and the span they cover), from which the ledger turns
-- sums into hours. Sums, not means: a user absent from an evaluation used nothing in it, and sums
-- add up across buckets and tiers exactly. The daily ones are built on the hourly ones
-- (hierarchical). Real-time aggregation serves the newest buckets; the refresh policies cover what
-- raw retention keeps, as hourly_performance_stats's (008). The plain and apache tiers get tables
-- of the same names and columns, filled by sru_rollup_user_usage() (063_user_usage_rollups_table.sql).
CREATE MATERIALIZED VIEW user_usage_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT system_id, user_id, time_bucket(INTERVAL '1 hour', "timestamp") AS bucket,
       count(*) AS samples,
       sum(cpu_cores) AS cpu_cores, sum(ram_gb) AS ram_gb, sum(gpu_memory_gb) AS gpu_memory_gb,
       sum(gpu_utilization) AS gpu_utilization, sum(gpus_held) AS gpus_held,
       sum(gpus_idle_held) AS gpus_idle_held, sum(processes) AS processes
  FROM user_usage_metrics
 GROUP BY system_id, user_id, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW user_usage_host_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT system_id, time_bucket(INTERVAL '1 hour', "timestamp") AS bucket,
       count(DISTINCT "timestamp") AS samples,
       extract(epoch FROM max("timestamp") - min("timestamp"))::double precision AS span_s,
       count(DISTINCT "timestamp") - 1 AS intervals
  FROM user_usage_metrics
 GROUP BY system_id, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW user_usage_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT system_id, user_id, time_bucket(INTERVAL '1 day', bucket) AS bucket,
       sum(samples)::bigint AS samples,
       sum(cpu_cores) AS cpu_cores, sum(ram_gb) AS ram_gb, sum(gpu_memory_gb) AS gpu_memory_gb,
       sum(gpu_utilization) AS gpu_utilization, sum(gpus_held) AS gpus_held,
       sum(gpus_idle_held) AS gpus_idle_held, sum(processes)::bigint AS processes
  FROM user_usage_hourly
 GROUP BY system_id, user_id, time_bucket(INTERVAL '1 day', bucket)
WITH NO DATA;

CREATE MATERIALIZED VIEW user_usage_host_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT system_id, time_bucket(INTERVAL '1 day', bucket) AS bucket,
       sum(samples)::bigint AS samples, sum(span_s) AS span_s, sum(intervals)::bigint AS intervals
  FROM user_usage_host_hourly
 GROUP BY system_id, time_bucket(INTERVAL '1 day', bucket)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('user_usage_hourly', start_offset => INTERVAL '360 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('user_usage_host_hourly', start_offset => INTERVAL '360 days',
  end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('user_usage_daily', start_offset => INTERVAL '360 days',
  end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('user_usage_host_daily', start_offset => INTERVAL '360 days',
  end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour');
SELECT add_retention_policy('user_usage_hourly', INTERVAL '3 years');
SELECT add_retention_policy('user_usage_host_hourly', INTERVAL '3 years');
SELECT add_retention_policy('user_usage_daily', INTERVAL '3 years');
SELECT add_retention_policy('user_usage_host_daily', INTERVAL '3 years');

-- The optimizer refreshes what it is about to read (as 008 for hourly_performance_stats): the
-- aggregates belong to hourly_stats_owner, whose members are analyst and admin.
GRANT SELECT ON user_usage_metrics TO hourly_stats_owner;
ALTER MATERIALIZED VIEW user_usage_hourly OWNER TO hourly_stats_owner;
ALTER MATERIALIZED VIEW user_usage_host_hourly OWNER TO hourly_stats_owner;
ALTER MATERIALIZED VIEW user_usage_daily OWNER TO hourly_stats_owner;
ALTER MATERIALIZED VIEW user_usage_host_daily OWNER TO hourly_stats_owner;
GRANT SELECT ON user_usage_hourly, user_usage_daily TO personal_usage_reader;
GRANT SELECT ON user_usage_host_hourly, user_usage_host_daily TO personal_usage_reader, dashboard_readonly, analyst;
