-- tiers: plain apache
-- Without continuous aggregates the ledger's rollups are tables of the same names and columns as the
-- full tier's (063_user_usage_rollups_cagg.sql), filled by sru_rollup_user_usage() in each
-- optimizer pass and `sru db maintain`. user_usage_rollup_state says up to where they are complete:
-- the ledger reads raw rows after that (R__sru_usage_ledger.sql), so its answers never wait for a pass.
CREATE TABLE user_usage_hourly (
  system_id uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  user_id bigint NOT NULL,
  bucket timestamptz NOT NULL,
  samples bigint NOT NULL,
  cpu_cores double precision, ram_gb double precision, gpu_memory_gb double precision,
  gpu_utilization double precision, gpus_held double precision, gpus_idle_held double precision,
  processes bigint,
  PRIMARY KEY (system_id, user_id, bucket)
);
CREATE INDEX user_usage_hourly_bucket_idx ON user_usage_hourly (bucket);
CREATE TABLE user_usage_daily (LIKE user_usage_hourly INCLUDING ALL);
ALTER TABLE user_usage_daily ADD FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE;

CREATE TABLE user_usage_host_hourly (
  system_id uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  bucket timestamptz NOT NULL,
  samples bigint NOT NULL,
  span_s double precision NOT NULL,
  intervals bigint NOT NULL,
  PRIMARY KEY (system_id, bucket)
);
CREATE INDEX user_usage_host_hourly_bucket_idx ON user_usage_host_hourly (bucket);
CREATE TABLE user_usage_host_daily (LIKE user_usage_host_hourly INCLUDING ALL);
ALTER TABLE user_usage_host_daily ADD FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE;

CREATE TABLE user_usage_rollup_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  rolled_through timestamptz   -- every hour before this one is in the rollups
);
INSERT INTO user_usage_rollup_state DEFAULT VALUES;

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON user_usage_hourly, user_usage_daily,
  user_usage_host_hourly, user_usage_host_daily, user_usage_rollup_state TO admin;
GRANT SELECT ON user_usage_hourly, user_usage_daily TO personal_usage_reader;
GRANT SELECT ON user_usage_host_hourly, user_usage_host_daily, user_usage_rollup_state
  TO personal_usage_reader, dashboard_readonly, analyst;
