-- The limits the optimizer judges hosts against, in one place that SQL and Python both read: the
-- summaries' flags and bottleneck (sru_refresh_summaries, detect_bottleneck), the recommendations
-- (generate_hardware_recommendations), and in Python the forecasts, the report and the anomaly
-- detector (optimizer/thresholds.py; tests and bench/anomalies read this file's defaults the same
-- way, see thresholds.shipped()). Change a value here and `sru db migrate` re-applies this file;
-- nothing else holds a copy. Names are lower_snake_case; each value is on the line of its name.
CREATE OR REPLACE FUNCTION sru_thresholds()
RETURNS TABLE (name text, value double precision, meaning text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
  VALUES
    -- Per-day limits of the recommendations; the same levels name a period's bottleneck.
    ('cpu_percent', 90, 'a day is CPU-hot when its p95 CPU reaches this; a period at it is CPU-bound'),
    ('ram_percent', 90, 'a day is RAM-hot when its p95 RAM reaches this; the RAM forecast and the '
                        'memory-leak projection run to it; a period at it is RAM-bound'),
    ('swap_percent', 10, 'a day swaps when its p95 swap use reaches this; a period at it whose RAM is at '
                         'swap_ram_percent is swap-bound'),
    ('gpu_utilization', 95, 'a day is GPU-hot when its p95 GPU utilisation reaches this; a period at it is GPU-bound'),
    ('gpu_memory_percent', 95, 'a day is GPU-memory-hot when its p95 GPU memory reaches this; the GPU '
                               'memory forecast runs to it; a period at it is GPU-memory-bound'),
    ('disk_io_wait_percent', 20, 'a day is IO-bound when its p95 IO wait reaches this; so is a period'),
    ('swap_forecast_percent', 50, 'the swap forecast runs to this'),
    ('sizing_target_percent', 70, 'new hardware is sized for the p95 to land here'),
    ('hot_share', 0.3, 'a host is over-utilised when a limit is hit on this share of days or more'),
    ('idle_share', 0.8, 'a host is idle when under-utilised on this share of days or more'),
    ('min_days', 7, 'days of data a host needs before it is judged'),
    -- Recommendations that name a user (generate_user_recommendations, issue 19).
    ('user_idle_held_hours', 1, 'a user holding GPU memory at near-zero utilisation this long on a shared GPU host is named'),
    ('user_underuse_percent', 25, 'a host''s main user whose p95 hourly CPU and RAM stay below this share of the host is named'),
    ('user_underuse_days', 14, 'days of use over which that under-use must hold'),
    -- The summaries' flags (sru_refresh_summaries): per period, from p95 values.
    ('idle_cpu_percent', 20, 'a period is under-utilised when p95 CPU, RAM and GPU stay below their idle limits'),
    ('idle_ram_percent', 30, 'the RAM part of under-utilised'),
    ('idle_gpu_utilization', 20, 'the GPU part of under-utilised (a host without GPU counts as 0)'),
    ('overutilized_percent', 90, 'a period is over-utilised when p95 CPU, RAM, GPU or GPU memory reaches this'),
    -- detect_bottleneck, beyond the per-day limits above.
    ('swap_ram_percent', 85, 'RAM use from which swapping (swap_percent) makes swap the bottleneck'),
    ('cpu_temp_celsius', 90, 'a period whose maximum CPU temperature reaches this is thermal-bound'),
    ('gpu_temp_celsius', 87, 'a period whose maximum GPU temperature reaches this is thermal-bound'),
    ('network_mb_s', 110, 'sent + received MB/s at p95 from which the network is the bottleneck (a saturated 1 GbE link)'),
    -- The anomaly detector (optimizer/anomaly_core.py; optimizer/README.md, "Anomaly detection").
    ('anomaly_limit_cpu_percent', 98, 'hourly mean CPU at which a threshold anomaly may be raised'),
    ('anomaly_limit_ram_percent', 98, 'hourly mean RAM at which a threshold anomaly may be raised'),
    ('anomaly_limit_gpu_utilization', 99.5, 'hourly mean GPU utilisation at which a threshold anomaly may be raised'),
    ('anomaly_limit_disk_io_wait_percent', 40, 'hourly mean IO wait at which a threshold anomaly may be raised'),
    ('anomaly_limit_swap_percent', 50, 'hourly mean swap use at which a threshold anomaly may be raised'),
    ('anomaly_min_baseline_hours', 336, 'hours with data (outside episodes) a 30-day baseline needs to judge at all'),
    ('anomaly_min_seasonal_values', 6, 'same-hour-of-week values a seasonal baseline needs'),
    ('anomaly_seasonal_strength_min', 0.5, 'weekly-pattern strength from which the same-hour-of-week baseline is used'),
    ('anomaly_scale_floor', 1, 'smallest robust scale (points): a flat series still has measurement noise'),
    ('anomaly_z', 4, '|z| from which an hour is a z-score anomaly'),
    ('anomaly_min_deviation', 10, 'points away from the baseline a z-score anomaly also needs'),
    ('anomaly_critical_z', 8, '|z| from which a z-score episode is critical'),
    ('anomaly_level_k', 3, 'robust scales between the 6-hour median and the baseline for a level shift'),
    ('anomaly_level_min_shift', 10, 'points a level shift also needs'),
    ('anomaly_threshold_headroom', 10, 'no threshold anomaly when the 30-day quantile is within this of the limit'),
    ('anomaly_threshold_quantile', 90, 'the 30-day quantile (percent) compared with the limit'),
    ('anomaly_spike_quantile', 99.5, 'the 30-day quantile (percent) of hourly maxima a spike must exceed'),
    ('anomaly_spike_margin', 10, 'points above that quantile (capped at 100) a spike must reach'),
    ('anomaly_spike_jump', 30, 'points above the usual maximum of the hour a spike must reach'),
    ('anomaly_spike_z', 8, 'robust scales above the usual maximum a spike must reach, when more than the jump')
$$;

-- One value by name, NULL for an unknown name.
CREATE OR REPLACE FUNCTION sru_threshold(p_name text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
  SELECT t.value FROM sru_thresholds() t WHERE t.name = p_name
$$;

GRANT EXECUTE ON FUNCTION sru_thresholds(), sru_threshold(text) TO admin, analyst, dashboard_readonly;
