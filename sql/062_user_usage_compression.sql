-- tiers: full
-- Like usage_metrics (006, 052): 7-day chunks, compressed after 7 days, kept a year. Segments per
-- host and user: a user's week on a host at 1-minute evaluations is ~10,000 rows, full batches of
-- 1,000, and the ledger reads one user's or one host's rows without decompressing the others'.
SELECT set_chunk_time_interval('user_usage_metrics', INTERVAL '7 days');
ALTER TABLE user_usage_metrics SET (timescaledb.compress,
  timescaledb.compress_segmentby = 'system_id, user_id', timescaledb.compress_orderby = '"timestamp" DESC');
SELECT add_compression_policy('user_usage_metrics', INTERVAL '7 days');
SELECT add_retention_policy('user_usage_metrics', INTERVAL '1 year');
