-- Usage per host and time bucket between p_from and p_to, for time-series panels. Grafana widens
-- $__interval with the range, so the bucket picks the source: raw samples under an hour,
-- hourly_performance_stats (the continuous aggregate on the full edition, the rollup table
-- elsewhere) under a day, and the optimizer's daily performance_summaries beyond. Means of hourly
-- means are weighted by the hour's sample count, so a half-empty hour counts half. date_bin rather
-- than time_bucket: the same function serves the plain tier.
--
-- PL/pgSQL with one EXECUTE per source, not one SQL function over a UNION ALL of all three (040):
-- an SQL function is inlined after TimescaleDB's planner hook has run, so the continuous
-- aggregate's watermark was never turned into a constant and was looked up again for every row
-- (1 s for a year of one host's hours, 433k buffer hits; bench/dashboards). A statement EXECUTEd on
-- its own is planned with the bounds as constants: the watermark is constant, chunks outside the
-- range are excluded at plan time, and only the branch that applies is planned at all. Hosts are
-- turned into ids first, and passed as a constant, so each source is read through its
-- (system_id, time) index and the planner knows how many rows will come (an InitPlan's array left
-- it guessing 1/20 of them: a sort spilled to disk instead of a hash aggregate).
--
-- p_columns (NULL: all) names the output columns to compute; the others come back NULL. The
-- aggregates are most of the cost: a fleet heat map over 30 days (50 hosts, 36,000 hourly rows) took
-- 91 ms of server CPU with all sixteen columns and 29 ms with its one (bench/dashboards.py).
-- History: 040; this file is the definition in force (p_columns added by issue 10: the 4-argument
-- function is dropped, calls without p_columns still resolve to this one).
DROP FUNCTION IF EXISTS sru_usage_series(timestamptz, timestamptz, interval, text[]);
CREATE OR REPLACE FUNCTION sru_usage_series(p_from timestamptz, p_to timestamptz, p_bucket interval,
                                 p_hosts text[], p_columns text[] DEFAULT NULL)
RETURNS TABLE ("time" timestamptz, hostname text, cpu_percent double precision,
               max_cpu_percent double precision, ram_percent double precision,
               max_ram_percent double precision, swap_percent double precision,
               gpu_utilization double precision, gpu_memory_percent double precision,
               cpu_temp double precision, gpu_temp double precision,
               disk_read_mb_s double precision, disk_write_mb_s double precision,
               disk_io_wait_percent double precision, net_sent_mb_s double precision,
               net_recv_mb_s double precision, load_1m double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $f$
DECLARE
  -- The output columns in order; max_X is the maximum of X, every other one a mean.
  v_all constant text[] := ARRAY['cpu_percent', 'max_cpu_percent', 'ram_percent', 'max_ram_percent',
    'swap_percent', 'gpu_utilization', 'gpu_memory_percent', 'cpu_temp', 'gpu_temp', 'disk_read_mb_s',
    'disk_write_mb_s', 'disk_io_wait_percent', 'net_sent_mb_s', 'net_recv_mb_s', 'load_1m'];
  v_ids uuid[] := ARRAY(SELECT s.id FROM public.systems s WHERE s.hostname = ANY (p_hosts));
  v_unknown text[] := ARRAY(SELECT c FROM unnest(p_columns) c WHERE c IS NULL OR NOT c = ANY (v_all));
  v_source text;          -- 'raw', 'hourly' or 'daily'
  v_from text;
  v_time text;
  v_identity boolean;
  v_select text := '';
  v_col text;
  v_outer text := '';     -- the output columns, read from the grouped rows g
BEGIN
  IF cardinality(v_unknown) > 0 THEN
    RAISE EXCEPTION 'sru_usage_series: unknown p_columns %; choose from %', v_unknown, v_all
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_bucket < INTERVAL '1 hour' THEN
    v_source := 'raw';
    v_from := 'public.usage_metrics x';
    v_time := 'x."timestamp"';
  ELSIF p_bucket < INTERVAL '1 day' THEN
    v_source := 'hourly';
    v_from := 'public.hourly_performance_stats x';
    v_time := 'x.bucket';
  ELSE
    v_source := 'daily';
    v_from := 'public.performance_summaries x';
    v_time := 'x.period_start';
  END IF;
  -- A bucket as long as the source's period holds one source row per host (hours and days are
  -- unique per host and exactly that far apart): its values pass through, no aggregation.
  v_identity := (v_source = 'hourly' AND p_bucket = INTERVAL '1 hour')
                OR (v_source = 'daily' AND p_bucket = INTERVAL '1 day');
  FOREACH v_col IN ARRAY v_all LOOP
    v_select := v_select || ', ' || CASE
      WHEN p_columns IS NOT NULL AND NOT v_col = ANY (p_columns) THEN 'NULL::double precision'
      WHEN v_source = 'raw' AND v_col LIKE 'max\_%' THEN format('max(x.%I)', substr(v_col, 5))
      WHEN v_source = 'raw' THEN format('avg(x.%I)', v_col)
      WHEN v_identity AND v_col LIKE 'max\_%' THEN format('x.%I', v_col)
      WHEN v_identity THEN format('x.%I', 'avg_' || v_col)
      WHEN v_col LIKE 'max\_%' THEN format('max(x.%I)', v_col)
      WHEN v_source = 'hourly' THEN format(
        'sum(x.%1$I * x.sample_count) / nullif(sum(x.sample_count) FILTER (WHERE x.%1$I IS NOT NULL), 0)',
        'avg_' || v_col)
      ELSE format('avg(x.%I)', 'avg_' || v_col)
    END || ' AS ' || v_col;
    v_outer := v_outer || ', g.' || v_col;
  END LOOP;
  -- Grouped by host id, and the host names joined to the result: the sort or hash of every source
  -- row then compares uuids, and only the output rows pay for the collation of the names (a fleet
  -- heat map over 30 days: 36,000 hourly rows in, 3,050 out; 35 -> 25 ms of server CPU).
  RETURN QUERY EXECUTE format($q$
  SELECT g.b, s.hostname%2$s
    FROM (SELECT date_bin($3, %1$s, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS b, x.system_id%6$s
            FROM %3$s
           WHERE x.system_id = ANY ($4)
             AND %1$s >= $1 AND %1$s < $2%4$s%5$s) g
    JOIN public.systems s ON s.id = g.system_id
   ORDER BY 1, 2$q$, v_time, v_outer, v_from,
    CASE v_source WHEN 'daily' THEN $s$ AND x.period_type = 'daily'$s$ ELSE '' END,
    CASE WHEN v_identity THEN '' ELSE E'\n           GROUP BY b, x.system_id' END, v_select)
    USING p_from, p_to, p_bucket, v_ids;
END $f$;
GRANT EXECUTE ON FUNCTION sru_usage_series(timestamptz, timestamptz, interval, text[], text[])
  TO admin, dashboard_readonly, analyst;
