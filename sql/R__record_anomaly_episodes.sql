-- record_anomaly_episodes(): defined in 039_anomaly_episodes.sql, held here since issue #22 added the
-- kinds `stuck` and `variance` (their alert_rules rows are in 100_anomaly_kinds.sql).
-- Store episodes found by `sru optimize`. p_rows: a JSON array of {system_id, kind, metric,
-- started_at, ended_at (null while open), value, threshold, score, severity, hours, opened_at,
-- last_flagged_at, evidence}. An episode that overlaps a stored one of the same host, metric and
-- kind (an open one, or one the pass re-judged) updates that row: a pass re-judges every episode
-- that reaches into its window from the episode's start, so its end, peak and score replace the
-- stored ones. Only when late data moved the start is the stored row replaced (its
-- acknowledgement kept). Returns the number of rows inserted or changed.
CREATE OR REPLACE FUNCTION record_anomaly_episodes(p_rows jsonb) RETURNS integer
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
       OR e ->> 'kind' IS NULL OR e ->> 'kind' NOT IN ('zscore', 'level_shift', 'threshold', 'spike', 'stuck', 'variance')
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
