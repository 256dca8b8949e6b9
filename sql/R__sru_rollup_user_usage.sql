-- tiers: plain apache
-- Fills the ledger's rollup tables (063_user_usage_rollups_table.sql) for the hours that meet
-- [p_from, p_to) and the days that hold them, with the same grouping and columns as the full tier's
-- continuous aggregates. Idempotent: each touched bucket is computed again from its source. Moves
-- user_usage_rollup_state.rolled_through to the hour that holds p_to (that hour may still fill) when
-- the pass joins what was rolled up before. Returns the hourly rows written.
-- The full tier's body (continuous aggregates: nothing to roll up) is R__sru_rollup_user_usage_full.sql.
CREATE OR REPLACE FUNCTION sru_rollup_user_usage(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
SET jit = off AS $$
DECLARE
  v_hour timestamptz := date_trunc('hour', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  v_hour_end timestamptz := date_trunc('hour', p_to AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                            + CASE WHEN p_to = date_trunc('hour', p_to AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                                   THEN INTERVAL '0' ELSE INTERVAL '1 hour' END;
  v_day timestamptz := date_trunc('day', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  v_day_end timestamptz := date_trunc('day', (v_hour_end - INTERVAL '1 microsecond') AT TIME ZONE 'UTC')
                           AT TIME ZONE 'UTC' + INTERVAL '1 day';
  v_slice timestamptz;
  v_next timestamptz;
  n integer := 0;
  k integer;
BEGIN
  IF p_to <= p_from THEN
    RETURN 0;
  END IF;
  -- A week per statement (as sru_rollup_hourly_stats): a pass over a year neither sorts the year
  -- at once nor holds its hash tables in memory. Rows are written in time order (ORDER BY the
  -- bucket): the ledger reads a range of buckets, and a range whose rows lie together is a few heap
  -- pages (bench/usage, 7,600 hourly rows: 127 pages, against 5,411 in hash order).
  v_slice := v_hour;
  WHILE v_slice < v_hour_end LOOP
    v_next := least(v_slice + INTERVAL '7 days', v_hour_end);
    DELETE FROM user_usage_hourly WHERE bucket >= v_slice AND bucket < v_next;
    INSERT INTO user_usage_hourly
    SELECT m.system_id, m.user_id, date_trunc('hour', m."timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           count(*), sum(m.cpu_cores), sum(m.ram_gb), sum(m.gpu_memory_gb), sum(m.gpu_utilization),
           sum(m.gpus_held), sum(m.gpus_idle_held), sum(m.processes)
      FROM user_usage_metrics m
     WHERE m."timestamp" >= v_slice AND m."timestamp" < v_next
     GROUP BY 1, 2, 3
     ORDER BY 3;
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    DELETE FROM user_usage_host_hourly WHERE bucket >= v_slice AND bucket < v_next;
    INSERT INTO user_usage_host_hourly
    SELECT m.system_id, date_trunc('hour', m."timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           count(DISTINCT m."timestamp"), extract(epoch FROM max(m."timestamp") - min(m."timestamp")),
           count(DISTINCT m."timestamp") - 1
      FROM user_usage_metrics m
     WHERE m."timestamp" >= v_slice AND m."timestamp" < v_next
     GROUP BY 1, 2
     ORDER BY 2;
    v_slice := v_next;
  END LOOP;

  DELETE FROM user_usage_daily WHERE bucket >= v_day AND bucket < v_day_end;
  INSERT INTO user_usage_daily
  SELECT h.system_id, h.user_id, date_trunc('day', h.bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
         sum(h.samples), sum(h.cpu_cores), sum(h.ram_gb), sum(h.gpu_memory_gb), sum(h.gpu_utilization),
         sum(h.gpus_held), sum(h.gpus_idle_held), sum(h.processes)
    FROM user_usage_hourly h
   WHERE h.bucket >= v_day AND h.bucket < v_day_end
   GROUP BY 1, 2, 3
     ORDER BY 3;
  DELETE FROM user_usage_host_daily WHERE bucket >= v_day AND bucket < v_day_end;
  INSERT INTO user_usage_host_daily
  SELECT h.system_id, date_trunc('day', h.bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
         sum(h.samples), sum(h.span_s), sum(h.intervals)
    FROM user_usage_host_hourly h
   WHERE h.bucket >= v_day AND h.bucket < v_day_end
   GROUP BY 1, 2
     ORDER BY 2;

  UPDATE user_usage_rollup_state s
     SET rolled_through = greatest(s.rolled_through,
                                   date_trunc('hour', p_to AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
   WHERE s.rolled_through IS NULL OR v_hour <= s.rolled_through
      OR NOT EXISTS (SELECT 1 FROM user_usage_metrics m WHERE m."timestamp" < v_hour);
  RETURN n;
END $$;
GRANT EXECUTE ON FUNCTION sru_rollup_user_usage(timestamptz, timestamptz) TO admin, analyst;
