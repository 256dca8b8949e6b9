-- tiers: apache full
-- Time-partitioned storage for the big tables. Unique keys all contain the time column (see 002).
SELECT create_hypertable('usage_metrics', 'timestamp', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('process_snapshots', 'timestamp', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('alert_logs', 'triggered_at', chunk_time_interval => INTERVAL '7 days');
