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
-- turned into ids first, so each source is read through its (system_id, time) index.
-- History: 040; this file is the definition in force.
CREATE OR REPLACE FUNCTION sru_usage_series(p_from timestamptz, p_to timestamptz, p_bucket interval,
                                 p_hosts text[])
RETURNS TABLE ("time" timestamptz, hostname text, cpu_percent double precision,
               max_cpu_percent double precision, ram_percent double precision,
               max_ram_percent double precision, swap_percent double precision,
               gpu_utilization double precision, gpu_memory_percent double precision,
               cpu_temp double precision, gpu_temp double precision,
               disk_read_mb_s double precision, disk_write_mb_s double precision,
               disk_io_wait_percent double precision, net_sent_mb_s double precision,
               net_recv_mb_s double precision, load_1m double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $f$
BEGIN
  IF p_bucket < INTERVAL '1 hour' THEN
    RETURN QUERY EXECUTE $q$
  SELECT date_bin($3, u."timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS b, s.hostname,
         avg(u.cpu_percent), max(u.cpu_percent), avg(u.ram_percent), max(u.ram_percent),
         avg(u.swap_percent), avg(u.gpu_utilization), avg(u.gpu_memory_percent),
         avg(u.cpu_temp), avg(u.gpu_temp), avg(u.disk_read_mb_s), avg(u.disk_write_mb_s),
         avg(u.disk_io_wait_percent), avg(u.net_sent_mb_s), avg(u.net_recv_mb_s), avg(u.load_1m)
    FROM public.usage_metrics u
    JOIN public.systems s ON s.id = u.system_id
   WHERE u.system_id = ANY (ARRAY(SELECT id FROM public.systems WHERE hostname = ANY ($4)))
     AND u."timestamp" >= $1 AND u."timestamp" < $2
   GROUP BY b, s.hostname
   ORDER BY 1, 2$q$ USING p_from, p_to, p_bucket, p_hosts;
  ELSIF p_bucket < INTERVAL '1 day' THEN
    RETURN QUERY EXECUTE $q$
  SELECT date_bin($3, h.bucket, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS b, s.hostname,
         sum(h.avg_cpu_percent * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_cpu_percent IS NOT NULL), 0),
         max(h.max_cpu_percent),
         sum(h.avg_ram_percent * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_ram_percent IS NOT NULL), 0),
         max(h.max_ram_percent),
         sum(h.avg_swap_percent * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_swap_percent IS NOT NULL), 0),
         sum(h.avg_gpu_utilization * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_gpu_utilization IS NOT NULL), 0),
         sum(h.avg_gpu_memory_percent * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_gpu_memory_percent IS NOT NULL), 0),
         sum(h.avg_cpu_temp * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_cpu_temp IS NOT NULL), 0),
         sum(h.avg_gpu_temp * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_gpu_temp IS NOT NULL), 0),
         sum(h.avg_disk_read_mb_s * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_disk_read_mb_s IS NOT NULL), 0),
         sum(h.avg_disk_write_mb_s * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_disk_write_mb_s IS NOT NULL), 0),
         sum(h.avg_disk_io_wait_percent * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_disk_io_wait_percent IS NOT NULL), 0),
         sum(h.avg_net_sent_mb_s * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_net_sent_mb_s IS NOT NULL), 0),
         sum(h.avg_net_recv_mb_s * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_net_recv_mb_s IS NOT NULL), 0),
         sum(h.avg_load_1m * h.sample_count)
           / nullif(sum(h.sample_count) FILTER (WHERE h.avg_load_1m IS NOT NULL), 0)
    FROM public.hourly_performance_stats h
    JOIN public.systems s ON s.id = h.system_id
   WHERE h.system_id = ANY (ARRAY(SELECT id FROM public.systems WHERE hostname = ANY ($4)))
     AND h.bucket >= $1 AND h.bucket < $2
   GROUP BY b, s.hostname
   ORDER BY 1, 2$q$ USING p_from, p_to, p_bucket, p_hosts;
  ELSE
    RETURN QUERY EXECUTE $q$
  SELECT date_bin($3, p.period_start, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS b, s.hostname,
         avg(p.avg_cpu_percent), max(p.max_cpu_percent), avg(p.avg_ram_percent),
         max(p.max_ram_percent), avg(p.avg_swap_percent), avg(p.avg_gpu_utilization),
         avg(p.avg_gpu_memory_percent), avg(p.avg_cpu_temp), avg(p.avg_gpu_temp),
         avg(p.avg_disk_read_mb_s), avg(p.avg_disk_write_mb_s), avg(p.avg_disk_io_wait_percent),
         avg(p.avg_net_sent_mb_s), avg(p.avg_net_recv_mb_s), avg(p.avg_load_1m)
    FROM public.performance_summaries p
    JOIN public.systems s ON s.id = p.system_id
   WHERE p.period_type = 'daily'
     AND p.system_id = ANY (ARRAY(SELECT id FROM public.systems WHERE hostname = ANY ($4)))
     AND p.period_start >= $1 AND p.period_start < $2
   GROUP BY b, s.hostname
   ORDER BY 1, 2$q$ USING p_from, p_to, p_bucket, p_hosts;
  END IF;
END $f$;
