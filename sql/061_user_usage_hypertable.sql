-- tiers: apache full
-- As usage_metrics (003): time-partitioned, 1-day chunks (7 on the full tier: 062).
SELECT create_hypertable('user_usage_metrics', 'timestamp', chunk_time_interval => INTERVAL '1 day');
