"""The host dashboard (uid sru-host): one host, live from Prometheus and its history from TimescaleDB."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    HOST_SINGLE,
    SERIES,
    SEVERITY_COLORS,
    STATE_COLORS,
    color_text,
    console_alerts_link,
    console_id_link,
    dash_url,
    dashboard,
    host_join,
    link_column,
    promql,
    row,
    sql,
    table,
    timeseries,
    unit_column,
)

HOST_SERIES = SERIES.format(hosts="'$host'")
# History panels ask for at most 300 points (~3 px each on a half-width panel): a year then comes in
# 1-day buckets of the daily summaries (365 rows) rather than 6-hour buckets of a year of hourly
# stats (8,760 rows, each on its own page when the cache is cold: a first query of ~70 ms against a
# median of ~25; bench/README.md, Dashboards); 30 days in 2-hour buckets, a week in 30 minutes.
HISTORY_POINTS = 300


def host_detail() -> dict[str, Any]:
    cpu_busy = ('100 * (1 - sum by (hostname) ({rate_idle}) / sum by (hostname) ({rate_all}))')
    rate_sel = 'rate(sru_cpu_seconds_total{{mode{m}}}[$__rate_interval])'
    idle = host_join(rate_sel.format(m='=~"idle|iowait"'))
    all_modes = host_join(rate_sel.format(m='!~"guest|guest_nice"'))
    per_core = (f'100 * (1 - sum by (hostname, cpu) ({idle}) / sum by (hostname, cpu) ({all_modes}))'
                )
    panels: list[dict[str, Any]] = [
        table("Host", [sql("""
            SELECT hostname AS "Host", state AS "State", location AS "Location", cpu_model AS "CPU",
                   cpu_cores AS "Cores", ram_total_gb AS "RAM GiB", gpu_model AS "GPU",
                   gpu_count AS "GPUs", last_seen AS "Last seen"
              FROM sru_host_status WHERE hostname = '$host'""")], h=4,
              description="The systems row and the host's state.",
              overrides=[color_text("State", STATE_COLORS), unit_column("Last seen", "dateTimeFromNow")]),
        row("Last hours (Prometheus, scrape resolution)"),
        timeseries("CPU", [promql(cpu_busy.format(rate_idle=idle, rate_all=all_modes), "busy"),
                           promql('100 * sum by (hostname) ({s}) / sum by (hostname) ({a})'.format(
                               s=host_join(rate_sel.format(m='="iowait"')), a=all_modes), "iowait", "B")],
                   w=8, description="Busy CPU time of all cores, and the share spent waiting for I/O."),
        timeseries("CPU per core", [promql(per_core, "core {{cpu}}")], w=8,
                   description="Busy time of each logical CPU."),
        timeseries("Memory and swap", [
            promql("100 * (1 - " + host_join("sru_memory_available_bytes") + " / "
                   + host_join("sru_memory_total_bytes") + ")", "RAM"),
            promql("100 * " + host_join("sru_swap_used_bytes") + " / clamp_min("
                   + host_join("sru_swap_total_bytes") + ", 1)", "swap", "B")], w=8),
        timeseries("GPU", [
            promql("100 * " + host_join("sru_gpu_utilization_ratio"), "GPU {{index}} busy"),
            promql("100 * " + host_join("sru_gpu_memory_used_bytes") + " / "
                   + host_join("sru_gpu_memory_total_bytes"), "GPU {{index}} memory", "B")], w=8,
                   description="Per GPU; empty on hosts without NVIDIA GPUs."),
        timeseries("Disk and network", [
            promql("sum by (hostname) (" + host_join("rate(sru_disk_read_bytes_total[$__rate_interval])")
                   + ")", "disk read"),
            promql("sum by (hostname) (" + host_join("rate(sru_disk_written_bytes_total[$__rate_interval])")
                   + ")", "disk write", "B"),
            promql("sum by (hostname) (" + host_join("rate(sru_network_receive_bytes_total[$__rate_interval])")
                   + ")", "net in", "C"),
            promql("sum by (hostname) (" + host_join("rate(sru_network_transmit_bytes_total[$__rate_interval])")
                   + ")", "net out", "D")], unit="Bps", w=8),
        timeseries("Temperatures", [
            promql("max by (hostname) (" + host_join("sru_cpu_temperature_celsius") + ")", "CPU"),
            promql("max by (hostname, index) (" + host_join("sru_gpu_temperature_celsius") + ")",
                   "GPU {{index}}", "B")], unit="celsius", w=8,
                   description="Hottest CPU sensor and each GPU; empty where the host has no sensors."),
        row("History (TimescaleDB: raw under 1 h buckets, hourly stats, then daily summaries)"),
        timeseries("CPU", [sql(f"""
            SELECT "time", cpu_percent AS "CPU avg", max_cpu_percent AS "CPU max",
                   disk_io_wait_percent AS "I/O wait", load_1m AS "load 1m"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], maxDataPoints=HISTORY_POINTS, w=12,
                   overrides=[{"matcher": {"id": "byName", "options": "load 1m"}, "properties": [
                       {"id": "unit", "value": "short"}, {"id": "custom.axisPlacement", "value": "right"},
                       {"id": "max"}, {"id": "min", "value": 0}]}]),
        timeseries("Memory", [sql(f"""
            SELECT "time", ram_percent AS "RAM avg", max_ram_percent AS "RAM max", swap_percent AS "swap"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], maxDataPoints=HISTORY_POINTS, w=12),
        timeseries("GPU", [sql(f"""
            SELECT "time", gpu_utilization AS "GPU busy", gpu_memory_percent AS "GPU memory"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], maxDataPoints=HISTORY_POINTS, w=8),
        timeseries("Disk", [sql(f"""
            SELECT "time", disk_read_mb_s AS "read", disk_write_mb_s AS "write"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], maxDataPoints=HISTORY_POINTS, unit="MBs", w=8),
        timeseries("Network", [sql(f"""
            SELECT "time", net_recv_mb_s AS "received", net_sent_mb_s AS "sent"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], maxDataPoints=HISTORY_POINTS, unit="MBs", w=8),
        timeseries("Temperatures", [sql(f"""
            SELECT "time", cpu_temp AS "CPU", gpu_temp AS "GPU"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], maxDataPoints=HISTORY_POINTS, unit="celsius", w=12),
        timeseries("Logged-in sessions", [sql("""
            SELECT $__timeGroupAlias(g.t, $__interval), count(DISTINCT us.id) AS "sessions"
              FROM generate_series(date_bin($__interval_ms * interval '1 ms', $__timeFrom()::timestamptz,
                                            TIMESTAMPTZ '2000-01-03'),
                                   $__timeTo()::timestamptz, $__interval_ms * interval '1 ms') AS g(t)
              JOIN user_sessions us
                ON us.login_time < g.t + $__interval_ms * interval '1 ms'
               AND coalesce(us.logout_time, 'infinity') > g.t
              JOIN systems s ON s.id = us.system_id
             WHERE s.hostname = '$host'
             GROUP BY 1 ORDER BY 1""", fmt="time_series")], unit="short", w=12, interval="1h",
                   description="Sessions open at some point of each bucket."),
        row("Sessions, processes, alerts, recommendations"),
        table("Sessions", [sql("""
            SELECT us.login_time AS "Login", us.logout_time AS "Logout", u.username AS "User",
                   u.department AS "Department", us.terminal AS "Terminal", us.remote_host AS "From",
                   us.session_duration_minutes AS "Minutes", us.peak_cpu_usage AS "Peak CPU",
                   us.peak_ram_usage AS "Peak RAM", us.is_active AS "Active"
              FROM user_sessions us JOIN systems s ON s.id = us.system_id
              LEFT JOIN users u ON u.id = us.user_id
             WHERE s.hostname = '$host'
               AND us.login_time < $__timeTo() AND coalesce(us.logout_time, 'infinity') > $__timeFrom()
             ORDER BY us.login_time DESC LIMIT 200""")], w=12, h=9,
              overrides=[unit_column("Minutes", "m"), unit_column("Peak CPU", "percent"),
                         unit_column("Peak RAM", "percent")]),
        table("Top processes over the range", [sql("""
            SELECT p.name AS "Process", p.username AS "User", count(*) AS "Snapshots",
                   avg(p.cpu_percent) AS "CPU % avg", max(p.cpu_percent) AS "CPU % max",
                   max(p.memory_mb) AS "Memory MB max", max(p.gpu_memory_mb) AS "GPU memory MB max"
              FROM process_snapshots p JOIN systems s ON s.id = p.system_id
             WHERE s.hostname = '$host' AND $__timeFilter(p."timestamp")
             GROUP BY p.name, p.username
             ORDER BY avg(p.cpu_percent) DESC NULLS LAST LIMIT 20""")], w=12, h=9,
              description="Processes the exporter reported as top by CPU or memory, by name and user. "
                          "CPU % is of one core."),
        table("Alerts of this host", [sql("""
            SELECT a.triggered_at AS "Triggered", a.resolved_at AS "Resolved", a.severity AS "Severity",
                   a.alert_name AS "Alert", a.actual_value AS "Value", a.threshold_value AS "Threshold",
                   a.is_acknowledged AS "Acknowledged", a.acknowledged_by AS "By"
              FROM alert_logs a JOIN systems s ON s.id = a.system_id
             WHERE s.hostname = '$host'
               AND (a.resolved_at IS NULL OR $__timeFilter(a.triggered_at))
             ORDER BY a.triggered_at DESC LIMIT 100""")], w=12, h=9,
              overrides=[color_text("Severity", SEVERITY_COLORS),
                         link_column("Alert", console_alerts_link("${host}"))]),
        table("Recommendations for this host", [sql("""
            SELECT r.priority_score AS "Priority", r.severity AS "Severity", r.report_type AS "Type",
                   r.title AS "Title", r.status AS "Status", r.created_at AS "Created", r.id::text AS "Id"
              FROM optimization_reports r JOIN systems s ON s.id = r.system_id
             WHERE s.hostname = '$host'
             ORDER BY (r.status = 'pending') DESC, r.priority_score DESC, r.created_at DESC
             LIMIT 50""")], w=12, h=9,
              overrides=[color_text("Severity", SEVERITY_COLORS),
                         link_column("Title", [{"title": "Recommendations",
                                                "url": dash_url("recs", "&var-host=$host")}]),
                         link_column("Id", console_id_link("Recommendation in the sru console",
                                                           "recommendations"))]),
        table("Anomaly episodes of this host", [sql("""
            SELECT e.started_at AS "Started", e.ended_at AS "Ended", e.metric AS "Metric", e.kind AS "Kind",
                   e.flagged_hours AS "Hours", e.peak_value AS "Peak", e.baseline_value AS "Baseline",
                   e.score AS "Score", e.severity AS "Severity", e.evidence ->> 'method' AS "Baseline method"
              FROM anomaly_episodes e
             WHERE e.hostname = '$host' AND e.started_at < $__timeTo()
               AND coalesce(e.ended_at, 'infinity') > $__timeFrom()
             ORDER BY e.started_at DESC LIMIT 100""")], w=24, h=8,
              description="What sru optimize found unusual for this host: one row per metric, kind and "
                          "episode (Ended empty while it lasts), from the anomaly_episodes view.",
              overrides=[color_text("Severity", SEVERITY_COLORS)]),
    ]
    return dashboard("host", "sru / Host detail",
                     "One host: live use from Prometheus, history from TimescaleDB, sessions, processes, "
                     "alerts and recommendations.", panels, [HOST_SINGLE], time_from="now-24h",
                     console=("Host in the sru console", "/hosts/${host}"))
