-- The limits the optimizer judges hosts against, in one place that SQL (generate_hardware_recommendations)
-- and Python (optimizer/thresholds.py: the RAM forecast, the report) both read. Change a value here
-- and `sru db migrate` re-applies this file; nothing else holds a copy. (The anomaly limits and the
-- per-period flags of sru_refresh_summaries are not here yet.)
CREATE OR REPLACE FUNCTION sru_thresholds()
RETURNS TABLE (name text, value double precision, meaning text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
  VALUES
    ('cpu_percent', 90, 'a day is CPU-hot when its p95 CPU reaches this'),
    ('ram_percent', 90, 'a day is RAM-hot when its p95 RAM reaches this; the RAM forecast and the '
                        'memory-leak projection run to it'),
    ('swap_percent', 10, 'a day swaps when its p95 swap use reaches this'),
    ('gpu_utilization', 95, 'a day is GPU-hot when its p95 GPU utilisation reaches this'),
    ('gpu_memory_percent', 95, 'a day is GPU-memory-hot when its p95 GPU memory reaches this; the GPU '
                               'memory forecast runs to it'),
    ('disk_io_wait_percent', 20, 'a day is IO-bound when its p95 IO wait reaches this'),
    ('swap_forecast_percent', 50, 'the swap forecast runs to this'),
    ('sizing_target_percent', 70, 'new hardware is sized for the p95 to land here'),
    ('hot_share', 0.3, 'a host is over-utilised when a limit is hit on this share of days or more'),
    ('idle_share', 0.8, 'a host is idle when under-utilised on this share of days or more'),
    ('min_days', 7, 'days of data a host needs before it is judged')
$$;

-- One value by name, NULL for an unknown name.
CREATE OR REPLACE FUNCTION sru_threshold(p_name text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
  SELECT t.value FROM sru_thresholds() t WHERE t.name = p_name
$$;

GRANT EXECUTE ON FUNCTION sru_thresholds(), sru_threshold(text) TO admin, analyst, dashboard_readonly;
