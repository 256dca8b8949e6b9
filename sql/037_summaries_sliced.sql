-- tiers: plain apache
-- Summaries and the hourly rollup without a sort of the whole range (bench/README.md, "Optimizer").
--
-- * Hourly and daily summaries stay exact (percentile_cont over the raw samples), computed one UTC
--   day at a time: each slice is one chunk on TimescaleDB, small enough to sort in memory, instead
--   of one external sort of the whole range followed by ten in-group sorts per group.
-- * Weekly and monthly summaries are built from hourly_performance_stats, as on the full edition
--   (031_summary_source_cagg.sql): sample counts, means (sample-weighted) and maxima stay exact; p95
--   becomes the 95th percentile of the period's hourly means. A week is 168 hourly means, a month
--   about 720, so that percentile is well defined, and it describes sustained load rather than
--   5-minute blips. The pass rolls the hourly stats up before it summarises (optimizer/run.py).
-- * Hours and days are cut with date_bin() on the UTC origin, which is the same as date_trunc() in
--   UTC and saves the time zone conversion of every row (~15 % of the rollup).
-- * JIT is off for these statements: with 30-odd aggregates it compiles for seconds and saves
--   nothing on row counts of this size (a 3-month rollup: 3.1 s with JIT, 1.3 s without).
-- * The rollup works in 7-day slices, so its hash table (~1.7 kB per host-hour with 28 aggregates)
--   stays in memory instead of spilling to disk, and it touches only the hours whose figures
--   changed: an upsert (ON CONFLICT DO UPDATE … WHERE) would still lock, and so dirty, every row it
--   skips. It returns the number of hours inserted or changed.
CREATE OR REPLACE FUNCTION sru_summary_source(p_period text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (system_id uuid,
               period_start timestamptz,
               period_end timestamptz,
               sample_count integer,
               avg_cpu_percent double precision,
               p95_cpu_percent double precision,
               max_cpu_percent double precision,
               avg_ram_percent double precision,
               p95_ram_percent double precision,
               max_ram_percent double precision,
               avg_swap_percent double precision,
               p95_swap_percent double precision,
               max_swap_percent double precision,
               avg_gpu_utilization double precision,
               p95_gpu_utilization double precision,
               max_gpu_utilization double precision,
               avg_gpu_memory_percent double precision,
               p95_gpu_memory_percent double precision,
               max_gpu_memory_percent double precision,
               avg_disk_io_wait_percent double precision,
               p95_disk_io_wait_percent double precision,
               max_disk_io_wait_percent double precision,
               avg_disk_read_mb_s double precision,
               p95_disk_read_mb_s double precision,
               max_disk_read_mb_s double precision,
               avg_disk_write_mb_s double precision,
               p95_disk_write_mb_s double precision,
               max_disk_write_mb_s double precision,
               avg_net_sent_mb_s double precision,
               p95_net_sent_mb_s double precision,
               max_net_sent_mb_s double precision,
               avg_net_recv_mb_s double precision,
               p95_net_recv_mb_s double precision,
               max_net_recv_mb_s double precision,
               avg_cpu_temp double precision,
               max_cpu_temp double precision,
               avg_gpu_temp double precision,
               max_gpu_temp double precision,
               avg_load_1m double precision,
               max_load_1m double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public
SET work_mem = '64MB'
SET jit = off AS $$
#variable_conflict use_column
DECLARE
  v_unit text := sru_period_unit(p_period);
  v_len interval := sru_period_length(p_period);
  v_slice timestamptz := p_from;
  v_step interval := INTERVAL '1 day';
BEGIN
  IF p_period IN ('weekly', 'monthly') THEN
    RETURN QUERY
    SELECT h.system_id, b.local_start AT TIME ZONE 'UTC', (b.local_start + v_len) AT TIME ZONE 'UTC',
           sum(h.sample_count)::integer,
           sum(h.avg_cpu_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_cpu_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_cpu_percent), max(h.max_cpu_percent),
           sum(h.avg_ram_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_ram_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_ram_percent), max(h.max_ram_percent),
           sum(h.avg_swap_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_swap_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_swap_percent), max(h.max_swap_percent),
           sum(h.avg_gpu_utilization * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_gpu_utilization IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_gpu_utilization), max(h.max_gpu_utilization),
           sum(h.avg_gpu_memory_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER
               (WHERE h.avg_gpu_memory_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_gpu_memory_percent),
               max(h.max_gpu_memory_percent),
           sum(h.avg_disk_io_wait_percent * h.sample_count) / NULLIF(sum(h.sample_count) FILTER
               (WHERE h.avg_disk_io_wait_percent IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_io_wait_percent),
               max(h.max_disk_io_wait_percent),
           sum(h.avg_disk_read_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_disk_read_mb_s IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_read_mb_s), max(h.max_disk_read_mb_s),
           sum(h.avg_disk_write_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_disk_write_mb_s IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_disk_write_mb_s), max(h.max_disk_write_mb_s),
           sum(h.avg_net_sent_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_net_sent_mb_s IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_net_sent_mb_s), max(h.max_net_sent_mb_s),
           sum(h.avg_net_recv_mb_s * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_net_recv_mb_s IS NOT NULL), 0),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY h.avg_net_recv_mb_s), max(h.max_net_recv_mb_s),
           sum(h.avg_cpu_temp * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_cpu_temp IS NOT NULL), 0), max(h.max_cpu_temp),
           sum(h.avg_gpu_temp * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_gpu_temp IS NOT NULL), 0), max(h.max_gpu_temp),
           sum(h.avg_load_1m * h.sample_count) / NULLIF(sum(h.sample_count) FILTER (WHERE
               h.avg_load_1m IS NOT NULL), 0), max(h.max_load_1m)
      FROM hourly_performance_stats h
     CROSS JOIN LATERAL (SELECT date_trunc(v_unit, h.bucket AT TIME ZONE 'UTC') AS local_start) b
     WHERE h.bucket >= p_from AND h.bucket < p_to
     GROUP BY h.system_id, b.local_start;
    RETURN;
  END IF;
  -- EXECUTE: planned with the slice's bounds as constants, so only its chunks are scanned (a
  -- cached generic plan would probe every chunk of the hypertable for every slice).
  WHILE v_slice < p_to LOOP
    RETURN QUERY EXECUTE $q$
    SELECT u.system_id, b.start, b.start + $1, count(*)::integer,
           avg(u.cpu_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.cpu_percent),
               max(u.cpu_percent),
           avg(u.ram_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.ram_percent),
               max(u.ram_percent),
           avg(u.swap_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.swap_percent),
               max(u.swap_percent),
           avg(u.gpu_utilization), percentile_cont(0.95) WITHIN GROUP (ORDER BY
               u.gpu_utilization), max(u.gpu_utilization),
           avg(u.gpu_memory_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY
               u.gpu_memory_percent), max(u.gpu_memory_percent),
           avg(u.disk_io_wait_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY
               u.disk_io_wait_percent), max(u.disk_io_wait_percent),
           avg(u.disk_read_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.disk_read_mb_s),
               max(u.disk_read_mb_s),
           avg(u.disk_write_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY
               u.disk_write_mb_s), max(u.disk_write_mb_s),
           avg(u.net_sent_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.net_sent_mb_s),
               max(u.net_sent_mb_s),
           avg(u.net_recv_mb_s), percentile_cont(0.95) WITHIN GROUP (ORDER BY u.net_recv_mb_s),
               max(u.net_recv_mb_s),
           avg(u.cpu_temp), max(u.cpu_temp),
           avg(u.gpu_temp), max(u.gpu_temp),
           avg(u.load_1m), max(u.load_1m)
      FROM usage_metrics u
     CROSS JOIN LATERAL (SELECT date_bin($1, u."timestamp", TIMESTAMPTZ '2000-01-03 00:00+00') AS start) b
     WHERE u."timestamp" >= $2 AND u."timestamp" < $3
     GROUP BY u.system_id, b.start$q$
    USING v_len, v_slice, least(v_slice + v_step, p_to);
    v_slice := v_slice + v_step;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION sru_rollup_hourly_stats(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
SET work_mem = '64MB'
SET jit = off AS $$
DECLARE
  v_slice timestamptz := sru_period_floor('hourly', p_from);
  v_next timestamptz;
  n integer;
  total integer := 0;
BEGIN
  WHILE v_slice < p_to LOOP
    v_next := least(v_slice + INTERVAL '7 days', p_to);
    EXECUTE $q$
    WITH src AS (
      SELECT u.system_id, date_bin('1 hour', u."timestamp", TIMESTAMPTZ '2000-01-03 00:00+00') AS bucket,
             count(*) AS sample_count, avg(u.cpu_percent) AS avg_cpu_percent,
                 max(u.cpu_percent) AS max_cpu_percent, avg(u.ram_percent) AS avg_ram_percent,
                 max(u.ram_percent) AS max_ram_percent, avg(u.swap_percent) AS
                 avg_swap_percent, max(u.swap_percent) AS max_swap_percent,
                 avg(u.gpu_utilization) AS avg_gpu_utilization, max(u.gpu_utilization) AS
                 max_gpu_utilization, avg(u.gpu_memory_percent) AS avg_gpu_memory_percent,
                 max(u.gpu_memory_percent) AS max_gpu_memory_percent, avg(u.gpu_temp) AS
                 avg_gpu_temp, max(u.gpu_temp) AS max_gpu_temp, avg(u.cpu_temp) AS
                 avg_cpu_temp, max(u.cpu_temp) AS max_cpu_temp, avg(u.disk_read_mb_s) AS
                 avg_disk_read_mb_s, max(u.disk_read_mb_s) AS max_disk_read_mb_s,
                 avg(u.disk_write_mb_s) AS avg_disk_write_mb_s, max(u.disk_write_mb_s) AS
                 max_disk_write_mb_s, avg(u.disk_io_wait_percent) AS avg_disk_io_wait_percent,
                 max(u.disk_io_wait_percent) AS max_disk_io_wait_percent, avg(u.net_sent_mb_s)
                 AS avg_net_sent_mb_s, max(u.net_sent_mb_s) AS max_net_sent_mb_s,
                 avg(u.net_recv_mb_s) AS avg_net_recv_mb_s, max(u.net_recv_mb_s) AS
                 max_net_recv_mb_s, avg(u.load_1m) AS avg_load_1m, max(u.load_1m) AS
                 max_load_1m
        FROM usage_metrics u
       WHERE u."timestamp" >= $1 AND u."timestamp" < $2
       GROUP BY 1, 2
    ), upd AS (
      UPDATE hourly_performance_stats h SET (sample_count, avg_cpu_percent, max_cpu_percent,
          avg_ram_percent, max_ram_percent, avg_swap_percent, max_swap_percent, avg_gpu_utilization,
          max_gpu_utilization, avg_gpu_memory_percent, max_gpu_memory_percent, avg_gpu_temp,
          max_gpu_temp, avg_cpu_temp, max_cpu_temp, avg_disk_read_mb_s, max_disk_read_mb_s,
          avg_disk_write_mb_s, max_disk_write_mb_s, avg_disk_io_wait_percent,
          max_disk_io_wait_percent, avg_net_sent_mb_s, max_net_sent_mb_s, avg_net_recv_mb_s,
          max_net_recv_mb_s, avg_load_1m, max_load_1m) = (s.sample_count, s.avg_cpu_percent,
          s.max_cpu_percent, s.avg_ram_percent, s.max_ram_percent, s.avg_swap_percent,
          s.max_swap_percent, s.avg_gpu_utilization, s.max_gpu_utilization, s.avg_gpu_memory_percent,
          s.max_gpu_memory_percent, s.avg_gpu_temp, s.max_gpu_temp, s.avg_cpu_temp, s.max_cpu_temp,
          s.avg_disk_read_mb_s, s.max_disk_read_mb_s, s.avg_disk_write_mb_s, s.max_disk_write_mb_s,
          s.avg_disk_io_wait_percent, s.max_disk_io_wait_percent, s.avg_net_sent_mb_s,
          s.max_net_sent_mb_s, s.avg_net_recv_mb_s, s.max_net_recv_mb_s, s.avg_load_1m, s.max_load_1m)
        FROM src s
       WHERE h.system_id = s.system_id AND h.bucket = s.bucket AND h.bucket >= $1 AND h.bucket < $2
         AND (h.sample_count, h.avg_cpu_percent, h.max_cpu_percent, h.avg_ram_percent,
             h.max_ram_percent, h.avg_swap_percent, h.max_swap_percent, h.avg_gpu_utilization,
             h.max_gpu_utilization, h.avg_gpu_memory_percent, h.max_gpu_memory_percent,
             h.avg_gpu_temp, h.max_gpu_temp, h.avg_cpu_temp, h.max_cpu_temp, h.avg_disk_read_mb_s,
             h.max_disk_read_mb_s, h.avg_disk_write_mb_s, h.max_disk_write_mb_s,
             h.avg_disk_io_wait_percent, h.max_disk_io_wait_percent, h.avg_net_sent_mb_s,
             h.max_net_sent_mb_s, h.avg_net_recv_mb_s, h.max_net_recv_mb_s, h.avg_load_1m,
             h.max_load_1m)
             IS DISTINCT FROM (s.sample_count, s.avg_cpu_percent, s.max_cpu_percent,
                 s.avg_ram_percent, s.max_ram_percent, s.avg_swap_percent, s.max_swap_percent,
                 s.avg_gpu_utilization, s.max_gpu_utilization, s.avg_gpu_memory_percent,
                 s.max_gpu_memory_percent, s.avg_gpu_temp, s.max_gpu_temp, s.avg_cpu_temp,
                 s.max_cpu_temp, s.avg_disk_read_mb_s, s.max_disk_read_mb_s,
                 s.avg_disk_write_mb_s, s.max_disk_write_mb_s, s.avg_disk_io_wait_percent,
                 s.max_disk_io_wait_percent, s.avg_net_sent_mb_s, s.max_net_sent_mb_s,
                 s.avg_net_recv_mb_s, s.max_net_recv_mb_s, s.avg_load_1m, s.max_load_1m)
      RETURNING 1
    ), ins AS (
      INSERT INTO hourly_performance_stats (system_id, bucket, sample_count, avg_cpu_percent,
          max_cpu_percent, avg_ram_percent, max_ram_percent, avg_swap_percent, max_swap_percent,
          avg_gpu_utilization, max_gpu_utilization, avg_gpu_memory_percent, max_gpu_memory_percent,
          avg_gpu_temp, max_gpu_temp, avg_cpu_temp, max_cpu_temp, avg_disk_read_mb_s,
          max_disk_read_mb_s, avg_disk_write_mb_s, max_disk_write_mb_s, avg_disk_io_wait_percent,
          max_disk_io_wait_percent, avg_net_sent_mb_s, max_net_sent_mb_s, avg_net_recv_mb_s,
          max_net_recv_mb_s, avg_load_1m, max_load_1m)
      SELECT s.* FROM src s
       WHERE NOT EXISTS (SELECT FROM hourly_performance_stats h
                          WHERE h.system_id = s.system_id AND h.bucket = s.bucket
                              AND h.bucket >= $1 AND h.bucket < $2)
      ON CONFLICT (system_id, bucket) DO NOTHING  -- a concurrent pass wrote the same hour
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins)$q$
    INTO n USING v_slice, v_next;
    total := total + n;
    v_slice := v_next;
  END LOOP;
  RETURN total;
END $$;
