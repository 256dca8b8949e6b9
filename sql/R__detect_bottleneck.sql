-- The resource that limits a host in a period, from p95 values (temperatures: maxima), or NULL.
-- Checked in causal order: memory pressure spills into swap, swap into IO wait, IO wait into CPU.
-- The levels are sru_thresholds() (R__sru_thresholds.sql), shared with the recommendations.
-- PL/pgSQL rather than SQL: a SQL body is checked at CREATE time, and this file is applied before
-- R__sru_thresholds.sql on a fresh database. The immutable sru_threshold('…') calls are folded to
-- constants when the expression is planned, so a call costs about what the literals did.
-- History: 032_optimizer_functions (the levels as literals); this file is the definition in force.
CREATE OR REPLACE FUNCTION detect_bottleneck(p_cpu double precision, p_ram double precision,
                                  p_swap double precision DEFAULT NULL, p_gpu double precision DEFAULT NULL,
                                  p_gpu_memory double precision DEFAULT NULL,
                                  p_io_wait double precision DEFAULT NULL,
                                  p_cpu_temp double precision DEFAULT NULL,
                                  p_gpu_temp double precision DEFAULT NULL,
                                  p_net_mb_s double precision DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN CASE
    WHEN p_swap >= sru_threshold('swap_percent') AND p_ram >= sru_threshold('swap_ram_percent') THEN 'swap'
    WHEN p_ram >= sru_threshold('ram_percent') THEN 'ram'
    WHEN p_io_wait >= sru_threshold('disk_io_wait_percent') THEN 'disk_io'
    WHEN p_gpu_memory >= sru_threshold('gpu_memory_percent') THEN 'gpu_memory'
    WHEN p_gpu >= sru_threshold('gpu_utilization') THEN 'gpu'
    WHEN p_cpu >= sru_threshold('cpu_percent') THEN 'cpu'
    WHEN p_cpu_temp >= sru_threshold('cpu_temp_celsius') OR p_gpu_temp >= sru_threshold('gpu_temp_celsius')
      THEN 'thermal'
    WHEN p_net_mb_s >= sru_threshold('network_mb_s') THEN 'network'
  END;
END $$;
