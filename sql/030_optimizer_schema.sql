-- Optimizer: its state, the workflow history of optimization reports, the rules its anomalies are
-- logged under, and the workflow itself, enforced by a trigger so that every client is held to it.

-- What the summaries cover. `summaries_through`: the newest sample time summarised so far;
-- `summaries_stale_from`: the oldest time whose summaries a writer (a backfill, `sru demo-data`)
-- declared out of date with mark_summaries_stale().
-- Summary periods are UTC hours, days, ISO weeks (from Monday) and calendar months.
CREATE FUNCTION sru_period_unit(p_period text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
  RETURN CASE p_period WHEN 'hourly' THEN 'hour' WHEN 'daily' THEN 'day' WHEN 'weekly' THEN 'week'
                       WHEN 'monthly' THEN 'month' END;
END $$;

CREATE FUNCTION sru_period_length(p_period text) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
  SELECT CASE p_period WHEN 'hourly' THEN INTERVAL '1 hour' WHEN 'daily' THEN INTERVAL '1 day'
                       WHEN 'weekly' THEN INTERVAL '7 days' WHEN 'monthly' THEN INTERVAL '1 month' END
$$;

-- The start of the period of type p_period that contains p_at.
CREATE FUNCTION sru_period_floor(p_period text, p_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
  SELECT date_trunc(sru_period_unit(p_period), p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;

CREATE TABLE sru_optimizer_state (
  key    text PRIMARY KEY CHECK (key IN ('summaries_through', 'summaries_stale_from')),
  value  timestamptz
);
INSERT INTO sru_optimizer_state (key) VALUES ('summaries_through'), ('summaries_stale_from');

CREATE TABLE optimization_report_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  report_id    uuid NOT NULL REFERENCES optimization_reports (id) ON DELETE CASCADE,
  from_status  text,
  to_status    text NOT NULL,
  actor        text NOT NULL,
  db_user      text NOT NULL DEFAULT session_user,
  note         text CHECK (length(note) <= 2000),
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX optimization_report_events_report_idx ON optimization_report_events (report_id, at);

-- One pending report per host, type and kind of recommendation: re-runs refresh its evidence.
CREATE UNIQUE INDEX optimization_reports_pending_kind_idx
  ON optimization_reports ((COALESCE(system_id, '00000000-0000-0000-0000-000000000000'::uuid)),
                           report_type, (recommendations ->> 'kind'))
  WHERE status = 'pending';

-- The rules anomaly rows in alert_logs refer to. They are evaluated by `sru optimize`, not by
-- Prometheus, hence source_file 'optimizer'.
INSERT INTO alert_rules (name, expression, threshold, duration, severity, source_file, description) VALUES
  ('sru_anomaly_seasonal_zscore',
   'robust z-score of the hourly mean against the same hour of week (±1 h) over the previous 30 days',
   4, INTERVAL '1 hour', 'warning', 'optimizer',
   'Usage far from what this host usually does at this hour of the week.'),
  ('sru_anomaly_threshold',
   'hourly mean above a fixed limit (cpu/ram 98 %, gpu 99.5 %, swap 50 %, io wait 40 %) where the same hour of week is usually 10 points below it',
   NULL, INTERVAL '1 hour', 'warning', 'optimizer', 'Sustained breach of a hard limit for a whole hour.'),
  ('sru_anomaly_spike',
   'hourly maximum at least 10 points above the 99.5th percentile of the previous 30 days'' hourly maxima',
   99.5, INTERVAL '1 hour', 'info', 'optimizer', 'Sudden spike well beyond anything seen in the last 30 days.')
ON CONFLICT (name) DO NOTHING;

-- pending → approved → implemented, or pending → rejected. Rows are born pending; the status fields
-- change only with the status, and each change is recorded with who made it.
CREATE FUNCTION sru_optimization_report_workflow() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' THEN
      RAISE EXCEPTION 'optimization reports are created pending, not %', NEW.status
        USING ERRCODE = 'check_violation';
    END IF;
    NEW.status_changed_by := NULL;
    NEW.status_changed_at := NULL;
    RETURN NEW;
  END IF;
  IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
    NEW.status_changed_by := OLD.status_changed_by;
    NEW.status_changed_at := OLD.status_changed_at;
    RETURN NEW;
  END IF;
  IF NOT (OLD.status, NEW.status) IN (('pending', 'approved'), ('pending', 'rejected'),
                                      ('approved', 'implemented')) THEN
    RAISE EXCEPTION 'invalid transition of report %: % → %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation',
            HINT = 'allowed: pending → approved | rejected, approved → implemented';
  END IF;
  IF NEW.status_changed_by IS NOT DISTINCT FROM OLD.status_changed_by OR NEW.status_changed_by = '' THEN
    NEW.status_changed_by := session_user;
  END IF;
  NEW.status_changed_at := now();
  INSERT INTO optimization_report_events (report_id, from_status, to_status, actor, note)
  VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by,
          NULLIF(current_setting('sru.workflow_note', true), ''));
  RETURN NEW;
END $$;

CREATE TRIGGER optimization_reports_workflow BEFORE INSERT OR UPDATE ON optimization_reports
  FOR EACH ROW EXECUTE FUNCTION sru_optimization_report_workflow();

GRANT EXECUTE ON FUNCTION sru_period_unit(text), sru_period_length(text),
  sru_period_floor(text, timestamptz) TO admin, dashboard_readonly, analyst;
GRANT SELECT ON sru_optimizer_state, optimization_report_events TO admin, dashboard_readonly, analyst;
GRANT INSERT, UPDATE, DELETE ON optimization_report_events TO admin;
