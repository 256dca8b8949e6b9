-- The optimizer's forecasts, fitted once per pass and read by `sru report`, the console's host page
-- and the digest (issue 23 item 7: each of them fitted its own before, on the request path). One
-- current row per host and metric: store_host_forecasts() (R__store_host_forecasts.sql) replaces the
-- whole set in the pass's transaction, so a reader sees one pass's forecasts or the next's, never a
-- mix. The figures are optimizer/forecast.py's Forecast; the row adds how and over what it was fitted.
CREATE TABLE host_forecasts (
  system_id      uuid NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
  metric         text NOT NULL CHECK (metric IN ('ram_percent', 'gpu_memory_percent', 'swap_percent')),
  status         text NOT NULL CHECK (status IN ('crossing', 'no_crossing', 'not_enough_data', 'no_trend')),
  method         text NOT NULL CHECK (method IN ('ols_daily_mean')),
  limit_percent  double precision NOT NULL,
  days_used      integer NOT NULL CHECK (days_used >= 0),
  slope_per_day  double precision,
  r2             double precision,
  p_value        double precision,
  crossing_date  date,                        -- the trend reaches the limit
  earliest_date  date,                        -- the upper 95 % prediction bound does
  latest_date    date,                        -- the lower bound does (NULL: not within the horizon)
  line           jsonb CHECK (line IS NULL OR jsonb_typeof(line) = 'array'),  -- [[day, mean, lower, upper]]
  horizon_days   integer NOT NULL CHECK (horizon_days > 0),
  window_from    timestamptz NOT NULL,        -- the daily summaries fitted: period_start >= window_from
  window_to      timestamptz NOT NULL CHECK (window_to >= window_from),   -- ... and period_end <= window_to
  fitted_at      timestamptz NOT NULL,        -- the pass's "now"
  PRIMARY KEY (system_id, metric),
  CHECK ((status = 'crossing') = (crossing_date IS NOT NULL))
);

-- Written only through store_host_forecasts() (analyst, the optimizer's role, may execute it); read by
-- every reader of the fleet's figures (the console as web_console through dashboard_readonly, the
-- digest as digest_sender through analyst).
GRANT SELECT, INSERT, UPDATE, DELETE ON host_forecasts TO admin;
GRANT SELECT ON host_forecasts TO dashboard_readonly, analyst;
