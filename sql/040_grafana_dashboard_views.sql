-- What the Grafana dashboards read besides the tables themselves: a host's current state, and usage
-- series that come from the cheapest source that still has enough resolution for the bucket asked
-- for. Both are read-only, run with the caller's rights, and are granted to dashboard_readonly (the
-- datasource's role) and analyst.

-- One row per host: its state for the fleet overview and the most recent sample of the last hour.
-- A host is 'up' when it sent data in the last 15 minutes (three missed 5-minute scrapes), unless an
-- admin marked it for maintenance or retired it.
CREATE VIEW sru_host_status AS
SELECT s.id AS system_id,
       s.hostname,
       s.location,
       s.cpu_model,
       s.cpu_cores,
       s.ram_total_gb,
       s.gpu_model,
       s.gpu_count,
       s.status AS configured_status,
       CASE
         WHEN s.status IN ('maintenance', 'retired') THEN s.status
         WHEN greatest(s.last_seen, m."timestamp") >= now() - INTERVAL '15 minutes' THEN 'up'
         ELSE 'offline'
       END AS state,
       greatest(s.last_seen, m."timestamp") AS last_seen,
       m.cpu_percent,
       m.ram_percent,
       m.swap_percent,
       m.gpu_utilization,
       m.gpu_memory_percent,
       m.cpu_temp,
       m.gpu_temp,
       m.load_1m
  FROM public.systems s
  LEFT JOIN LATERAL (
        SELECT u.*
          FROM public.usage_metrics u
         WHERE u.system_id = s.id
           AND u."timestamp" > now() - INTERVAL '1 hour'
         ORDER BY u."timestamp" DESC
         LIMIT 1) m ON true;

-- Usage per host and time bucket between p_from and p_to, for time-series panels. Grafana widens
-- $__interval with the range, so the bucket picks the source: raw samples under an hour,
-- hourly_performance_stats (the continuous aggregate on the full edition, the rollup table
-- elsewhere) under a day, and the optimizer's daily performance_summaries beyond. The branches'
-- conditions depend only on p_bucket, so the executor skips the two that do not apply.
-- date_bin rather than time_bucket: the same function serves the plain tier.
CREATE FUNCTION sru_usage_series(p_from timestamptz, p_to timestamptz, p_bucket interval,
                                 p_hosts text[])
RETURNS TABLE ("time" timestamptz, hostname text, cpu_percent double precision,
               max_cpu_percent double precision, ram_percent double precision,
               max_ram_percent double precision, swap_percent double precision,
               gpu_utilization double precision, gpu_memory_percent double precision,
               cpu_temp double precision, gpu_temp double precision,
               disk_read_mb_s double precision, disk_write_mb_s double precision,
               disk_io_wait_percent double precision, net_sent_mb_s double precision,
               net_recv_mb_s double precision, load_1m double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT date_bin(p_bucket, u."timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS b, s.hostname,
         avg(u.cpu_percent), max(u.cpu_percent), avg(u.ram_percent), max(u.ram_percent),
         avg(u.swap_percent), avg(u.gpu_utilization), avg(u.gpu_memory_percent),
         avg(u.cpu_temp), avg(u.gpu_temp), avg(u.disk_read_mb_s), avg(u.disk_write_mb_s),
         avg(u.disk_io_wait_percent), avg(u.net_sent_mb_s), avg(u.net_recv_mb_s), avg(u.load_1m)
    FROM public.usage_metrics u
    JOIN public.systems s ON s.id = u.system_id
   WHERE p_bucket < INTERVAL '1 hour'
     AND s.hostname = ANY (p_hosts)
     AND u."timestamp" >= p_from AND u."timestamp" < p_to
   GROUP BY b, s.hostname
  UNION ALL
  -- Means of hourly means are weighted by the hour's sample count, so a half-empty hour counts half.
  SELECT date_bin(p_bucket, h.bucket, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS b, s.hostname,
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
   WHERE p_bucket >= INTERVAL '1 hour' AND p_bucket < INTERVAL '1 day'
     AND s.hostname = ANY (p_hosts)
     AND h.bucket >= p_from AND h.bucket < p_to
   GROUP BY b, s.hostname
  UNION ALL
  SELECT date_bin(p_bucket, p.period_start, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS b, s.hostname,
         avg(p.avg_cpu_percent), max(p.max_cpu_percent), avg(p.avg_ram_percent),
         max(p.max_ram_percent), avg(p.avg_swap_percent), avg(p.avg_gpu_utilization),
         avg(p.avg_gpu_memory_percent), avg(p.avg_cpu_temp), avg(p.avg_gpu_temp),
         avg(p.avg_disk_read_mb_s), avg(p.avg_disk_write_mb_s), avg(p.avg_disk_io_wait_percent),
         avg(p.avg_net_sent_mb_s), avg(p.avg_net_recv_mb_s), avg(p.avg_load_1m)
    FROM public.performance_summaries p
    JOIN public.systems s ON s.id = p.system_id
   WHERE p_bucket >= INTERVAL '1 day'
     AND p.period_type = 'daily'
     AND s.hostname = ANY (p_hosts)
     AND p.period_start >= p_from AND p.period_start < p_to
   GROUP BY b, s.hostname
   ORDER BY 1, 2
$$;

GRANT SELECT ON sru_host_status TO admin, dashboard_readonly, analyst;
GRANT EXECUTE ON FUNCTION sru_usage_series(timestamptz, timestamptz, interval, text[])
  TO admin, dashboard_readonly, analyst;
