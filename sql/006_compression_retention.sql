-- tiers: full
-- Compression after 7 days (segments by host, so per-host range scans stay cheap) and 1 year of
-- retention. alert_logs is neither compressed nor dropped: resolutions update old rows and MTTR
-- history is small and worth keeping.
ALTER TABLE usage_metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'system_id',
                               timescaledb.compress_orderby = '"timestamp" DESC');
SELECT add_compression_policy('usage_metrics', INTERVAL '7 days');
SELECT add_retention_policy('usage_metrics', INTERVAL '1 year');

ALTER TABLE process_snapshots SET (timescaledb.compress, timescaledb.compress_segmentby = 'system_id',
                                   timescaledb.compress_orderby = '"timestamp" DESC, pid');
SELECT add_compression_policy('process_snapshots', INTERVAL '7 days');
SELECT add_retention_policy('process_snapshots', INTERVAL '1 year');

SELECT add_retention_policy('hourly_performance_stats', INTERVAL '3 years');
