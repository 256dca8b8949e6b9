-- Hardware recommendations from the summaries of the last p_window (complete UTC days before p_now).
-- Judged like right-sizing tools do: high percentiles over a history window against fixed limits
-- (sru_thresholds(), R__sru_thresholds.sql), plus the share of days a limit was hit, so one busy day
-- does not buy hardware. One row per recommendation; a host with too few days of data gets one
-- 'not_enough_data' row (report_type NULL) instead of a guess. `sru optimize` adds forecasts to the
-- evidence and stores the rows with create_optimization_report().
-- History: 034_recommendations (the limits as literals); this file is the definition in force.
CREATE OR REPLACE FUNCTION generate_hardware_recommendations(p_window interval DEFAULT INTERVAL '30 days',
                                                  p_now timestamptz DEFAULT now())
RETURNS TABLE (system_id uuid, hostname text, report_type text, kind text, severity text,
               priority_score integer, title text, evidence jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  v_to timestamptz := sru_period_floor('daily', p_now);
  v_from timestamptz := sru_period_floor('daily', p_now - p_window);
  -- The limits, read once per call (R__sru_thresholds.sql).
  c_min_days constant integer := sru_threshold('min_days')::integer;
  c_hot_share constant double precision := sru_threshold('hot_share');
  c_idle_share constant double precision := sru_threshold('idle_share');
  c_cpu constant double precision := sru_threshold('cpu_percent');
  c_ram constant double precision := sru_threshold('ram_percent');
  c_swap constant double precision := sru_threshold('swap_percent');
  c_gpu constant double precision := sru_threshold('gpu_utilization');
  c_gpu_mem constant double precision := sru_threshold('gpu_memory_percent');
  c_io constant double precision := sru_threshold('disk_io_wait_percent');
  c_target constant double precision := sru_threshold('sizing_target_percent');
BEGIN
  RETURN QUERY
  WITH d AS (
    SELECT p.*, extract(epoch FROM p.period_start) / 86400.0 AS day_no
      FROM performance_summaries p
     WHERE p.period_type = 'daily' AND p.period_start >= v_from AND p.period_start < v_to
       AND p.sample_count > 0
  ), ds AS (
    SELECT d.system_id, count(*)::integer AS days, min(d.period_start) AS first_day, max(d.period_end) AS last_day,
           avg((d.p95_cpu_percent >= c_cpu)::int) AS cpu_hot, avg((d.p95_ram_percent >= c_ram)::int) AS ram_hot,
           avg((d.p95_swap_percent >= c_swap)::int) AS swap_hot, avg((d.p95_gpu_utilization >= c_gpu)::int) AS gpu_hot,
           avg((d.p95_gpu_memory_percent >= c_gpu_mem)::int) AS gpu_mem_hot,
           avg((d.p95_disk_io_wait_percent >= c_io)::int) AS io_hot, avg(d.is_underutilized::int) AS idle_share,
           avg(d.utilization_score) AS score,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.p95_cpu_percent) AS cpu_p95,
           max(d.max_cpu_percent) AS cpu_max, avg(d.avg_cpu_percent) AS cpu_avg,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.p95_ram_percent) AS ram_p95,
           max(d.max_ram_percent) AS ram_max, avg(d.avg_ram_percent) AS ram_avg,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.p95_swap_percent) AS swap_p95,
           max(d.max_swap_percent) AS swap_max,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.p95_gpu_utilization) AS gpu_p95,
           avg(d.avg_gpu_utilization) AS gpu_avg,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.p95_gpu_memory_percent) AS gpu_mem_p95,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.p95_disk_io_wait_percent) AS io_p95,
           avg(d.avg_disk_io_wait_percent) AS io_avg,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.p95_disk_read_mb_s) AS read_p95,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.p95_disk_write_mb_s) AS write_p95,
           regr_slope(d.avg_ram_percent, d.day_no) AS ram_slope, regr_r2(d.avg_ram_percent, d.day_no) AS ram_r2,
           regr_intercept(d.avg_ram_percent, d.day_no) AS ram_icpt,
           max(d.day_no) AS last_day_no
      FROM d GROUP BY d.system_id
  ), hw AS (  -- GPU use in and out of working hours (08-19 UTC, Monday-Friday), from hourly rollups
    SELECT h.system_id,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_gpu_utilization)
             FILTER (WHERE extract(isodow FROM h.bucket AT TIME ZONE 'UTC') < 6 AND extract(hour FROM h.bucket AT TIME ZONE 'UTC') BETWEEN 8 AND 18)
             AS gpu_work_p95,
           avg(h.avg_gpu_utilization)
             FILTER (WHERE NOT (extract(isodow FROM h.bucket AT TIME ZONE 'UTC') < 6 AND extract(hour FROM h.bucket AT TIME ZONE 'UTC') BETWEEN 8 AND 18))
             AS gpu_off_avg
      FROM hourly_performance_stats h
     WHERE h.bucket >= v_from AND h.bucket < v_to AND h.avg_gpu_utilization IS NOT NULL
     GROUP BY h.system_id
  ), s AS (
    SELECT sy.id AS sid, sy.hostname AS host, sy.cpu_cores, sy.ram_total_gb, sy.gpu_count, sy.gpu_model,
           coalesce(ds.days, 0) AS ndays, ds.*, hw.gpu_work_p95, hw.gpu_off_avg,
           jsonb_build_object('from', v_from, 'to', v_to, 'days_with_data', coalesce(ds.days, 0)) AS win
      FROM systems sy LEFT JOIN ds ON ds.system_id = sy.id LEFT JOIN hw ON hw.system_id = sy.id
     WHERE sy.status <> 'retired'
  ), ok AS (SELECT * FROM s WHERE s.ndays >= c_min_days),
  idle AS (  -- hosts that could take work
    SELECT coalesce(jsonb_agg(jsonb_build_object('hostname', ok.host, 'cpu_cores', ok.cpu_cores,
                                                 'ram_total_gb', ok.ram_total_gb, 'gpu_count', ok.gpu_count,
                                                 'p95_cpu_percent', round(ok.cpu_p95::numeric, 1))
                              ORDER BY ok.cpu_p95) , '[]'::jsonb) AS all_idle,
           coalesce(jsonb_agg(jsonb_build_object('hostname', ok.host, 'gpu_count', ok.gpu_count,
                                                 'gpu_model', ok.gpu_model,
                                                 'p95_gpu_utilization', round(ok.gpu_p95::numeric, 1))
                              ORDER BY ok.gpu_p95) FILTER (WHERE ok.gpu_count > 0), '[]'::jsonb) AS gpu_idle
      FROM ok WHERE ok.idle_share >= c_idle_share
  ), hot AS (
    SELECT coalesce(jsonb_agg(ok.host ORDER BY ok.host), '[]'::jsonb) AS hosts
      FROM ok WHERE greatest(ok.cpu_hot, ok.gpu_hot, ok.ram_hot) >= c_hot_share
  ), r AS (
    SELECT s.sid, s.host, NULL::text AS rtype, 'not_enough_data' AS rkind, 'low' AS sev, 1 AS prio,
           format('%s: not enough data (%s of %s days needed)', s.host, s.ndays, c_min_days) AS ttl,
           jsonb_build_object('window', s.win, 'needed_days', c_min_days) AS ev
      FROM s WHERE s.ndays < c_min_days
    UNION ALL
    -- RAM: the limit hit and swapping on many days.
    SELECT ok.sid, ok.host, 'hardware_upgrade', 'ram',
           CASE WHEN ok.swap_max >= 80 AND greatest(ok.ram_hot, ok.swap_hot) >= 0.6 THEN 'critical'
                WHEN greatest(ok.ram_hot, ok.swap_hot) >= 0.5 THEN 'high' ELSE 'medium' END,
           least(10, 5 + round(greatest(ok.ram_hot, ok.swap_hot) * 4)::int + (ok.swap_p95 >= 30)::int),
           format('%s: add RAM (%s GiB → %s GiB): p95 RAM %s%%, swap p95 %s%%', ok.host, ok.ram_total_gb,
                  sru_next_power_of_two(ok.ram_total_gb * ok.ram_p95 / c_target), round(ok.ram_p95::numeric),
                  round(ok.swap_p95::numeric)),
           jsonb_build_object('metric', 'ram_percent', 'window', ok.win, 'threshold', c_ram, 'swap_threshold', c_swap,
             'percentiles', jsonb_build_object('avg', round(ok.ram_avg::numeric, 1), 'p95', round(ok.ram_p95::numeric, 1),
                                               'max', round(ok.ram_max::numeric, 1)),
             'swap', jsonb_build_object('p95', round(ok.swap_p95::numeric, 1), 'max', round(ok.swap_max::numeric, 1)),
             'share_of_days_over', round(greatest(ok.ram_hot, ok.swap_hot)::numeric, 2),
             'hardware', jsonb_build_object('ram_total_gb', ok.ram_total_gb),
             'suggestion', jsonb_build_object('ram_total_gb', sru_next_power_of_two(ok.ram_total_gb * ok.ram_p95 / c_target)),
             'expected_effect', format('p95 RAM from %s%% to about %s%%; swapping stops', round(ok.ram_p95::numeric),
               round((ok.ram_p95 * ok.ram_total_gb / sru_next_power_of_two(ok.ram_total_gb * ok.ram_p95 / c_target))::numeric)))
      FROM ok WHERE ok.ram_hot >= c_hot_share AND ok.swap_hot >= c_hot_share AND ok.ram_total_gb > 0
    UNION ALL
    -- CPU: saturated on many days.
    SELECT ok.sid, ok.host, 'hardware_upgrade', 'cpu',
           CASE WHEN ok.cpu_hot >= 0.5 THEN 'high' ELSE 'medium' END,
           least(10, 4 + round(ok.cpu_hot * 4)::int),
           format('%s: more CPU cores (%s → %s): p95 CPU %s%% on %s%% of days', ok.host, ok.cpu_cores,
                  ceil(ok.cpu_cores * ok.cpu_p95 / c_target / 2) * 2, round(ok.cpu_p95::numeric),
                  round(100 * ok.cpu_hot::numeric)),
           jsonb_build_object('metric', 'cpu_percent', 'window', ok.win, 'threshold', c_cpu,
             'percentiles', jsonb_build_object('avg', round(ok.cpu_avg::numeric, 1), 'p95', round(ok.cpu_p95::numeric, 1),
                                               'max', round(ok.cpu_max::numeric, 1)),
             'share_of_days_over', round(ok.cpu_hot::numeric, 2),
             'hardware', jsonb_build_object('cpu_cores', ok.cpu_cores),
             'suggestion', jsonb_build_object('cpu_cores', ceil(ok.cpu_cores * ok.cpu_p95 / c_target / 2) * 2),
             'expected_effect', format('p95 CPU from %s%% to about %s%%', round(ok.cpu_p95::numeric), c_target))
      FROM ok WHERE ok.cpu_hot >= c_hot_share AND ok.cpu_cores > 0
    UNION ALL
    -- GPU saturated only in working hours: schedule batch work off-peak before buying.
    SELECT ok.sid, ok.host, 'configuration', 'off_peak_scheduling', 'medium',
           least(10, 4 + round(ok.gpu_hot * 3)::int),
           format('%s: move batch GPU jobs off-peak: p95 %s%% in working hours, %s%% average outside',
                  ok.host, round(ok.gpu_work_p95::numeric), round(ok.gpu_off_avg::numeric)),
           jsonb_build_object('metric', 'gpu_utilization', 'window', ok.win, 'threshold', c_gpu,
             'percentiles', jsonb_build_object('p95', round(ok.gpu_p95::numeric, 1),
                                               'working_hours_p95', round(ok.gpu_work_p95::numeric, 1),
                                               'off_hours_avg', round(ok.gpu_off_avg::numeric, 1)),
             'share_of_days_over', round(ok.gpu_hot::numeric, 2),
             'free_gpu_hours_per_week', round(((100 - ok.gpu_off_avg) / 100 * 108 * greatest(ok.gpu_count, 1))::numeric),
             'expected_effect', 'working-hours queueing ends without new hardware; nights and weekends absorb batch jobs')
      FROM ok WHERE ok.gpu_hot >= c_hot_share AND ok.gpu_off_avg < 30
    UNION ALL
    SELECT ok.sid, ok.host, 'hardware_upgrade', 'gpu', 'high', least(10, 5 + round(ok.gpu_hot * 4)::int),
           format('%s: add GPU capacity: p95 %s%% day and night', ok.host, round(ok.gpu_p95::numeric)),
           jsonb_build_object('metric', 'gpu_utilization', 'window', ok.win, 'threshold', c_gpu,
             'percentiles', jsonb_build_object('p95', round(ok.gpu_p95::numeric, 1), 'avg', round(ok.gpu_avg::numeric, 1),
                                               'off_hours_avg', round(ok.gpu_off_avg::numeric, 1)),
             'share_of_days_over', round(ok.gpu_hot::numeric, 2),
             'hardware', jsonb_build_object('gpu_count', ok.gpu_count, 'gpu_model', ok.gpu_model),
             'expected_effect', 'jobs stop queueing for the GPU')
      FROM ok WHERE ok.gpu_hot >= c_hot_share AND ok.gpu_off_avg >= 30
    UNION ALL
    SELECT ok.sid, ok.host, 'hardware_upgrade', 'gpu_memory', 'high', least(10, 5 + round(ok.gpu_mem_hot * 4)::int),
           format('%s: GPUs with more memory: p95 GPU memory %s%%', ok.host, round(ok.gpu_mem_p95::numeric)),
           jsonb_build_object('metric', 'gpu_memory_percent', 'window', ok.win, 'threshold', c_gpu_mem,
             'percentiles', jsonb_build_object('p95', round(ok.gpu_mem_p95::numeric, 1)),
             'share_of_days_over', round(ok.gpu_mem_hot::numeric, 2),
             'hardware', jsonb_build_object('gpu_count', ok.gpu_count, 'gpu_model', ok.gpu_model),
             'expected_effect', 'larger batches and models fit; no out-of-memory restarts')
      FROM ok WHERE ok.gpu_mem_hot >= c_hot_share
    UNION ALL
    -- Disk: processes wait for IO on many days.
    SELECT ok.sid, ok.host, 'hardware_upgrade', 'disk',
           CASE WHEN ok.io_hot >= 0.5 THEN 'high' ELSE 'medium' END, least(10, 4 + round(ok.io_hot * 4)::int),
           format('%s: faster storage (NVMe SSD): IO wait p95 %s%%, reads p95 %s MB/s', ok.host,
                  round(ok.io_p95::numeric), round(ok.read_p95::numeric)),
           jsonb_build_object('metric', 'disk_io_wait_percent', 'window', ok.win, 'threshold', c_io,
             'percentiles', jsonb_build_object('avg', round(ok.io_avg::numeric, 1), 'p95', round(ok.io_p95::numeric, 1)),
             'throughput_mb_s', jsonb_build_object('read_p95', round(ok.read_p95::numeric, 1),
                                                    'write_p95', round(ok.write_p95::numeric, 1)),
             'share_of_days_over', round(ok.io_hot::numeric, 2),
             'expected_effect', 'IO wait below 5 %; CPU time goes back to the jobs')
      FROM ok WHERE ok.io_hot >= c_hot_share AND NOT (ok.ram_hot >= c_hot_share AND ok.swap_hot >= c_hot_share)
    UNION ALL
    -- Swapping while RAM is not full: a swappiness problem, not a RAM one.
    SELECT ok.sid, ok.host, 'configuration', 'swap', 'medium', 4,
           format('%s: lower vm.swappiness: swap p95 %s%% with RAM p95 only %s%%', ok.host,
                  round(ok.swap_p95::numeric), round(ok.ram_p95::numeric)),
           jsonb_build_object('metric', 'swap_percent', 'window', ok.win, 'threshold', c_swap,
             'percentiles', jsonb_build_object('swap_p95', round(ok.swap_p95::numeric, 1), 'ram_p95', round(ok.ram_p95::numeric, 1)),
             'expected_effect', 'no swapping while RAM is free')
      FROM ok WHERE ok.swap_hot >= c_hot_share AND ok.ram_p95 < 80
    UNION ALL
    -- A steady rise of mean RAM use: a leak. The leaking process is named from process snapshots.
    SELECT ok.sid, ok.host, 'configuration', 'memory_leak',
           CASE WHEN f.days_to_90 <= 14 THEN 'high' WHEN f.days_to_90 <= 60 THEN 'medium' ELSE 'low' END,
           CASE WHEN f.days_to_90 <= 14 THEN 8 WHEN f.days_to_90 <= 60 THEN 6 ELSE 4 END,
           format('%s: memory leak%s: RAM +%s %%/day, %s %% in about %s days', ok.host,
                  coalesce(' in ' || (pr.top ->> 'name') || ' (pid ' || (pr.top ->> 'pid') || ')', ''),
                  round(ok.ram_slope::numeric, 2), c_ram, round(f.days_to_90::numeric)),
           jsonb_build_object('metric', 'ram_percent', 'window', ok.win, 'threshold', c_ram,
             'trend', jsonb_build_object('slope_percent_per_day', round(ok.ram_slope::numeric, 3),
                                         'r2', round(ok.ram_r2::numeric, 3),
                                         'days_to_threshold', round(f.days_to_90::numeric, 1)),
             'percentiles', jsonb_build_object('avg', round(ok.ram_avg::numeric, 1), 'p95', round(ok.ram_p95::numeric, 1)),
             'process', pr.top,
             'expected_effect', 'restart or fix the leaking process; RAM use returns to its baseline')
      FROM ok
      CROSS JOIN LATERAL (SELECT greatest(0, (c_ram - (ok.ram_icpt + ok.ram_slope * ok.last_day_no)) / ok.ram_slope)
                                   AS days_to_90) f
      LEFT JOIN LATERAL (
        SELECT jsonb_build_object('pid', g.pid, 'name', g.name, 'username', g.username,
                                  'growth_mb_per_day', round(g.slope::numeric, 1), 'memory_mb_now', round(g.mem::numeric),
                                  'r2', round(g.r2::numeric, 3)) AS top
          FROM (SELECT ps.pid, ps.name, ps.username,
                       regr_slope(ps.memory_mb, extract(epoch FROM ps."timestamp") / 86400.0) AS slope,
                       regr_r2(ps.memory_mb, extract(epoch FROM ps."timestamp") / 86400.0) AS r2,
                       max(ps.memory_mb) AS mem
                  FROM process_snapshots ps
                 WHERE ps.system_id = ok.sid AND ps."timestamp" >= v_from AND ps."timestamp" < p_now
                 GROUP BY 1, 2, 3 HAVING count(*) >= 24) g
         WHERE g.slope > 0 AND g.r2 >= 0.5
         ORDER BY g.slope DESC LIMIT 1) pr ON true
      WHERE ok.ndays >= 14 AND ok.ram_slope >= 0.3 AND ok.ram_r2 >= 0.6
    UNION ALL
    -- Saturated hosts whose work could move to idle ones.
    SELECT ok.sid, ok.host, 'reallocation', 'move_jobs', 'medium', 5,
           format('%s: move %s jobs of %s to %s', ok.host, CASE WHEN ok.gpu_hot >= c_hot_share THEN 'GPU' ELSE 'CPU' END,
                  coalesce((SELECT string_agg(t.username, ', ') FROM get_top_resource_consumers(
                             CASE WHEN ok.gpu_hot >= c_hot_share THEN 'gpu_memory' ELSE 'cpu' END, v_from, 2, ok.sid) t),
                           'its users'),
                  (SELECT string_agg(e ->> 'hostname', ', ') FROM jsonb_array_elements(tg.targets) e)),
           jsonb_build_object('metric', CASE WHEN ok.gpu_hot >= c_hot_share THEN 'gpu_utilization' ELSE 'cpu_percent' END,
             'window', ok.win,
             'percentiles', jsonb_build_object('cpu_p95', round(ok.cpu_p95::numeric, 1), 'gpu_p95', round(ok.gpu_p95::numeric, 1)),
             'share_of_days_over', round(greatest(ok.cpu_hot, ok.gpu_hot)::numeric, 2),
             'heavy_users', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) FROM get_top_resource_consumers(
                               CASE WHEN ok.gpu_hot >= c_hot_share THEN 'gpu_memory' ELSE 'cpu' END, v_from, 3, ok.sid) t),
             'targets', tg.targets,
             'expected_effect', 'the saturated host gets headroom and idle hardware earns its keep')
      FROM ok CROSS JOIN idle
      CROSS JOIN LATERAL (SELECT CASE WHEN ok.gpu_hot >= c_hot_share
                                      THEN (SELECT coalesce(jsonb_agg(e), '[]'::jsonb) FROM (SELECT e FROM jsonb_array_elements(idle.gpu_idle) e LIMIT 3) x)
                                      ELSE (SELECT coalesce(jsonb_agg(e), '[]'::jsonb) FROM (SELECT e FROM jsonb_array_elements(idle.all_idle) e LIMIT 3) x)
                                 END AS targets) tg
     WHERE (ok.cpu_hot >= c_hot_share OR ok.gpu_hot >= c_hot_share) AND jsonb_array_length(tg.targets) > 0
    UNION ALL
    -- Idle hosts: consolidate their users elsewhere and retire them, or give them the saturated hosts' jobs.
    SELECT ok.sid, ok.host, 'reallocation', 'consolidate', 'low', CASE WHEN jsonb_array_length(hot.hosts) > 0 THEN 4 ELSE 3 END,
           format('%s: idle on %s%% of days (p95 CPU %s%%, RAM %s%%%s): %s', ok.host, round(100 * ok.idle_share::numeric),
                  round(ok.cpu_p95::numeric), round(ok.ram_p95::numeric),
                  coalesce(', GPU ' || round(ok.gpu_p95::numeric) || '%', ''),
                  CASE WHEN jsonb_array_length(hot.hosts) > 0 THEN 'take jobs from saturated hosts, or retire'
                       ELSE 'consolidate its users and retire it' END),
           jsonb_build_object('metric', 'utilization_score', 'window', ok.win,
             'percentiles', jsonb_build_object('cpu_p95', round(ok.cpu_p95::numeric, 1), 'ram_p95', round(ok.ram_p95::numeric, 1),
                                               'gpu_p95', round(ok.gpu_p95::numeric, 1)),
             'share_of_days_idle', round(ok.idle_share::numeric, 2), 'utilization_score', round(ok.score::numeric, 1),
             'thresholds', jsonb_build_object('cpu_p95_below', 20, 'ram_p95_below', 30, 'gpu_p95_below', 20),
             'sessions_in_window', (SELECT count(*) FROM user_sessions us WHERE us.system_id = ok.sid
                                      AND us.login_time >= v_from AND us.login_time < p_now),
             'saturated_hosts', hot.hosts,
             'expected_effect', 'one less machine to power and maintain, or work moved where it waits less')
      FROM ok CROSS JOIN hot WHERE ok.idle_share >= c_idle_share
  )
  SELECT r.sid, r.host, r.rtype, r.rkind, r.sev, r.prio, r.ttl,
         r.ev || jsonb_build_object('evaluated_at', p_now)
    FROM r ORDER BY r.prio DESC, r.host, r.rkind;
END $$;

GRANT EXECUTE ON FUNCTION generate_hardware_recommendations(interval, timestamptz) TO admin, analyst;
