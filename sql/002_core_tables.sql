-- The core tables of the design. Types left open by the design: percentages are double precision
-- (0-100), rates in MB/s, temperatures in degrees Celsius, times timestamptz.

CREATE FUNCTION sru_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;

CREATE TABLE systems (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  hostname      text NOT NULL UNIQUE CHECK (hostname <> '' AND length(hostname) <= 253),
  cpu_model     text,
  cpu_cores     integer CHECK (cpu_cores > 0),
  ram_total_gb  double precision CHECK (ram_total_gb >= 0),
  gpu_model     text,
  gpu_count     integer NOT NULL DEFAULT 0 CHECK (gpu_count >= 0),
  location      text,
  status        text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'maintenance', 'retired', 'offline')),
  last_seen     timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX systems_status_idx ON systems (status);
CREATE INDEX systems_last_seen_idx ON systems (last_seen DESC);
CREATE TRIGGER systems_updated_at BEFORE UPDATE ON systems
  FOR EACH ROW EXECUTE FUNCTION sru_touch_updated_at();

CREATE TABLE users (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username    text NOT NULL UNIQUE CHECK (username <> '' AND length(username) <= 256),
  full_name   text,
  email       text CHECK (email IS NULL OR email LIKE '%_@_%'),
  department  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_department_idx ON users (department);

CREATE TABLE user_sessions (
  id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                   bigint REFERENCES users (id) ON DELETE SET NULL,
  system_id                 uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  terminal                  text,
  remote_host               text,
  login_time                timestamptz NOT NULL,
  logout_time               timestamptz CHECK (logout_time IS NULL OR logout_time >= login_time),
  session_duration_minutes  double precision GENERATED ALWAYS AS
                              (EXTRACT(EPOCH FROM (logout_time - login_time)) / 60.0) STORED,
  is_active                 boolean NOT NULL DEFAULT true,
  active_processes          jsonb NOT NULL DEFAULT '[]'::jsonb,
  peak_cpu_usage            double precision CHECK (peak_cpu_usage BETWEEN 0 AND 100),
  peak_ram_usage            double precision CHECK (peak_ram_usage BETWEEN 0 AND 100),
  created_at                timestamptz NOT NULL DEFAULT now(),
  -- A session is identified by where, who, which terminal and when: replays of the same series
  -- find the same row.
  CONSTRAINT user_sessions_identity UNIQUE NULLS NOT DISTINCT (system_id, user_id, terminal, login_time)
);
CREATE INDEX user_sessions_system_login_idx ON user_sessions (system_id, login_time DESC);
CREATE INDEX user_sessions_user_login_idx ON user_sessions (user_id, login_time DESC);
CREATE INDEX user_sessions_active_idx ON user_sessions (system_id) WHERE is_active;

CREATE TABLE usage_metrics (
  system_id             uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  "timestamp"           timestamptz NOT NULL,
  cpu_percent           double precision CHECK (cpu_percent BETWEEN 0 AND 100),
  cpu_per_core          jsonb,
  cpu_temp              double precision,
  ram_percent           double precision CHECK (ram_percent BETWEEN 0 AND 100),
  swap_percent          double precision CHECK (swap_percent BETWEEN 0 AND 100),
  gpu_utilization       double precision CHECK (gpu_utilization BETWEEN 0 AND 100),
  gpu_temp              double precision,
  gpu_memory_percent    double precision CHECK (gpu_memory_percent BETWEEN 0 AND 100),
  disk_read_mb_s        double precision CHECK (disk_read_mb_s >= 0),
  disk_write_mb_s       double precision CHECK (disk_write_mb_s >= 0),
  disk_io_wait_percent  double precision CHECK (disk_io_wait_percent BETWEEN 0 AND 100),
  net_sent_mb_s         double precision CHECK (net_sent_mb_s >= 0),
  net_recv_mb_s         double precision CHECK (net_recv_mb_s >= 0),
  load_1m               double precision CHECK (load_1m >= 0),
  PRIMARY KEY (system_id, "timestamp")
);
-- The primary key already serves (system_id, timestamp) lookups in ascending order; the design asks
-- for the descending one that "latest N per host" queries walk without a sort.
CREATE INDEX usage_metrics_system_time_idx ON usage_metrics (system_id, "timestamp" DESC);
CREATE INDEX usage_metrics_time_idx ON usage_metrics ("timestamp" DESC);
CREATE INDEX usage_metrics_high_cpu_idx ON usage_metrics (system_id, "timestamp" DESC)
  WHERE cpu_percent > 80;
CREATE INDEX usage_metrics_high_ram_idx ON usage_metrics (system_id, "timestamp" DESC)
  WHERE ram_percent > 80;
CREATE INDEX usage_metrics_cpu_per_core_idx ON usage_metrics USING gin (cpu_per_core);

CREATE TABLE process_snapshots (
  system_id    uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  "timestamp"  timestamptz NOT NULL,
  pid          integer NOT NULL CHECK (pid >= 0),
  name         text NOT NULL,
  username     text,
  cpu_percent  double precision CHECK (cpu_percent >= 0),
  memory_mb    double precision CHECK (memory_mb >= 0),
  gpu_memory_mb double precision CHECK (gpu_memory_mb >= 0),
  cmdline      text,
  PRIMARY KEY (system_id, "timestamp", pid)
);
CREATE INDEX process_snapshots_time_idx ON process_snapshots ("timestamp" DESC);
CREATE INDEX process_snapshots_user_time_idx ON process_snapshots (username, "timestamp" DESC);

CREATE TABLE alert_rules (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  expression   text NOT NULL,
  threshold    double precision,
  duration     interval,
  severity     text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
  enabled      boolean NOT NULL DEFAULT true,
  source_file  text,
  description  text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER alert_rules_updated_at BEFORE UPDATE ON alert_rules
  FOR EACH ROW EXECUTE FUNCTION sru_touch_updated_at();

CREATE TABLE alert_logs (
  id                bigserial NOT NULL,
  rule_id           bigint REFERENCES alert_rules (id) ON DELETE SET NULL,
  system_id         uuid REFERENCES systems (id) ON DELETE CASCADE,
  alert_name        text NOT NULL,
  fingerprint       text NOT NULL,
  triggered_at      timestamptz NOT NULL,
  resolved_at       timestamptz CHECK (resolved_at IS NULL OR resolved_at >= triggered_at),
  metric_name       text,
  actual_value      double precision,
  threshold_value   double precision,
  severity          text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
  labels            jsonb NOT NULL DEFAULT '{}'::jsonb,
  annotations       jsonb NOT NULL DEFAULT '{}'::jsonb,
  is_acknowledged   boolean NOT NULL DEFAULT false,
  acknowledged_by   text,
  acknowledged_at   timestamptz,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (NOT is_acknowledged OR (acknowledged_by IS NOT NULL AND acknowledged_at IS NOT NULL)),
  -- A hypertable's unique keys must contain its time column, hence triggered_at in the key.
  PRIMARY KEY (id, triggered_at),
  UNIQUE (fingerprint, triggered_at)
);
CREATE INDEX alert_logs_system_time_idx ON alert_logs (system_id, triggered_at DESC);
CREATE INDEX alert_logs_rule_time_idx ON alert_logs (rule_id, triggered_at DESC);
CREATE INDEX alert_logs_unresolved_idx ON alert_logs (triggered_at DESC) WHERE resolved_at IS NULL;
CREATE INDEX alert_logs_id_idx ON alert_logs (id);
CREATE TRIGGER alert_logs_updated_at BEFORE UPDATE ON alert_logs
  FOR EACH ROW EXECUTE FUNCTION sru_touch_updated_at();

CREATE TABLE performance_summaries (
  id                         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  system_id                  uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  period_type                text NOT NULL CHECK (period_type IN ('hourly', 'daily', 'weekly', 'monthly')),
  period_start               timestamptz NOT NULL,
  period_end                 timestamptz NOT NULL,
  sample_count               integer NOT NULL DEFAULT 0 CHECK (sample_count >= 0),
  avg_cpu_percent            double precision,
  p95_cpu_percent            double precision,
  max_cpu_percent            double precision,
  avg_ram_percent            double precision,
  p95_ram_percent            double precision,
  max_ram_percent            double precision,
  avg_swap_percent           double precision,
  p95_swap_percent           double precision,
  max_swap_percent           double precision,
  avg_gpu_utilization        double precision,
  p95_gpu_utilization        double precision,
  max_gpu_utilization        double precision,
  avg_gpu_memory_percent     double precision,
  p95_gpu_memory_percent     double precision,
  max_gpu_memory_percent     double precision,
  avg_disk_io_wait_percent   double precision,
  p95_disk_io_wait_percent   double precision,
  max_disk_io_wait_percent   double precision,
  avg_disk_read_mb_s         double precision,
  p95_disk_read_mb_s         double precision,
  max_disk_read_mb_s         double precision,
  avg_disk_write_mb_s        double precision,
  p95_disk_write_mb_s        double precision,
  max_disk_write_mb_s        double precision,
  avg_net_sent_mb_s          double precision,
  p95_net_sent_mb_s          double precision,
  max_net_sent_mb_s          double precision,
  avg_net_recv_mb_s          double precision,
  p95_net_recv_mb_s          double precision,
  max_net_recv_mb_s          double precision,
  avg_cpu_temp               double precision,
  max_cpu_temp               double precision,
  avg_gpu_temp               double precision,
  max_gpu_temp               double precision,
  avg_load_1m                double precision,
  max_load_1m                double precision,
  is_underutilized           boolean NOT NULL DEFAULT false,
  is_overutilized            boolean NOT NULL DEFAULT false,
  has_bottleneck             boolean NOT NULL DEFAULT false,
  bottleneck_type            text CHECK (bottleneck_type IN ('cpu', 'ram', 'swap', 'gpu', 'gpu_memory', 'disk_io', 'network', 'thermal')),
  utilization_score          double precision CHECK (utilization_score BETWEEN 0 AND 100),
  computed_at                timestamptz NOT NULL DEFAULT now(),
  CHECK (period_end > period_start),
  CHECK (has_bottleneck = (bottleneck_type IS NOT NULL)),
  UNIQUE (system_id, period_type, period_start)
);
CREATE INDEX performance_summaries_period_idx ON performance_summaries (period_type, period_start DESC);
CREATE INDEX performance_summaries_flags_idx ON performance_summaries (period_type, period_start DESC)
  WHERE is_underutilized OR is_overutilized OR has_bottleneck;

CREATE TABLE optimization_reports (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  system_id        uuid REFERENCES systems (id) ON DELETE SET NULL,
  report_type      text NOT NULL CHECK (report_type IN ('hardware_upgrade', 'reallocation', 'configuration')),
  severity         text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  title            text NOT NULL DEFAULT '',
  recommendations  jsonb NOT NULL DEFAULT '{}'::jsonb,
  priority_score   integer NOT NULL CHECK (priority_score BETWEEN 1 AND 10),
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'implemented', 'rejected')),
  status_changed_by text,
  status_changed_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX optimization_reports_status_priority_idx ON optimization_reports (status, priority_score DESC);
CREATE INDEX optimization_reports_system_idx ON optimization_reports (system_id, created_at DESC);
CREATE INDEX optimization_reports_recommendations_idx ON optimization_reports USING gin (recommendations);
CREATE TRIGGER optimization_reports_updated_at BEFORE UPDATE ON optimization_reports
  FOR EACH ROW EXECUTE FUNCTION sru_touch_updated_at();

-- Privileges. admin manages everything; data_collector writes what ingest produces and reads the
-- lookups it needs; dashboard_readonly and analyst read everything (analyst also runs the analysis
-- functions, granted where they are created).
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO admin;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO admin;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO dashboard_readonly, analyst;
GRANT SELECT, INSERT, UPDATE ON systems, users, user_sessions, usage_metrics, process_snapshots, alert_logs
  TO data_collector;
GRANT SELECT ON alert_rules TO data_collector;
GRANT USAGE ON SEQUENCE alert_logs_id_seq TO data_collector;
GRANT USAGE ON SEQUENCE users_id_seq TO data_collector;
