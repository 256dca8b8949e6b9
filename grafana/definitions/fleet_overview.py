"""The fleet overview (uid sru-fleet-overview): every host at a glance."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    HOST_LINK,
    HOSTS_MULTI,
    PERCENT_STEPS,
    SERIES,
    SEVERITY_COLORS,
    STATE_COLORS,
    TSDB,
    color_text,
    console_alerts_link,
    console_link,
    dash_url,
    dashboard,
    link_column,
    panel,
    promql,
    row,
    sql,
    stat,
    table,
    unit_column,
)

FLEET_SERIES = SERIES.format(hosts="$host")
# Tables aggregate the whole range, so resolution does not matter: hourly statistics up to a week,
# daily summaries beyond (a year of hourly rows for 50 hosts is 438k rows; of daily ones, 18k).
FLEET_WHOLE_RANGE = FLEET_SERIES.replace(
    "$__interval_ms * interval '1 ms'",
    "CASE WHEN $__timeTo()::timestamptz - $__timeFrom()::timestamptz > interval '7 days' "
    "THEN interval '1 day' ELSE interval '1 hour' END")


def only(series: str, *columns: str) -> str:
    """``series`` computing only ``columns`` (the others come back NULL): most of a fleet query's cost
    is the aggregates of the columns it would not show."""
    return series.replace("::text[])", "::text[], ARRAY[" + ", ".join(f"'{c}'" for c in columns) + "])")


def fleet_overview() -> dict[str, Any]:
    state_counts = [
        ("Up", "up", "green"), ("Offline", "offline", "red"), ("Maintenance", "maintenance", "blue"),
    ]
    panels: list[dict[str, Any]] = []
    for title, state, color in state_counts:
        panels.append(stat(f"Hosts {title.lower()}", [sql(
            f"SELECT count(*) AS hosts FROM sru_host_status WHERE state = '{state}' AND hostname IN ($host)")],
            w=3, steps=[{"color": "gray" if state != "up" else "red", "value": None},
                        {"color": color, "value": 1}],
            description=f"Hosts whose state is {state}: up = data in the last 15 minutes; maintenance "
                        "and retired are set by an admin in systems.status."))
    panels += [
        _flagged("Under-utilised", "is_underutilized", "#EAB839",
                 "Hosts flagged under-utilised in at least one daily summary of the range "
                 "(optimizer, performance_summaries)."),
        _flagged("Over-utilised", "is_overutilized", "red",
                 "Hosts flagged over-utilised in at least one daily summary of the range."),
        stat("Alerts firing (Prometheus)", [promql('count(ALERTS{alertstate="firing"}) or vector(0)',
                                                   instant=True)], w=3,
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
             description="Alerts Prometheus evaluates as firing right now."),
        stat("Open alerts (stored)", [sql("""
            SELECT count(*) AS alerts FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NULL AND (s.hostname IN ($host) OR a.system_id IS NULL)""")], w=3,
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
             description="Unresolved rows of alert_logs, as the alert receiver stored them.",
             links=[{"title": "Alerts", "url": dash_url("alerts")},
                    console_link("Alerts in the sru console", "/alerts")]),
        row("Hosts now"),
        table("Hosts", [sql("""
            SELECT hostname AS "Host", state AS "State", location AS "Location",
                   cpu_percent AS "CPU", ram_percent AS "RAM", swap_percent AS "Swap",
                   gpu_utilization AS "GPU", gpu_memory_percent AS "GPU memory",
                   cpu_temp AS "CPU °C", load_1m AS "Load", last_seen AS "Last seen"
              FROM sru_host_status WHERE hostname IN ($host)
             ORDER BY (state = 'up'), cpu_percent DESC NULLS LAST, hostname""")], h=10,
              description="Every host with its state and its latest sample of the last hour.",
              overrides=[link_column("Host", HOST_LINK), color_text("State", STATE_COLORS),
                         *(unit_column(c, "percent", gauge=True) for c in ("CPU", "RAM", "GPU")),
                         unit_column("Swap", "percent"), unit_column("GPU memory", "percent"),
                         unit_column("CPU °C", "celsius"), unit_column("Last seen", "dateTimeFromNow")]),
        row("Utilisation over the range"),
        _heatmap("CPU utilisation by host", "cpu_percent"),
        _heatmap("RAM utilisation by host", "ram_percent"),
        _heatmap("GPU utilisation by host", "gpu_utilization"),
        row("Top consumers and alerts"),
        table("Top consumers over the range", [sql(f"""
            SELECT hostname AS "Host", avg(cpu_percent) AS "CPU avg", max(max_cpu_percent) AS "CPU max",
                   avg(ram_percent) AS "RAM avg", avg(gpu_utilization) AS "GPU avg",
                   avg(disk_read_mb_s + disk_write_mb_s) AS "Disk MB/s"
              FROM {only(FLEET_WHOLE_RANGE, 'cpu_percent', 'max_cpu_percent', 'ram_percent',
                         'gpu_utilization', 'disk_read_mb_s', 'disk_write_mb_s')}
             GROUP BY hostname
             ORDER BY greatest(avg(cpu_percent), avg(ram_percent), coalesce(avg(gpu_utilization), 0)) DESC
             LIMIT 10""")], w=12, h=10,
              description="The ten hosts with the highest average CPU, RAM or GPU use over the range.",
              overrides=[link_column("Host", HOST_LINK),
                         *(unit_column(c, "percent", gauge=True) for c in ("CPU avg", "RAM avg", "GPU avg")),
                         unit_column("CPU max", "percent"), unit_column("Disk MB/s", "MBs")]),
        table("Active alerts", [sql("""
            SELECT a.triggered_at AS "Since", a.severity AS "Severity", a.alert_name AS "Alert",
                   coalesce(s.hostname, a.labels->>'instance') AS "Host",
                   a.annotations->>'summary' AS "Summary", a.is_acknowledged AS "Acknowledged"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NULL AND (s.hostname IN ($host) OR a.system_id IS NULL)
             ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                      a.triggered_at DESC
             LIMIT 50""")], w=12, h=10,
              description="Unresolved alerts from alert_logs, most severe first.",
              overrides=[link_column("Host", HOST_LINK), color_text("Severity", SEVERITY_COLORS),
                         link_column("Alert", console_alerts_link("${__data.fields.Host}", "firing"))]),
    ]
    return dashboard("fleet", "sru / Fleet overview",
                     "Every host at a glance: state, current use, utilisation over the range, top "
                     "consumers, alerts.", panels, [HOSTS_MULTI], time_from="now-7d", refresh="1m",
                     console=("Fleet in the sru console", "/"))


def _flagged(title: str, flag: str, color: str, description: str) -> dict[str, Any]:
    """Hosts with ``flag`` set in a daily summary of the range."""
    return stat(title, [sql(f"""
        SELECT count(DISTINCT p.system_id) AS hosts
          FROM performance_summaries p JOIN systems s ON s.id = p.system_id
         WHERE p.period_type = 'daily' AND p.{flag}
           AND p.period_start >= $__timeFrom() AND p.period_start < $__timeTo()
           AND s.hostname IN ($host)""")], w=3,
                steps=[{"color": "green", "value": None}, {"color": color, "value": 1}], description=description)


def _heatmap(title: str, column: str) -> dict[str, Any]:
    # status-history: one row per host, one cell per bucket, coloured by value: a heat map by host.
    p = panel("status-history", title, [sql(f"""
        SELECT "time", hostname AS metric, {column} AS value
          FROM {only(FLEET_SERIES, column)}
         ORDER BY 1, 2""", fmt="time_series")], 8, 12, ds=TSDB, unit="percent",
               description=f"Average {column} per host and bucket. Buckets grow with the range: raw "
                           "samples, then hourly statistics, then daily summaries.",
               defaults={"min": 0, "max": 100, "color": {"mode": "continuous-GrYlRd"},
                         "thresholds": {"mode": "absolute", "steps": PERCENT_STEPS}})
    p["options"] = {"showValue": "never", "rowHeight": 0.9, "colWidth": 0.95,
                    "legend": {"showLegend": False}, "tooltip": {"mode": "single"}}
    p["interval"] = "5m"
    # One row per host in half a screen's width: ~50 cells per host are what can be told apart, and
    # fewer points mean coarser buckets, fewer rows and the cheaper source: 3 h buckets over 7 days,
    # 12 h over 30 (hourly stats), 7 days over a year (daily summaries): 2,650-3,050 rows for 50
    # hosts instead of 6,050-18,250 with 150 points (bench/README.md, Dashboards).
    p["maxDataPoints"] = 50
    return p
