-- Recommendations that name a user (issue 19), with the evidence, in the shape of
-- generate_hardware_recommendations (`sru optimize` stores both with create_optimization_report()):
--
-- * gpu_idle_held: on a shared GPU host (two or more users in the window), a user held GPU memory
--   with near-zero utilisation (the exporter's gpus_idle_held) for longer than
--   sru_threshold('user_idle_held_hours') at a stretch in the last 7 days. Evidence: the longest
--   stretch (start, end, hours, GPUs, GPU memory), the idle-held GPU-hours of the 7 days, the host's
--   other users. A stretch is samples no more than 15 minutes apart.
-- * user_underuse: a host's main user (80 % or more of the users' CPU core-hours) whose p95 hourly
--   CPU cores and RAM both stayed under sru_threshold('user_underuse_percent') of the host over at
--   least sru_threshold('user_underuse_days') days of p_window: a smaller host would do, or the host
--   could be shared.
--
-- The kind carries the user (`gpu_idle_held:alice`), so each user's finding is its own report. These
-- rows name people where per-user figures are otherwise restricted (sql/README.md): a finding an
-- admin must act on carries the user, the host and the hours that justify it, nothing more.
CREATE OR REPLACE FUNCTION generate_user_recommendations(p_window interval DEFAULT INTERVAL '30 days',
                                                         p_now timestamptz DEFAULT now())
RETURNS TABLE (system_id uuid, hostname text, report_type text, kind text, severity text,
               priority_score integer, title text, evidence jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  v_idle_from timestamptz := p_now - INTERVAL '7 days';
  v_from timestamptz := p_now - p_window;
  c_held_hours constant double precision := sru_threshold('user_idle_held_hours');
  c_under constant double precision := sru_threshold('user_underuse_percent') / 100;
  c_under_days constant double precision := sru_threshold('user_underuse_days');
BEGIN
  RETURN QUERY
  WITH gpu_users AS (   -- real users per GPU host in the last 7 days (hourly rollups: cheap)
    SELECT h.system_id, array_agg(DISTINCT u.username ORDER BY u.username) AS names
      FROM user_usage_hourly h
      JOIN systems s ON s.id = h.system_id AND s.gpu_count > 0 AND s.status <> 'retired'
      JOIN users u ON u.id = h.user_id AND u.username NOT IN ('system', 'other')
     WHERE h.bucket >= date_trunc('hour', v_idle_from) AND h.bucket < p_now
     GROUP BY h.system_id HAVING count(DISTINCT h.user_id) >= 2
  ), held AS (
    SELECT m.system_id, m.user_id, m."timestamp" AS t, m.gpus_idle_held, m.gpu_memory_gb,
           m."timestamp" - lag(m."timestamp") OVER w AS gap
      FROM user_usage_metrics m JOIN gpu_users g ON g.system_id = m.system_id
     WHERE m."timestamp" >= v_idle_from AND m."timestamp" < p_now AND m.gpus_idle_held >= 0.5
    WINDOW w AS (PARTITION BY m.system_id, m.user_id ORDER BY m."timestamp")
  ), runs AS (
    SELECT held.*, sum(CASE WHEN held.gap IS NULL OR held.gap > INTERVAL '15 minutes' THEN 1 ELSE 0 END)
                     OVER (PARTITION BY held.system_id, held.user_id ORDER BY t) AS run,
           -- the gaps inside a stretch; the one before its first sample is the pause before it
           CASE WHEN held.gap <= INTERVAL '15 minutes' THEN held.gap END AS step
      FROM held
  ), stretches AS (
    -- a stretch lasts from its first sample to one step (the median gap) after its last; a stretch
    -- of one sample lasts nothing
    SELECT r.system_id, r.user_id, r.run, min(r.t) AS started,
           max(r.t) + coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY r.step), INTERVAL '0') AS ended,
           max(r.gpus_idle_held) AS gpus, max(r.gpu_memory_gb) AS memory_gb,
           sum(r.gpus_idle_held) * extract(epoch FROM coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY r.step),
                                                              INTERVAL '0')) / 3600 AS gpu_hours
      FROM runs r GROUP BY r.system_id, r.user_id, r.run
  ), per_user AS (
    SELECT DISTINCT ON (st.system_id, st.user_id) st.system_id, st.user_id, st.started, st.ended, st.gpus,
           st.memory_gb, extract(epoch FROM st.ended - st.started) / 3600 AS hours,
           sum(st.gpu_hours) OVER (PARTITION BY st.system_id, st.user_id) AS week_gpu_hours,
           count(*) OVER (PARTITION BY st.system_id, st.user_id) AS stretches
      FROM stretches st
     ORDER BY st.system_id, st.user_id, st.ended - st.started DESC
  ), idle_held AS (
    SELECT p.system_id, s.hostname, 'reallocation'::text, 'gpu_idle_held:' || u.username,
           CASE WHEN p.hours >= 8 THEN 'high' ELSE 'medium' END, CASE WHEN p.hours >= 8 THEN 7 ELSE 6 END,
           format('%s: %s held %s GPU(s) idle for %s h (%s to %s UTC): release them for the host''s other users',
                  s.hostname, u.username, round(p.gpus::numeric, 1), round(p.hours::numeric, 1),
                  to_char(p.started AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                  to_char(p.ended AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')),
           jsonb_build_object('user', u.username, 'department', coalesce(u.department, 'unassigned'),
             'metric', 'gpus_idle_held', 'window', jsonb_build_object('from', v_idle_from, 'to', p_now),
             'longest_stretch', jsonb_build_object('from', p.started, 'to', p.ended, 'hours', round(p.hours::numeric, 2),
                                                   'gpus', p.gpus, 'gpu_memory_gb', round(p.memory_gb::numeric, 2)),
             'stretches_over_threshold', p.stretches, 'idle_held_gpu_hours_7d', round(p.week_gpu_hours::numeric, 2),
             'threshold_hours', c_held_hours, 'other_users', to_jsonb(array_remove(g.names, u.username)),
             'gpu_count', s.gpu_count,
             'expected_effect', 'the GPUs held idle become free for the host''s other users')
      FROM per_user p
      JOIN systems s ON s.id = p.system_id
      JOIN users u ON u.id = p.user_id
      JOIN gpu_users g ON g.system_id = p.system_id
     WHERE p.hours > c_held_hours
  ), hourly AS (   -- the users' hourly mean cores and RAM over the window
    SELECT h.system_id, h.user_id, h.bucket, h.cpu_cores / b.samples AS cores, h.ram_gb / b.samples AS ram_gb,
           h.cpu_cores * coalesce(b.span_s / nullif(b.intervals, 0), 3600.0) / 3600 AS core_hours
      FROM user_usage_hourly h
      JOIN user_usage_host_hourly b ON b.system_id = h.system_id AND b.bucket = h.bucket
      JOIN users u ON u.id = h.user_id AND u.username NOT IN ('system', 'other')
     WHERE h.bucket >= v_from AND h.bucket < p_now AND b.samples > 0
  ), shares AS (
    SELECT x.system_id, x.user_id, count(DISTINCT date_trunc('day', x.bucket)) AS days,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY x.cores) AS cores_p95,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY x.ram_gb) AS ram_p95,
           sum(x.core_hours) AS core_hours,
           sum(x.core_hours) / nullif(sum(sum(x.core_hours)) OVER (PARTITION BY x.system_id), 0) AS share
      FROM hourly x GROUP BY x.system_id, x.user_id
  ), underuse AS (
    SELECT sh.system_id, s.hostname, 'reallocation'::text, 'user_underuse:' || u.username, 'low', 3,
           format('%s: its main user %s used %s%% of its %s cores and %s%% of its %s GB RAM (p95 of hours, %s days): '
                  'a smaller host would do, or share %s',
                  s.hostname, u.username, round((100 * sh.cores_p95 / s.cpu_cores)::numeric),
                  s.cpu_cores, round((100 * sh.ram_p95 / s.ram_total_gb)::numeric), round(s.ram_total_gb::numeric),
                  sh.days, s.hostname),
           jsonb_build_object('user', u.username, 'department', coalesce(u.department, 'unassigned'),
             'metric', 'user_cpu_cores', 'window', jsonb_build_object('from', v_from, 'to', p_now),
             'days_used', sh.days, 'cpu_cores_p95', round(sh.cores_p95::numeric, 2),
             'ram_gb_p95', round(sh.ram_p95::numeric, 2), 'host_cpu_cores', s.cpu_cores,
             'host_ram_gb', s.ram_total_gb, 'share_of_users_core_hours', round(sh.share::numeric, 2),
             'threshold_percent', 100 * c_under, 'threshold_days', c_under_days,
             'expected_effect', 'the host''s capacity goes to work that needs it')
      FROM shares sh
      JOIN systems s ON s.id = sh.system_id AND s.status <> 'retired'
      JOIN users u ON u.id = sh.user_id
     WHERE sh.days >= c_under_days AND sh.share >= 0.8 AND s.cpu_cores >= 4 AND s.ram_total_gb > 0
       AND sh.cores_p95 < c_under * s.cpu_cores AND sh.ram_p95 < c_under * s.ram_total_gb
  )
  SELECT r.*  FROM (SELECT * FROM idle_held UNION ALL SELECT * FROM underuse) r
   ORDER BY 6 DESC, 2, 4;
END $$;
GRANT EXECUTE ON FUNCTION generate_user_recommendations(interval, timestamptz) TO admin, analyst;
