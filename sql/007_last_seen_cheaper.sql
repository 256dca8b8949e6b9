-- Cheaper last_seen upkeep (bench/last_seen, bench/ingest):
-- * An UPDATE of usage_metrics never brings a newer (system_id, timestamp) than the INSERT that
--   created the row, which already moved last_seen; the adapter's merges (INSERT … ON CONFLICT DO
--   UPDATE, which completes rows split across requests) only paid for a second transition table.
-- * Without an index on systems.last_seen, moving it is a HOT update that touches no index; the
--   systems table is one row per host, so "not seen since" queries scan it cheaply anyway.
DROP TRIGGER IF EXISTS usage_metrics_last_seen_upd ON usage_metrics;
DROP INDEX IF EXISTS systems_last_seen_idx;
