-- Anomalies as episodes: one alert_logs row per host, metric and kind, from the first flagged hour
-- (triggered_at) to the hour after the last one (resolved_at, NULL while the episode is open),
-- written by record_anomaly_episodes(). The hourly rows that record_anomalies() (032) wrote are
-- folded into episodes here, so the report and dashboards count the same thing for old and new
-- data, and record_anomalies() is dropped (it could only write hourly rows).

INSERT INTO alert_rules (name, expression, threshold, duration, severity, source_file, description) VALUES
  ('sru_anomaly_zscore',
   'robust z-score of the hourly mean (|z| >= 4 and >= 10 points) against the same hour of week ±1 h of the previous 4 weeks where the host has a weekly pattern, else all hours of the previous 30 days; scale floored by the 30-day MAD; hours of past episodes left out',
   4, INTERVAL '3 hours', 'warning', 'optimizer',
   'Usage far from what this host usually does at this time, for 3 hours or more.'),
  ('sru_anomaly_level_shift',
   'median of the last 6 hourly means at least 3 robust scales and 10 points away from the baseline',
   3, INTERVAL '1 hour', 'warning', 'optimizer',
   'Usage moved to a new level and stays there (a misconfiguration, a dead or runaway service).')
ON CONFLICT (name) DO NOTHING;

UPDATE alert_rules SET
  expression = 'hourly mean at or above a fixed limit (cpu/ram 98 %, gpu 99.5 %, swap 50 %, io wait 40 %) for 2 hours while the host''s 30-day p90 is more than 10 points below it',
  duration = INTERVAL '2 hours'
 WHERE name = 'sru_anomaly_threshold';
UPDATE alert_rules SET
  expression = 'hourly maximum above both the 30-day p99.5 of hourly maxima + 10 points (at most the 100 % cap) and this hour''s usual maximum + 30 points (8 robust scales if more)'
 WHERE name = 'sru_anomaly_spike';
UPDATE alert_rules SET
  description = 'Replaced by sru_anomaly_zscore in migration 039; kept for the episodes found before it.'
 WHERE name = 'sru_anomaly_seasonal_zscore';

-- Fold the hourly rows: consecutive hours of one fingerprint (host, metric, kind), with gaps of at
-- most 3 hours (the closing rule of the new detector), become one episode row.
CREATE TEMP TABLE sru_039_hours ON COMMIT DROP AS
SELECT h.*, sum(h.starts) OVER (PARTITION BY h.fingerprint ORDER BY h.triggered_at) AS episode
  FROM (SELECT a.id, a.triggered_at, a.resolved_at, a.fingerprint, a.actual_value, a.threshold_value, a.severity,
               a.annotations, a.is_acknowledged, a.acknowledged_by, a.acknowledged_at,
               CASE WHEN a.triggered_at <= lag(a.resolved_at) OVER w + INTERVAL '3 hours' THEN 0 ELSE 1 END AS starts
          FROM alert_logs a
         WHERE a.labels ->> 'source' = 'sru-optimizer'
        WINDOW w AS (PARTITION BY a.fingerprint ORDER BY a.triggered_at)) h;

CREATE TEMP TABLE sru_039_episodes ON COMMIT DROP AS
SELECT h.fingerprint, h.episode,
       (array_agg(h.id ORDER BY h.triggered_at))[1] AS keep_id,
       min(h.triggered_at) AS started_at, max(h.resolved_at) AS ended_at, count(*) AS hours,
       (array_agg(h.actual_value ORDER BY abs((h.annotations ->> 'score')::double precision) DESC NULLS LAST))[1] AS peak,
       (array_agg(h.threshold_value ORDER BY abs((h.annotations ->> 'score')::double precision) DESC NULLS LAST))[1] AS baseline,
       (array_agg(h.annotations ORDER BY abs((h.annotations ->> 'score')::double precision) DESC NULLS LAST))[1] AS annotations,
       (array_agg(h.severity ORDER BY CASE h.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END))[1] AS severity,
       bool_or(h.is_acknowledged) AS acked,
       max(h.acknowledged_by) FILTER (WHERE h.is_acknowledged) AS acked_by,
       min(h.acknowledged_at) FILTER (WHERE h.is_acknowledged) AS acked_at
  FROM sru_039_hours h
 GROUP BY h.fingerprint, h.episode;

UPDATE alert_logs a
   SET resolved_at = e.ended_at, actual_value = e.peak, threshold_value = e.baseline, severity = e.severity,
       annotations = e.annotations || jsonb_build_object(
         'hours', e.hours, 'last_flagged_at', e.ended_at - INTERVAL '1 hour',
         'migrated', 'hourly rows folded into one episode by migration 039'),
       is_acknowledged = e.acked, acknowledged_by = e.acked_by, acknowledged_at = e.acked_at, updated_at = now()
  FROM sru_039_episodes e
 WHERE a.id = e.keep_id AND a.triggered_at = e.started_at;

DELETE FROM alert_logs a
 USING sru_039_hours h
 WHERE a.id = h.id AND a.triggered_at = h.triggered_at
   AND NOT EXISTS (SELECT 1 FROM sru_039_episodes e WHERE e.keep_id = h.id);

DROP FUNCTION record_anomalies(jsonb);

-- What the report, the dashboards and the recommendations read. kind is the detector's name
-- (seasonal_zscore for episodes found before 039); evidence is what the detector saw at the peak.
CREATE VIEW anomaly_episodes AS
SELECT a.id, a.system_id, s.hostname, a.labels ->> 'metric' AS metric, a.labels ->> 'kind' AS kind,
       a.triggered_at AS started_at, a.resolved_at AS ended_at, a.resolved_at IS NULL AS is_open,
       a.actual_value AS peak_value, a.threshold_value AS baseline_value,
       (a.annotations ->> 'score')::double precision AS score, a.severity,
       coalesce((a.annotations ->> 'hours')::integer, 1) AS flagged_hours,
       coalesce(a.annotations -> 'evidence', a.annotations -> 'baseline') AS evidence,
       a.annotations ->> 'summary' AS summary, a.is_acknowledged, a.updated_at
  FROM alert_logs a
  LEFT JOIN systems s ON s.id = a.system_id
 WHERE a.labels ->> 'source' = 'sru-optimizer';

GRANT SELECT ON anomaly_episodes TO admin, dashboard_readonly, analyst;

-- Store episodes found by `sru optimize`. p_rows: a JSON array of {system_id, kind, metric,
-- started_at, ended_at (null while open), value, threshold, score, severity, hours, opened_at,
-- last_flagged_at, evidence}. An episode that overlaps a stored one of the same host, metric and
-- kind (an open one, or one the pass re-judged) updates that row: a pass re-judges every episode
-- that reaches into its window from the episode's start, so its end, peak and score replace the
-- stored ones. Only when late data moved the start is the stored row replaced (its
-- acknowledgement kept). Returns the number of rows inserted or changed.
CREATE FUNCTION record_anomaly_episodes(p_rows jsonb) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  e jsonb;
  n integer := 0;
  k integer;
  v_fp text;
  v_start timestamptz;
  v_end timestamptz;
  v_host text;
  v_annotations jsonb;
  v_old alert_logs%ROWTYPE;
  v_ack boolean;
  v_ack_by text;
  v_ack_at timestamptz;
BEGIN
  IF jsonb_typeof(p_rows) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'p_rows must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF jsonb_array_length(p_rows) > 10000 THEN
    RAISE EXCEPTION 'at most 10000 episodes per call' USING ERRCODE = 'program_limit_exceeded';
  END IF;
  FOR e IN SELECT value FROM jsonb_array_elements(p_rows) LOOP
    IF jsonb_typeof(e) IS DISTINCT FROM 'object'
       OR e ->> 'kind' IS NULL OR e ->> 'kind' NOT IN ('zscore', 'level_shift', 'threshold', 'spike')
       OR e ->> 'metric' IS NULL
       OR e ->> 'metric' NOT IN ('cpu_percent', 'ram_percent', 'swap_percent', 'gpu_utilization',
                                 'gpu_memory_percent', 'disk_io_wait_percent', 'cpu_temp', 'gpu_temp')
       OR coalesce(e ->> 'severity', 'warning') NOT IN ('critical', 'warning', 'info')
       OR e ->> 'system_id' IS NULL OR e ->> 'started_at' IS NULL THEN
      RAISE EXCEPTION 'an episode needs system_id, started_at, a known kind, metric and severity: %', left(e::text, 200)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF length(e::text) > 20000 THEN
      RAISE EXCEPTION 'episode too large (over 20000 characters)' USING ERRCODE = 'program_limit_exceeded';
    END IF;
    v_start := (e ->> 'started_at')::timestamptz;
    v_end := (e ->> 'ended_at')::timestamptz;
    IF v_end IS NOT NULL AND v_end <= v_start THEN
      RAISE EXCEPTION 'episode ends (%) before it starts (%)', v_end, v_start USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT hostname INTO v_host FROM systems WHERE id = (e ->> 'system_id')::uuid;
    IF NOT FOUND THEN
      CONTINUE;   -- the host was deleted since the pass read its data
    END IF;
    v_fp := md5('sru-optimizer|' || (e ->> 'kind') || '|' || (e ->> 'system_id') || '|' || (e ->> 'metric'));
    -- Concurrent passes must not both insert the same episode.
    PERFORM pg_advisory_xact_lock(hashtextextended(v_fp, 0));
    v_annotations := jsonb_build_object(
      'summary', format('%s: %s %s %s from %s%s', v_host, e ->> 'metric', replace(e ->> 'kind', '_', ' '),
                        round((e ->> 'value')::numeric, 1), e ->> 'started_at',
                        CASE WHEN v_end IS NULL THEN ' (open)' ELSE ' to ' || (e ->> 'ended_at') END),
      'score', e -> 'score', 'hours', e -> 'hours', 'opened_at', e -> 'opened_at',
      'last_flagged_at', e -> 'last_flagged_at', 'evidence', coalesce(e -> 'evidence', '{}'::jsonb));
    SELECT a.* INTO v_old FROM alert_logs a
     WHERE a.fingerprint = v_fp AND a.triggered_at < coalesce(v_end, 'infinity')
       AND coalesce(a.resolved_at, 'infinity') > v_start
     ORDER BY a.triggered_at LIMIT 1;
    IF FOUND AND v_old.triggered_at = v_start THEN
      UPDATE alert_logs a
         SET resolved_at = v_end, actual_value = (e ->> 'value')::double precision,
             threshold_value = (e ->> 'threshold')::double precision,
             severity = coalesce(e ->> 'severity', 'warning'), annotations = v_annotations, updated_at = now()
       WHERE a.id = v_old.id AND a.triggered_at = v_old.triggered_at
         AND (a.resolved_at, a.actual_value, a.threshold_value, a.severity, a.annotations)
             IS DISTINCT FROM (v_end, (e ->> 'value')::double precision, (e ->> 'threshold')::double precision,
                               coalesce(e ->> 'severity', 'warning'), v_annotations);
      GET DIAGNOSTICS k = ROW_COUNT;
      n := n + k;
      CONTINUE;
    END IF;
    -- New, or late data moved its start: replace whatever it overlaps.
    WITH gone AS (
      DELETE FROM alert_logs a
       WHERE a.fingerprint = v_fp AND a.triggered_at < coalesce(v_end, 'infinity')
         AND coalesce(a.resolved_at, 'infinity') > v_start
      RETURNING a.is_acknowledged, a.acknowledged_by, a.acknowledged_at)
    SELECT coalesce(bool_or(is_acknowledged), false), max(acknowledged_by) FILTER (WHERE is_acknowledged),
           min(acknowledged_at) FILTER (WHERE is_acknowledged)
      INTO v_ack, v_ack_by, v_ack_at FROM gone;
    INSERT INTO alert_logs (rule_id, system_id, alert_name, fingerprint, triggered_at, resolved_at, metric_name,
                            actual_value, threshold_value, severity, labels, annotations,
                            is_acknowledged, acknowledged_by, acknowledged_at)
    SELECT r.id, (e ->> 'system_id')::uuid,
           'SruAnomaly' || replace(initcap(replace(e ->> 'kind', '_', ' ')), ' ', ''), v_fp, v_start, v_end,
           e ->> 'metric', (e ->> 'value')::double precision, (e ->> 'threshold')::double precision,
           coalesce(e ->> 'severity', 'warning'),
           jsonb_build_object('source', 'sru-optimizer', 'kind', e ->> 'kind', 'metric', e ->> 'metric',
                              'hostname', v_host),
           v_annotations, v_ack, v_ack_by, v_ack_at
      FROM (SELECT 1) one LEFT JOIN alert_rules r ON r.name = 'sru_anomaly_' || (e ->> 'kind');
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

GRANT EXECUTE ON FUNCTION record_anomaly_episodes(jsonb) TO admin, analyst;
