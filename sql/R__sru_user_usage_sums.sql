-- The usage ledger (issue 19): who used how much of each host over any period [p_from, p_to).
--
-- Time base. A sample stands for one evaluation step of its host. The step is measured, not
-- configured: per host, the time its samples span within each hour divided by the intervals
-- between them (sum over the period, so one missed evaluation changes little), and a host's
-- accounted hours are its distinct evaluation times times that step. A host with never two samples
-- in an hour (evaluated hourly or less often) gets one hour per sample. Every figure of the host uses
-- the same step, so users + system + idle add up to cores x hours by construction wherever the
-- users' sum stays under the capacity (issue 19's closure; a resident-memory sum can exceed a
-- host's RAM — shared pages are counted in every process — and then idle is 0 and the excess shows).
--
-- Sources, cheapest first, with the same sums on every tier (sums add exactly):
--   whole UTC days            -> user_usage_daily / user_usage_host_daily
--   whole hours around them   -> user_usage_hourly / user_usage_host_hourly
--   the partial hours at the ends, and what the rollups do not hold yet (plain and apache: after
--   sru_user_usage_rolled_through())                  -> user_usage_metrics
-- Capacity (cores, RAM, GPUs) is the host's current systems row.

-- The sums behind the ledger: per host and user (user_id NOT NULL) the sums of each figure over the
-- period's samples; per host (user_id NULL) the time base: distinct evaluation times, the seconds
-- they span within their hours, and the intervals between them. Runs with the caller's rights:
-- per-user rows need personal_usage_reader.
CREATE OR REPLACE FUNCTION sru_user_usage_sums(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (system_id uuid, user_id bigint, samples bigint, cpu_cores double precision,
               ram_gb double precision, gpu_memory_gb double precision, gpu_utilization double precision,
               gpus_held double precision, gpus_idle_held double precision, processes double precision,
               span_s double precision, intervals bigint)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, public, pg_temp
-- A serial plan: at most ~50,000 rollup rows (a quarter's days and two partial days' hours of 50
-- hosts x 8 accounts), where two parallel workers' start and their Gather cost more than they save
-- (bench/usage, apache, 30 days: 79 -> 49 ms on the shared 2-core machine).
SET max_parallel_workers_per_gather = 0
-- Planned for each call's bounds: a generic plan (which PL/pgSQL may switch to after five calls)
-- neither excludes chunks nor turns the continuous aggregates' watermark into a constant (full
-- tier, 7 days: 130 ms custom, 650-1,090 ms generic; bench/usage).
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
  v_done timestamptz := least(p_to, date_trunc('hour', sru_user_usage_rolled_through() AT TIME ZONE 'UTC')
                                    AT TIME ZONE 'UTC');
  h1 timestamptz := date_trunc('hour', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  h2 timestamptz;
  d1 timestamptz;
  d2 timestamptz;
  r1 timestamptz;
  r2 timestamptz;
BEGIN
  IF p_to <= p_from THEN
    RETURN;
  END IF;
  IF h1 < p_from THEN
    h1 := h1 + INTERVAL '1 hour';
  END IF;
  h2 := greatest(h1, date_trunc('hour', v_done AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
  d1 := date_trunc('day', h1 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  IF d1 < h1 THEN
    d1 := d1 + INTERVAL '1 day';
  END IF;
  d2 := date_trunc('day', h2 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  IF d2 <= d1 THEN   -- no whole day: hours only
    d1 := h2;
    d2 := h2;
  END IF;
  -- Each part scans one plain time range (no join with a list of ranges): TimescaleDB excludes the
  -- chunks outside it and PostgreSQL walks the time index; a join with VALUES scanned every chunk
  -- of the year (bench/usage: 195 s for 7 days at the design volume).
  r1 := least(h1, p_to);
  r2 := greatest(h2, p_from);
  RETURN QUERY
  -- The raw rows, read once for their figures and their time base (each scan of the hypertable
  -- is one more chunk exclusion to plan).
  WITH raw AS MATERIALIZED (
         SELECT m.system_id, m."timestamp", m.user_id, m.cpu_cores, m.ram_gb, m.gpu_memory_gb,
                m.gpu_utilization, m.gpus_held, m.gpus_idle_held, m.processes
           FROM user_usage_metrics m WHERE m."timestamp" >= p_from AND m."timestamp" < r1
         UNION ALL
         SELECT m.system_id, m."timestamp", m.user_id, m.cpu_cores, m.ram_gb, m.gpu_memory_gb,
                m.gpu_utilization, m.gpus_held, m.gpus_idle_held, m.processes
           FROM user_usage_metrics m WHERE m."timestamp" >= r2 AND m."timestamp" < p_to),
       parts AS (
         SELECT d.system_id, d.user_id, d.samples, d.cpu_cores, d.ram_gb, d.gpu_memory_gb,
                d.gpu_utilization, d.gpus_held, d.gpus_idle_held, d.processes::double precision AS processes
           FROM user_usage_daily d WHERE d.bucket >= d1 AND d.bucket < d2
         UNION ALL
         SELECT h.system_id, h.user_id, h.samples, h.cpu_cores, h.ram_gb, h.gpu_memory_gb,
                h.gpu_utilization, h.gpus_held, h.gpus_idle_held, h.processes::double precision
           FROM user_usage_hourly h WHERE h.bucket >= h1 AND h.bucket < d1
         UNION ALL
         SELECT h.system_id, h.user_id, h.samples, h.cpu_cores, h.ram_gb, h.gpu_memory_gb,
                h.gpu_utilization, h.gpus_held, h.gpus_idle_held, h.processes::double precision
           FROM user_usage_hourly h WHERE h.bucket >= d2 AND h.bucket < h2
         UNION ALL
         SELECT m.system_id, m.user_id, 1::bigint, m.cpu_cores, m.ram_gb, m.gpu_memory_gb,
                m.gpu_utilization, m.gpus_held, m.gpus_idle_held, m.processes::double precision
           FROM raw m),
       base AS (
         SELECT d.system_id, d.samples, d.span_s, d.intervals
           FROM user_usage_host_daily d WHERE d.bucket >= d1 AND d.bucket < d2
         UNION ALL   -- two ranges, two index scans (not one OR)
         SELECT h.system_id, h.samples, h.span_s, h.intervals
           FROM user_usage_host_hourly h WHERE h.bucket >= h1 AND h.bucket < d1
         UNION ALL
         SELECT h.system_id, h.samples, h.span_s, h.intervals
           FROM user_usage_host_hourly h WHERE h.bucket >= d2 AND h.bucket < h2
         UNION ALL   -- the raw rows' time base, per host and hour as the rollups count them
         SELECT t.system_id, count(DISTINCT t."timestamp"),
                extract(epoch FROM max(t."timestamp") - min(t."timestamp"))::double precision,
                count(DISTINCT t."timestamp") - 1
           FROM raw t
          GROUP BY t.system_id, date_trunc('hour', t."timestamp" AT TIME ZONE 'UTC'))
  SELECT p.system_id, p.user_id, sum(p.samples)::bigint, sum(p.cpu_cores), sum(p.ram_gb),
         sum(p.gpu_memory_gb), sum(p.gpu_utilization), sum(p.gpus_held), sum(p.gpus_idle_held),
         sum(p.processes), NULL::double precision, NULL::bigint
    FROM parts p GROUP BY p.system_id, p.user_id
  UNION ALL
  SELECT b.system_id, NULL::bigint, sum(b.samples)::bigint, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         sum(b.span_s), sum(b.intervals)::bigint
    FROM base b GROUP BY b.system_id;
END $$;
GRANT EXECUTE ON FUNCTION sru_user_usage_sums(timestamptz, timestamptz) TO personal_usage_reader;
