-- Alerting: where an alert happened (host attribution shared by the webhook receiver, the views and
-- Grafana), a readable view of alert_logs, and mean time to resolution per rule and per host.

-- The host an alert is about, from its labels: `hostname`, else `host`, else `instance` without its
-- port ("lab01:9847" → "lab01", "[2001:db8::1]:9847" → "2001:db8::1"). NULL when none is present.
CREATE FUNCTION sru_alert_host(labels jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
SET search_path = pg_catalog, public AS $$
  SELECT NULLIF(COALESCE(
    NULLIF(labels ->> 'hostname', ''),
    NULLIF(labels ->> 'host', ''),
    CASE
      WHEN labels ->> 'instance' ~ '^\[.*\](:[0-9]+)?$'
        THEN substring(labels ->> 'instance' FROM '^\[(.*)\]')
      -- More than one colon and no brackets: a bare IPv6 address, no port to strip.
      WHEN labels ->> 'instance' ~ ':.*:' THEN labels ->> 'instance'
      ELSE regexp_replace(labels ->> 'instance', ':[0-9]*$', '')
    END), '')
$$;

-- The systems row of a host name: the exact hostname, else (for a fully qualified name) the row named
-- by its first label, so "lab01.example.org:9847" finds "lab01". NULL for a host sru does not know.
CREATE FUNCTION sru_system_id_for_host(host text) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE STRICT
SET search_path = pg_catalog, public AS $$
  SELECT id FROM systems
   WHERE hostname = host
      OR (hostname = split_part(host, '.', 1) AND host !~ '^[0-9.]+$' AND host !~ ':')
   ORDER BY hostname = host DESC
   LIMIT 1
$$;

CREATE VIEW alert_log_details AS
SELECT a.id,
       a.alert_name,
       a.severity,
       COALESCE(s.hostname, sru_alert_host(a.labels)) AS host,
       a.system_id,
       a.rule_id,
       a.fingerprint,
       a.triggered_at,
       a.resolved_at,
       a.resolved_at IS NULL AS is_active,
       a.resolved_at - a.triggered_at AS time_to_resolve,
       a.metric_name,
       a.actual_value,
       a.threshold_value,
       a.annotations ->> 'summary' AS summary,
       a.is_acknowledged,
       a.acknowledged_by,
       a.acknowledged_at,
       a.labels,
       a.annotations
  FROM alert_logs a
  LEFT JOIN systems s ON s.id = a.system_id;

-- Mean time to resolution of the alerts triggered in [window_start, window_end), per rule (alert
-- name) and per host. Alerts still open count in `alerts` and `open_alerts`, not in the means.
-- Grafana: SELECT * FROM sru_alert_mttr_by_rule($__timeFrom()::timestamptz, $__timeTo()::timestamptz).
CREATE FUNCTION sru_alert_mttr_by_rule(window_start timestamptz, window_end timestamptz DEFAULT now())
RETURNS TABLE (alert_name text, rule_id bigint, alerts bigint, resolved_alerts bigint, open_alerts bigint,
               mttr interval, mttr_seconds double precision, max_time_to_resolve interval)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, public AS $$
  SELECT a.alert_name,
         max(a.rule_id),
         count(*),
         count(a.resolved_at),
         count(*) - count(a.resolved_at),
         avg(a.resolved_at - a.triggered_at),
         extract(epoch FROM avg(a.resolved_at - a.triggered_at))::double precision,
         max(a.resolved_at - a.triggered_at)
    FROM alert_logs a
   WHERE a.triggered_at >= window_start AND a.triggered_at < window_end
   GROUP BY a.alert_name
   ORDER BY a.alert_name
$$;

CREATE FUNCTION sru_alert_mttr_by_host(window_start timestamptz, window_end timestamptz DEFAULT now())
RETURNS TABLE (host text, system_id uuid, alerts bigint, resolved_alerts bigint, open_alerts bigint,
               mttr interval, mttr_seconds double precision, max_time_to_resolve interval)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, public AS $$
  SELECT COALESCE(s.hostname, sru_alert_host(a.labels)),
         a.system_id,
         count(*),
         count(a.resolved_at),
         count(*) - count(a.resolved_at),
         avg(a.resolved_at - a.triggered_at),
         extract(epoch FROM avg(a.resolved_at - a.triggered_at))::double precision,
         max(a.resolved_at - a.triggered_at)
    FROM alert_logs a
    LEFT JOIN systems s ON s.id = a.system_id
   WHERE a.triggered_at >= window_start AND a.triggered_at < window_end
   GROUP BY 1, 2
   ORDER BY 1
$$;

GRANT SELECT ON alert_log_details TO admin, data_collector, dashboard_readonly, analyst;
GRANT EXECUTE ON FUNCTION sru_alert_host(jsonb), sru_system_id_for_host(text)
  TO admin, data_collector, dashboard_readonly, analyst;
GRANT EXECUTE ON FUNCTION sru_alert_mttr_by_rule(timestamptz, timestamptz),
                          sru_alert_mttr_by_host(timestamptz, timestamptz)
  TO admin, dashboard_readonly, analyst;
