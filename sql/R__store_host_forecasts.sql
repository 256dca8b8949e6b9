-- Store the forecasts of one optimizer pass (optimizer/forecast.py `store`) for the analyst role,
-- which writes no table itself. p_rows: a JSON array of {system_id, metric, status, limit, days_used,
-- slope_per_day, r2, p_value, crossing_date, earliest_date, latest_date, line, window_from, window_to}
-- (nulls where a figure does not exist). The set replaces the stored one: a host or metric the pass
-- fitted nothing for (no daily summaries in its window any more) loses its old forecast instead of
-- keeping a stale one. Idempotent: the same pass stored twice leaves the same rows. Returns the number
-- of rows stored.
CREATE OR REPLACE FUNCTION store_host_forecasts(p_fitted_at timestamptz, p_method text, p_horizon_days integer,
                                                p_rows jsonb)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  n integer;
BEGIN
  IF p_fitted_at IS NULL THEN
    RAISE EXCEPTION 'p_fitted_at must be given' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF jsonb_typeof(p_rows) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'p_rows must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF jsonb_array_length(p_rows) > 100000 OR length(p_rows::text) > 50000000 THEN
    RAISE EXCEPTION 'at most 100000 forecasts (50 MB) per call' USING ERRCODE = 'program_limit_exceeded';
  END IF;
  -- Concurrent passes store one after the other; the later commit's set is the current one.
  PERFORM pg_advisory_xact_lock(hashtextextended('sru host forecasts', 0));
  WITH fitted AS (
    SELECT (e ->> 'system_id')::uuid AS system_id, e ->> 'metric' AS metric, e ->> 'status' AS status,
           p_method AS method, (e ->> 'limit')::double precision AS limit_percent,
           (e ->> 'days_used')::integer AS days_used, (e ->> 'slope_per_day')::double precision AS slope_per_day,
           (e ->> 'r2')::double precision AS r2, (e ->> 'p_value')::double precision AS p_value,
           (e ->> 'crossing_date')::date AS crossing_date, (e ->> 'earliest_date')::date AS earliest_date,
           (e ->> 'latest_date')::date AS latest_date, nullif(e -> 'line', 'null'::jsonb) AS line,
           p_horizon_days AS horizon_days, (e ->> 'window_from')::timestamptz AS window_from,
           (e ->> 'window_to')::timestamptz AS window_to, p_fitted_at AS fitted_at
      FROM jsonb_array_elements(p_rows) e
  ), gone AS (
    DELETE FROM host_forecasts f
     WHERE NOT EXISTS (SELECT 1 FROM fitted n WHERE n.system_id = f.system_id AND n.metric = f.metric)
  )
  INSERT INTO host_forecasts (system_id, metric, status, method, limit_percent, days_used, slope_per_day, r2,
                              p_value, crossing_date, earliest_date, latest_date, line, horizon_days,
                              window_from, window_to, fitted_at)
  SELECT system_id, metric, status, method, limit_percent, days_used, slope_per_day, r2, p_value, crossing_date,
         earliest_date, latest_date, line, horizon_days, window_from, window_to, fitted_at FROM fitted
  ON CONFLICT (system_id, metric) DO UPDATE SET
    status = excluded.status, method = excluded.method, limit_percent = excluded.limit_percent,
    days_used = excluded.days_used, slope_per_day = excluded.slope_per_day, r2 = excluded.r2,
    p_value = excluded.p_value, crossing_date = excluded.crossing_date, earliest_date = excluded.earliest_date,
    latest_date = excluded.latest_date, line = excluded.line, horizon_days = excluded.horizon_days,
    window_from = excluded.window_from, window_to = excluded.window_to, fitted_at = excluded.fitted_at;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

GRANT EXECUTE ON FUNCTION store_host_forecasts(timestamptz, text, integer, jsonb) TO admin, analyst;
