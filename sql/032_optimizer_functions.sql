-- The optimizer's SQL functions. Scores, bottlenecks, consumers and recommendations are computed
-- here (SECURITY INVOKER: analyst reads every table), so every client gets the same answers; the
-- writers are SECURITY DEFINER, because analyst may not write tables directly, and check their inputs.

-- utilization_score: how well a host's hardware is used in a period, 0-100, from the p95 of CPU,
-- RAM and (when the host has one) GPU. Each resource scores f(u) = u/60 below 60 % (idle capacity
-- wasted), 1 from 60 to 85 % (well used with headroom), then 1 - (u-85)/30 down to 0.5 at 100 %
-- (saturated: work waits). The score is 100 × the mean of f over the resources present.
CREATE FUNCTION calculate_utilization_score(p_cpu double precision, p_ram double precision,
                                            p_gpu double precision DEFAULT NULL)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
  WITH r(u) AS (VALUES (p_cpu), (p_ram), (p_gpu)),
       f AS (SELECT CASE WHEN u < 60 THEN greatest(u, 0) / 60.0
                         WHEN u <= 85 THEN 1.0
                         ELSE greatest(0.0, 1.0 - (least(u, 100) - 85) / 30.0) END AS v
               FROM r WHERE u IS NOT NULL)
  SELECT round((100 * avg(v))::numeric, 1)::double precision FROM f
$$;

-- The resource that limits a host in a period, from p95 values (temperatures: maxima), or NULL.
-- Checked in causal order: memory pressure spills into swap, swap into IO wait, IO wait into CPU.
CREATE FUNCTION detect_bottleneck(p_cpu double precision, p_ram double precision,
                                  p_swap double precision DEFAULT NULL, p_gpu double precision DEFAULT NULL,
                                  p_gpu_memory double precision DEFAULT NULL,
                                  p_io_wait double precision DEFAULT NULL,
                                  p_cpu_temp double precision DEFAULT NULL,
                                  p_gpu_temp double precision DEFAULT NULL,
                                  p_net_mb_s double precision DEFAULT NULL)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
  SELECT CASE
    WHEN p_swap >= 10 AND p_ram >= 85 THEN 'swap'
    WHEN p_ram >= 90 THEN 'ram'
    WHEN p_io_wait >= 20 THEN 'disk_io'
    WHEN p_gpu_memory >= 95 THEN 'gpu_memory'
    WHEN p_gpu >= 95 THEN 'gpu'
    WHEN p_cpu >= 90 THEN 'cpu'
    WHEN p_cpu_temp >= 90 OR p_gpu_temp >= 87 THEN 'thermal'
    WHEN p_net_mb_s >= 110 THEN 'network'  -- ≈ a saturated 1 GbE link
  END
$$;

-- Recompute the summaries of type p_period for the periods overlapping [p_from, p_to). Idempotent.
CREATE FUNCTION sru_refresh_summaries(p_period text, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_from timestamptz;
  v_to timestamptz;
  n integer;
BEGIN
  IF sru_period_unit(p_period) IS NULL THEN
    RAISE EXCEPTION 'unknown period type %', p_period USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
    RETURN 0;
  END IF;
  v_from := sru_period_floor(p_period, p_from);
  v_to := sru_period_floor(p_period, p_to);
  IF v_to < p_to THEN
    v_to := v_to + sru_period_length(p_period);
  END IF;
  INSERT INTO performance_summaries AS t (
    system_id, period_type, period_start, period_end, sample_count,
    avg_cpu_percent, p95_cpu_percent, max_cpu_percent, avg_ram_percent, p95_ram_percent, max_ram_percent,
    avg_swap_percent, p95_swap_percent, max_swap_percent,
    avg_gpu_utilization, p95_gpu_utilization, max_gpu_utilization,
    avg_gpu_memory_percent, p95_gpu_memory_percent, max_gpu_memory_percent,
    avg_disk_io_wait_percent, p95_disk_io_wait_percent, max_disk_io_wait_percent,
    avg_disk_read_mb_s, p95_disk_read_mb_s, max_disk_read_mb_s,
    avg_disk_write_mb_s, p95_disk_write_mb_s, max_disk_write_mb_s,
    avg_net_sent_mb_s, p95_net_sent_mb_s, max_net_sent_mb_s,
    avg_net_recv_mb_s, p95_net_recv_mb_s, max_net_recv_mb_s,
    avg_cpu_temp, max_cpu_temp, avg_gpu_temp, max_gpu_temp, avg_load_1m, max_load_1m,
    is_underutilized, is_overutilized, has_bottleneck, bottleneck_type, utilization_score, computed_at)
  SELECT s.system_id, p_period, s.period_start, s.period_end, s.sample_count,
         s.avg_cpu_percent, s.p95_cpu_percent, s.max_cpu_percent,
         s.avg_ram_percent, s.p95_ram_percent, s.max_ram_percent,
         s.avg_swap_percent, s.p95_swap_percent, s.max_swap_percent,
         s.avg_gpu_utilization, s.p95_gpu_utilization, s.max_gpu_utilization,
         s.avg_gpu_memory_percent, s.p95_gpu_memory_percent, s.max_gpu_memory_percent,
         s.avg_disk_io_wait_percent, s.p95_disk_io_wait_percent, s.max_disk_io_wait_percent,
         s.avg_disk_read_mb_s, s.p95_disk_read_mb_s, s.max_disk_read_mb_s,
         s.avg_disk_write_mb_s, s.p95_disk_write_mb_s, s.max_disk_write_mb_s,
         s.avg_net_sent_mb_s, s.p95_net_sent_mb_s, s.max_net_sent_mb_s,
         s.avg_net_recv_mb_s, s.p95_net_recv_mb_s, s.max_net_recv_mb_s,
         s.avg_cpu_temp, s.max_cpu_temp, s.avg_gpu_temp, s.max_gpu_temp, s.avg_load_1m, s.max_load_1m,
         -- Under-utilised: little CPU, RAM and GPU even at the 95th percentile.
         coalesce(s.u_cpu < 20 AND s.u_ram < 30 AND coalesce(s.u_gpu, 0) < 20, false),
         -- Over-utilised: some resource at 90 % or more at the 95th percentile.
         coalesce(greatest(s.u_cpu, s.u_ram, s.u_gpu, s.u_gpu_mem) >= 90, false),
         s.bottleneck IS NOT NULL, s.bottleneck,
         calculate_utilization_score(s.u_cpu, s.u_ram, s.u_gpu),
         now()
    FROM (SELECT src.*,
                 -- p95 where the source has one (the full tier's hourly periods have none: use max).
                 coalesce(src.p95_cpu_percent, src.max_cpu_percent) AS u_cpu,
                 coalesce(src.p95_ram_percent, src.max_ram_percent) AS u_ram,
                 coalesce(src.p95_gpu_utilization, src.max_gpu_utilization) AS u_gpu,
                 coalesce(src.p95_gpu_memory_percent, src.max_gpu_memory_percent) AS u_gpu_mem,
                 detect_bottleneck(coalesce(src.p95_cpu_percent, src.max_cpu_percent),
                                   coalesce(src.p95_ram_percent, src.max_ram_percent),
                                   coalesce(src.p95_swap_percent, src.max_swap_percent),
                                   coalesce(src.p95_gpu_utilization, src.max_gpu_utilization),
                                   coalesce(src.p95_gpu_memory_percent, src.max_gpu_memory_percent),
                                   coalesce(src.p95_disk_io_wait_percent, src.max_disk_io_wait_percent),
                                   src.max_cpu_temp, src.max_gpu_temp,
                                   coalesce(src.p95_net_sent_mb_s, src.max_net_sent_mb_s)
                                     + coalesce(src.p95_net_recv_mb_s, src.max_net_recv_mb_s)) AS bottleneck
            FROM sru_summary_source(p_period, v_from, v_to) src) s
  ON CONFLICT (system_id, period_type, period_start) DO UPDATE SET
    period_end = EXCLUDED.period_end, sample_count = EXCLUDED.sample_count,
    avg_cpu_percent = EXCLUDED.avg_cpu_percent, p95_cpu_percent = EXCLUDED.p95_cpu_percent,
    max_cpu_percent = EXCLUDED.max_cpu_percent, avg_ram_percent = EXCLUDED.avg_ram_percent,
    p95_ram_percent = EXCLUDED.p95_ram_percent, max_ram_percent = EXCLUDED.max_ram_percent,
    avg_swap_percent = EXCLUDED.avg_swap_percent, p95_swap_percent = EXCLUDED.p95_swap_percent,
    max_swap_percent = EXCLUDED.max_swap_percent, avg_gpu_utilization = EXCLUDED.avg_gpu_utilization,
    p95_gpu_utilization = EXCLUDED.p95_gpu_utilization, max_gpu_utilization = EXCLUDED.max_gpu_utilization,
    avg_gpu_memory_percent = EXCLUDED.avg_gpu_memory_percent,
    p95_gpu_memory_percent = EXCLUDED.p95_gpu_memory_percent,
    max_gpu_memory_percent = EXCLUDED.max_gpu_memory_percent,
    avg_disk_io_wait_percent = EXCLUDED.avg_disk_io_wait_percent,
    p95_disk_io_wait_percent = EXCLUDED.p95_disk_io_wait_percent,
    max_disk_io_wait_percent = EXCLUDED.max_disk_io_wait_percent,
    avg_disk_read_mb_s = EXCLUDED.avg_disk_read_mb_s, p95_disk_read_mb_s = EXCLUDED.p95_disk_read_mb_s,
    max_disk_read_mb_s = EXCLUDED.max_disk_read_mb_s, avg_disk_write_mb_s = EXCLUDED.avg_disk_write_mb_s,
    p95_disk_write_mb_s = EXCLUDED.p95_disk_write_mb_s, max_disk_write_mb_s = EXCLUDED.max_disk_write_mb_s,
    avg_net_sent_mb_s = EXCLUDED.avg_net_sent_mb_s, p95_net_sent_mb_s = EXCLUDED.p95_net_sent_mb_s,
    max_net_sent_mb_s = EXCLUDED.max_net_sent_mb_s, avg_net_recv_mb_s = EXCLUDED.avg_net_recv_mb_s,
    p95_net_recv_mb_s = EXCLUDED.p95_net_recv_mb_s, max_net_recv_mb_s = EXCLUDED.max_net_recv_mb_s,
    avg_cpu_temp = EXCLUDED.avg_cpu_temp, max_cpu_temp = EXCLUDED.max_cpu_temp,
    avg_gpu_temp = EXCLUDED.avg_gpu_temp, max_gpu_temp = EXCLUDED.max_gpu_temp,
    avg_load_1m = EXCLUDED.avg_load_1m, max_load_1m = EXCLUDED.max_load_1m,
    is_underutilized = EXCLUDED.is_underutilized, is_overutilized = EXCLUDED.is_overutilized,
    has_bottleneck = EXCLUDED.has_bottleneck, bottleneck_type = EXCLUDED.bottleneck_type,
    utilization_score = EXCLUDED.utilization_score, computed_at = EXCLUDED.computed_at;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- A writer (backfill, demo data, a replayed outage) declares the summaries from p_from on stale.
CREATE FUNCTION mark_summaries_stale(p_from timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  UPDATE sru_optimizer_state SET value = least(coalesce(value, p_from), p_from)
   WHERE key = 'summaries_stale_from' AND p_from IS NOT NULL
$$;

-- After a refresh of [p_from, p_through]: advance the watermark, and clear the stale mark when the
-- refresh started at or before it (a mark set meanwhile for an earlier time survives).
CREATE FUNCTION sru_finish_summary_refresh(p_from timestamptz, p_through timestamptz) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  UPDATE sru_optimizer_state SET value = greatest(value, p_through)
   WHERE key = 'summaries_through' AND p_through IS NOT NULL AND value IS NOT NULL;
  UPDATE sru_optimizer_state SET value = p_through
   WHERE key = 'summaries_through' AND p_through IS NOT NULL AND value IS NULL;
  UPDATE sru_optimizer_state SET value = NULL
   WHERE key = 'summaries_stale_from' AND value >= p_from;
$$;

-- The design's daily job: (re)compute the daily summaries of one UTC day for every host and return
-- them with the host names.
CREATE FUNCTION generate_daily_summary(p_day date DEFAULT ((now() AT TIME ZONE 'UTC')::date - 1))
RETURNS TABLE (system_id uuid, hostname text, period_start timestamptz, sample_count integer,
               avg_cpu_percent double precision, p95_cpu_percent double precision,
               avg_ram_percent double precision, p95_ram_percent double precision,
               p95_gpu_utilization double precision, p95_disk_io_wait_percent double precision,
               is_underutilized boolean, is_overutilized boolean, bottleneck_type text,
               utilization_score double precision)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_from timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
BEGIN
  PERFORM sru_refresh_summaries('daily', v_from, v_from + INTERVAL '1 day');
  RETURN QUERY
  SELECT p.system_id, s.hostname, p.period_start, p.sample_count, p.avg_cpu_percent, p.p95_cpu_percent,
         p.avg_ram_percent, p.p95_ram_percent, p.p95_gpu_utilization, p.p95_disk_io_wait_percent,
         p.is_underutilized, p.is_overutilized, p.bottleneck_type, p.utilization_score
    FROM performance_summaries p JOIN systems s ON s.id = p.system_id
   WHERE p.period_type = 'daily' AND p.period_start = v_from
   ORDER BY s.hostname;
END $$;

-- Who uses what: per user over process snapshots since p_since (optionally on one host), ranked by
-- p_resource: 'cpu' (mean CPU %, 100 = one core), 'memory' (peak MiB) or 'gpu_memory' (peak MiB).
CREATE FUNCTION get_top_resource_consumers(p_resource text DEFAULT 'cpu',
                                           p_since timestamptz DEFAULT now() - INTERVAL '7 days',
                                           p_limit integer DEFAULT 10, p_system_id uuid DEFAULT NULL)
RETURNS TABLE (username text, hosts text[], samples bigint, avg_cpu_percent double precision,
               max_cpu_percent double precision, avg_memory_mb double precision,
               max_memory_mb double precision, max_gpu_memory_mb double precision)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
BEGIN
  IF p_resource NOT IN ('cpu', 'memory', 'gpu_memory') THEN
    RAISE EXCEPTION 'p_resource must be cpu, memory or gpu_memory, not %', p_resource
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  WITH per_snapshot AS (  -- a user's processes add up within one snapshot
    SELECT ps.username, ps.system_id, ps."timestamp", sum(ps.cpu_percent) AS cpu,
           sum(ps.memory_mb) AS mem, sum(ps.gpu_memory_mb) AS gpu_mem
      FROM process_snapshots ps
     WHERE ps."timestamp" >= p_since AND (p_system_id IS NULL OR ps.system_id = p_system_id)
       AND ps.username IS NOT NULL AND ps.username <> 'root'
     GROUP BY 1, 2, 3
  )
  SELECT u.username, array_agg(DISTINCT s.hostname ORDER BY s.hostname), count(*), avg(u.cpu), max(u.cpu),
         avg(u.mem), max(u.mem), max(u.gpu_mem)
    FROM per_snapshot u JOIN systems s ON s.id = u.system_id
   GROUP BY u.username
   ORDER BY CASE p_resource WHEN 'cpu' THEN avg(u.cpu) WHEN 'memory' THEN max(u.mem)
                            ELSE coalesce(max(u.gpu_mem), 0) END DESC NULLS LAST, u.username
   LIMIT greatest(p_limit, 0);
END $$;

-- Anomalies found by `sru optimize`, as alert_logs rows of the sru_anomaly_* rules: one row per
-- host, metric, kind and hour, so re-runs update instead of adding. p_rows is a JSON array of
-- {system_id, kind, metric, triggered_at, value, threshold, score, severity, baseline}.
CREATE FUNCTION record_anomalies(p_rows jsonb) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  n integer;
BEGIN
  IF jsonb_typeof(p_rows) <> 'array' THEN
    RAISE EXCEPTION 'p_rows must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF jsonb_array_length(p_rows) > 50000 THEN
    RAISE EXCEPTION 'at most 50000 anomalies per call' USING ERRCODE = 'program_limit_exceeded';
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_rows) e
              WHERE e ->> 'kind' NOT IN ('seasonal_zscore', 'threshold', 'spike')
                 OR e ->> 'metric' NOT IN ('cpu_percent', 'ram_percent', 'swap_percent', 'gpu_utilization',
                                           'gpu_memory_percent', 'disk_io_wait_percent', 'cpu_temp',
                                           'gpu_temp')
                 OR (e ->> 'system_id') IS NULL OR (e ->> 'triggered_at') IS NULL) THEN
    RAISE EXCEPTION 'anomaly rows need system_id, triggered_at, a known kind and a known metric'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO alert_logs AS a (rule_id, system_id, alert_name, fingerprint, triggered_at, resolved_at,
                               metric_name, actual_value, threshold_value, severity, labels, annotations)
  SELECT r.id, (e ->> 'system_id')::uuid, 'SruAnomaly' || replace(initcap(replace(e ->> 'kind', '_', ' ')), ' ', ''),
         md5('sru-optimizer|' || (e ->> 'kind') || '|' || (e ->> 'system_id') || '|' || (e ->> 'metric')),
         (e ->> 'triggered_at')::timestamptz, (e ->> 'triggered_at')::timestamptz + INTERVAL '1 hour',
         e ->> 'metric', (e ->> 'value')::double precision, (e ->> 'threshold')::double precision,
         coalesce(e ->> 'severity', 'warning'),
         jsonb_build_object('source', 'sru-optimizer', 'kind', e ->> 'kind', 'metric', e ->> 'metric',
                            'hostname', s.hostname),
         jsonb_build_object('summary', format('%s: %s %s at %s (%s)', s.hostname, e ->> 'metric',
                                              round((e ->> 'value')::numeric, 1), e ->> 'triggered_at',
                                              replace(e ->> 'kind', '_', ' ')),
                            'score', e -> 'score', 'baseline', coalesce(e -> 'baseline', '{}'::jsonb))
    FROM jsonb_array_elements(p_rows) e
    JOIN systems s ON s.id = (e ->> 'system_id')::uuid
    LEFT JOIN alert_rules r ON r.name = 'sru_anomaly_' || (e ->> 'kind')
  ON CONFLICT (fingerprint, triggered_at) DO UPDATE SET
    actual_value = EXCLUDED.actual_value, threshold_value = EXCLUDED.threshold_value,
    severity = EXCLUDED.severity, annotations = EXCLUDED.annotations
    WHERE (a.actual_value, a.threshold_value, a.severity, a.annotations)
          IS DISTINCT FROM (EXCLUDED.actual_value, EXCLUDED.threshold_value, EXCLUDED.severity,
                            EXCLUDED.annotations);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- Store a recommendation unless an equivalent one (same host, type and recommendations->>'kind') is
-- pending (its evidence is refreshed), approved (being acted on) or was rejected in the last 30 days.
CREATE FUNCTION create_optimization_report(p_system_id uuid, p_report_type text, p_severity text,
                                           p_priority integer, p_title text, p_recommendations jsonb)
RETURNS TABLE (id uuid, created boolean, status text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_kind text := p_recommendations ->> 'kind';
  v optimization_reports%ROWTYPE;
BEGIN
  IF v_kind IS NULL OR jsonb_typeof(p_recommendations) <> 'object' THEN
    RAISE EXCEPTION 'recommendations must be a JSON object with a "kind"' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(p_recommendations::text) > 100000 OR length(p_title) > 500 THEN
    RAISE EXCEPTION 'report too large' USING ERRCODE = 'program_limit_exceeded';
  END IF;
  -- Serialise concurrent optimizer runs on the same recommendation.
  PERFORM pg_advisory_xact_lock(hashtextextended(coalesce(p_system_id::text, '') || '|' || p_report_type
                                                 || '|' || v_kind, 0));
  SELECT r.* INTO v FROM optimization_reports r
   WHERE r.system_id IS NOT DISTINCT FROM p_system_id AND r.report_type = p_report_type
     AND r.recommendations ->> 'kind' = v_kind
     AND (r.status IN ('pending', 'approved')
          OR (r.status = 'rejected' AND r.status_changed_at > now() - INTERVAL '30 days'))
   ORDER BY r.status = 'pending' DESC, r.created_at DESC
   LIMIT 1;
  IF FOUND THEN
    IF v.status = 'pending' THEN
      UPDATE optimization_reports r
         SET severity = p_severity, priority_score = p_priority, title = p_title,
             recommendations = p_recommendations
       WHERE r.id = v.id;
    END IF;
    RETURN QUERY SELECT v.id, false, v.status;
    RETURN;
  END IF;
  RETURN QUERY
  INSERT INTO optimization_reports AS r (system_id, report_type, severity, priority_score, title, recommendations)
  VALUES (p_system_id, p_report_type, p_severity, p_priority, p_title, p_recommendations)
  RETURNING r.id, true, r.status;
END $$;

-- The workflow step of `sru reports approve|reject|implement`; the trigger on optimization_reports
-- refuses invalid transitions and records the event.
CREATE FUNCTION transition_optimization_report(p_id uuid, p_status text, p_actor text, p_note text DEFAULT NULL)
RETURNS SETOF optimization_reports
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF p_actor IS NULL OR btrim(p_actor) = '' OR length(p_actor) > 200 THEN
    RAISE EXCEPTION 'the actor must be named (1-200 characters)' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('sru.workflow_note', coalesce(left(p_note, 2000), ''), true);
  RETURN QUERY
  UPDATE optimization_reports r SET status = p_status, status_changed_by = p_actor
   WHERE r.id = p_id RETURNING r.*;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no optimization report %', p_id USING ERRCODE = 'no_data_found';
  END IF;
  PERFORM set_config('sru.workflow_note', '', true);
END $$;

GRANT EXECUTE ON FUNCTION calculate_utilization_score(double precision, double precision, double precision),
  detect_bottleneck(double precision, double precision, double precision, double precision, double precision,
                    double precision, double precision, double precision, double precision),
  get_top_resource_consumers(text, timestamptz, integer, uuid)
  TO admin, analyst, dashboard_readonly;
GRANT EXECUTE ON FUNCTION sru_refresh_summaries(text, timestamptz, timestamptz),
  sru_finish_summary_refresh(timestamptz, timestamptz), generate_daily_summary(date),
  record_anomalies(jsonb),
  create_optimization_report(uuid, text, text, integer, text, jsonb),
  transition_optimization_report(uuid, text, text, text)
  TO admin, analyst;
GRANT EXECUTE ON FUNCTION mark_summaries_stale(timestamptz) TO admin, analyst, data_collector;
