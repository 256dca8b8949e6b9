-- Per-user accounting (issue 19): one row per host, user and evaluation with what the user's
-- processes held on that host — every process, not the top 10 of process_snapshots. Written by the
-- adapter from the sru:user_* recording rules; read through the ledger functions (R__sru_usage_ledger.sql).
--
-- user_id has no foreign key to users: on a hypertable each new chunk adds its foreign keys, which
-- takes SHARE ROW EXCLUSIVE on the referenced table while the adapter's batches hold ROW EXCLUSIVE
-- on users (they upsert the names they see): the deadlock at every chunk boundary that
-- remote_write_adapter/README.md describes for systems, a second time. The adapter only ever adds
-- users, and nothing deletes them.
CREATE TABLE user_usage_metrics (
  system_id        uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  "timestamp"      timestamptz NOT NULL,
  user_id          bigint NOT NULL,
  cpu_cores        double precision CHECK (cpu_cores >= 0),        -- cores busy (1.5 = one and a half)
  ram_gb           double precision CHECK (ram_gb >= 0),           -- resident, GB as systems.ram_total_gb
  gpu_memory_gb    double precision CHECK (gpu_memory_gb >= 0),    -- summed over the host's GPUs
  gpu_utilization  double precision CHECK (gpu_utilization >= 0),  -- % of one GPU, summed: 200 = two busy GPUs
  gpus_held        double precision CHECK (gpus_held >= 0),        -- GPUs where the user holds memory
  gpus_idle_held   double precision CHECK (gpus_idle_held >= 0),   -- ... with near-zero utilisation
  processes        integer CHECK (processes >= 0),
  PRIMARY KEY (system_id, "timestamp", user_id)
);
-- The primary key serves a host's rows in a period (recommendations, remote read of one host); this
-- index the ledger's raw edges, a period across all hosts. No index by user: every reader groups a
-- period's rows by user, none looks one user up, and each index costs the adapter on every row.
CREATE INDEX user_usage_metrics_time_idx ON user_usage_metrics ("timestamp" DESC);

-- Per-user figures are personal data (who worked when, and how much): only roles that need them
-- read them (sql/README.md, "Per-user usage: who sees what"). dashboard_readonly (Grafana) and
-- web_console see department and host totals through SECURITY DEFINER functions, never the rows.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'personal_usage_reader') THEN
    CREATE ROLE personal_usage_reader NOLOGIN;
  END IF;
  -- The console's way to per-user rows, for operators only: web_console is a member of this
  -- NOINHERIT role, which is a member of personal_usage_reader. Privileges do not flow through a
  -- NOINHERIT role, so a web_console session reads no per-user row until it runs
  -- SET ROLE personal_usage_reader, which the console does for operators' requests alone.
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'web_console_personal_gate') THEN
    CREATE ROLE web_console_personal_gate NOLOGIN NOINHERIT;
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO personal_usage_reader;
GRANT personal_usage_reader TO web_console_personal_gate;
GRANT web_console_personal_gate TO web_console;
GRANT personal_usage_reader TO analyst, admin;

GRANT SELECT, INSERT, UPDATE ON user_usage_metrics TO data_collector;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON user_usage_metrics TO admin;
GRANT SELECT ON user_usage_metrics TO personal_usage_reader;
-- No grant to dashboard_readonly or analyst as such (002's SELECT ON ALL TABLES covered only the
-- tables of its day): analyst and admin read it as members of personal_usage_reader.
