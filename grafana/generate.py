#!/usr/bin/env python3
"""Writes grafana/dashboards/*.json from the definitions below.

The dashboards are code so that five dashboards share one set of panel conventions (datasources,
units, thresholds, links) and a change is a reviewable diff; the JSON is committed so Grafana's file
provisioning needs nothing else. `python grafana/generate.py` rewrites the files; `--check` fails when
they are out of date (the tests run it). Edit here, not in the JSON.

Conventions:
* SQL panels read TimescaleDB as the `dashboard_readonly` login of the provisioned datasource
  (uid sru-timescaledb). Time series come from `sru_usage_series()` (sql/040), which picks raw
  samples, hourly_performance_stats or daily performance_summaries from `$__interval`, so a year-long
  range reads summaries, not 5 million raw rows.
* PromQL panels read Prometheus (uid sru-prometheus) for the last hours at scrape resolution; the host
  filter joins `sru_system_info` on (instance, job), the same join the recording rules make, so the
  `host` variable is the hostname everywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"

PROM = {"type": "prometheus", "uid": "sru-prometheus"}
TSDB = {"type": "grafana-postgresql-datasource", "uid": "sru-timescaledb"}
SCHEMA_VERSION = 39
TAGS = ["sru"]

UIDS = {
    "fleet": "sru-fleet-overview",
    "host": "sru-host",
    "alerts": "sru-alerts",
    "recs": "sru-recommendations",
    "users": "sru-users",
}


def dash_url(key: str, extra: str = "") -> str:
    return f"/d/{UIDS[key]}?${{__url_time_range}}{extra}"


HOST_LINK = [{"title": "Host detail", "url": dash_url("host", "&var-host=${__value.raw}")}]

# ---------------------------------------------------------------------------------------------------
# Targets


def sql(raw: str, fmt: str = "table", ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": TSDB, "editorMode": "code", "format": fmt, "rawQuery": True,
            "rawSql": textwrap.dedent(raw).strip()}


def promql(expr: str, legend: str = "__auto", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    return {"refId": ref, "datasource": PROM, "editorMode": "code", "expr": " ".join(expr.split()),
            "legendFormat": legend, "range": not instant, "instant": instant}


def host_join(selector: str, host: str = '"$host"', op: str = "=") -> str:
    """``selector`` restricted to the host(s) of the variable, with the hostname label added."""
    return (f"({selector} * on (instance, job) group_left (hostname) "
            f"sru_system_info{{hostname{op}{host}}})")


# ---------------------------------------------------------------------------------------------------
# Panels

PERCENT_STEPS = [{"color": "green", "value": None}, {"color": "#EAB839", "value": 70},
                 {"color": "red", "value": 90}]


def _panel(kind: str, title: str, targets: list[dict], w: int, h: int, *, ds: dict, unit: str | None,
           description: str, **extra: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    panel = {"type": kind, "title": title, "description": description, "datasource": ds,
             "targets": targets, "gridPos": {"w": w, "h": h},
             "fieldConfig": {"defaults": defaults, "overrides": []}, "options": {}}
    for key, value in extra.items():
        if key == "defaults":
            defaults.update(value)
        elif key == "overrides":
            panel["fieldConfig"]["overrides"] = value
        else:
            panel[key] = value
    return panel


def timeseries(title: str, targets: list[dict], *, unit: str = "percent", w: int = 12, h: int = 8,
               description: str = "", max_: float | None = None, stack: bool = False,
               interval: str | None = None, **extra: Any) -> dict[str, Any]:
    ds = targets[0]["datasource"]
    defaults: dict[str, Any] = {"custom": {"fillOpacity": 10, "showPoints": "never", "spanNulls": False,
                                           "lineWidth": 1}}
    if stack:
        defaults["custom"]["stacking"] = {"mode": "normal", "group": "A"}
    if unit == "percent":
        defaults.update(min=0, max=max_ if max_ is not None else 100)
    p = _panel("timeseries", title, targets, w, h, ds=ds, unit=unit, description=description,
               defaults=defaults, **extra)
    p["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}}
    if ds == TSDB:
        # One raw sample every 5 minutes: narrower buckets would only show gaps.
        p["interval"] = interval or "5m"
    elif interval:
        p["interval"] = interval
    return p


def stat(title: str, targets: list[dict], *, unit: str | None = None, w: int = 4, h: int = 4,
         description: str = "", steps: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    p = _panel("stat", title, targets, w, h, ds=targets[0]["datasource"], unit=unit,
               description=description,
               defaults={"thresholds": {"mode": "absolute",
                                        "steps": steps or [{"color": "blue", "value": None}]},
                         "color": {"mode": "thresholds"}}, **extra)
    p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "textMode": "value"}
    return p


def table(title: str, targets: list[dict], *, w: int = 24, h: int = 9, description: str = "",
          overrides: list[dict] | None = None, sort: list[dict] | None = None,
          **extra: Any) -> dict[str, Any]:
    p = _panel("table", title, targets, w, h, ds=targets[0]["datasource"], unit=None,
               description=description, overrides=overrides or [], **extra)
    p["options"] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    if sort:
        p["options"]["sortBy"] = sort
    return p


def barchart(title: str, targets: list[dict], *, unit: str | None = None, w: int = 12, h: int = 8,
             description: str = "", **extra: Any) -> dict[str, Any]:
    p = _panel("barchart", title, targets, w, h, ds=targets[0]["datasource"], unit=unit,
               description=description, **extra)
    p["options"] = {"orientation": "horizontal", "showValue": "auto", "xTickLabelRotation": 0,
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
    return p


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


def link_column(name: str, links: list[dict]) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": "links", "value": links}]}


def unit_column(name: str, unit: str, gauge: bool = False) -> dict[str, Any]:
    props: list[dict[str, Any]] = [{"id": "unit", "value": unit}]
    if unit == "percent":
        props += [{"id": "min", "value": 0}, {"id": "max", "value": 100},
                  {"id": "thresholds", "value": {"mode": "absolute", "steps": PERCENT_STEPS}}]
        if gauge:
            props.append({"id": "custom.cellOptions", "value": {"type": "gauge", "mode": "basic"}})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def color_text(name: str, mapping: dict[str, str]) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [
                {"id": "mappings", "value": [{"type": "value", "options": {
                    k: {"color": c, "index": i} for i, (k, c) in enumerate(mapping.items())}}]},
                {"id": "custom.cellOptions", "value": {"type": "color-text"}}]}


SEVERITY_COLORS = {"critical": "red", "high": "orange", "warning": "orange", "medium": "yellow",
                   "low": "blue", "info": "blue"}
STATE_COLORS = {"up": "green", "offline": "red", "maintenance": "blue", "retired": "gray"}


# ---------------------------------------------------------------------------------------------------
# Variables


def query_var(name: str, label: str, query: str, *, multi: bool = False, include_all: bool = False,
              refresh: int = 1) -> dict[str, Any]:
    """A variable filled by SQL; ``refresh`` 1 = on dashboard load, 2 = on time range change."""
    return {"type": "query", "name": name, "label": label, "datasource": TSDB, "query": query,
            "definition": query, "refresh": refresh, "multi": multi, "includeAll": include_all,
            "sort": 1, "current": {}, "options": [], "hide": 0}


def custom_var(name: str, label: str, values: list[str], *, default: list[str] | None = None,
               include_all: bool = True) -> dict[str, Any]:
    chosen = default or values
    return {"type": "custom", "name": name, "label": label, "query": ",".join(values),
            "multi": True, "includeAll": include_all,
            "current": {"text": chosen, "value": chosen},
            "options": [{"text": v, "value": v, "selected": v in chosen} for v in values], "hide": 0}


HOSTS_MULTI = query_var("host", "Host", "SELECT hostname FROM systems WHERE status <> 'retired' ORDER BY 1",
                        multi=True, include_all=True)
HOST_SINGLE = query_var("host", "Host", "SELECT hostname FROM systems ORDER BY 1")


# ---------------------------------------------------------------------------------------------------
# Dashboards


def dashboard(key: str, title: str, description: str, panels: list[dict], variables: list[dict],
              time_from: str = "now-7d", refresh: str = "5m") -> dict[str, Any]:
    _layout(panels)
    return {
        "uid": UIDS[key], "title": title, "description": description, "tags": TAGS,
        "editable": True, "graphTooltip": 1, "schemaVersion": SCHEMA_VERSION, "version": 1,
        "timezone": "browser", "refresh": refresh, "time": {"from": time_from, "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False,
        "links": [{"title": "sru dashboards", "type": "dashboards", "tags": TAGS, "asDropdown": True,
                   "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables},
        "panels": panels,
    }


def _layout(panels: list[dict]) -> None:
    """Ids in order and grid positions left to right, wrapping at 24 columns."""
    x = y = line_h = 0
    for i, p in enumerate(panels, start=1):
        p["id"] = i
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24 or p["type"] == "row":
            x, y, line_h = 0, y + line_h, 0
        p["gridPos"].update(x=x, y=y)
        x += w
        line_h = max(line_h, h)
        if p["type"] == "row":
            x, y, line_h = 0, y + h, 0


SERIES = "sru_usage_series($__timeFrom(), $__timeTo(), $__interval_ms * interval '1 ms', ARRAY[{hosts}]::text[])"
FLEET_SERIES = SERIES.format(hosts="$host")
HOST_SERIES = SERIES.format(hosts="'$host'")
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
    panels: list[dict] = []
    for title, state, color in state_counts:
        panels.append(stat(f"Hosts {title.lower()}", [sql(
            f"SELECT count(*) AS hosts FROM sru_host_status WHERE state = '{state}' AND hostname IN ($host)")],
            w=3, steps=[{"color": "gray" if state != "up" else "red", "value": None},
                        {"color": color, "value": 1}],
            description=f"Hosts whose state is {state}: up = data in the last 15 minutes; maintenance "
                        "and retired are set by an admin in systems.status."))
    panels += [
        stat("Under-utilised", [sql("""
            SELECT count(DISTINCT p.system_id) AS hosts
              FROM performance_summaries p JOIN systems s ON s.id = p.system_id
             WHERE p.period_type = 'daily' AND p.is_underutilized
               AND p.period_start >= $__timeFrom() AND p.period_start < $__timeTo()
               AND s.hostname IN ($host)""")], w=3,
             steps=[{"color": "green", "value": None}, {"color": "#EAB839", "value": 1}],
             description="Hosts flagged under-utilised in at least one daily summary of the range "
                         "(optimizer, performance_summaries)."),
        stat("Over-utilised", [sql("""
            SELECT count(DISTINCT p.system_id) AS hosts
              FROM performance_summaries p JOIN systems s ON s.id = p.system_id
             WHERE p.period_type = 'daily' AND p.is_overutilized
               AND p.period_start >= $__timeFrom() AND p.period_start < $__timeTo()
               AND s.hostname IN ($host)""")], w=3,
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
             description="Hosts flagged over-utilised in at least one daily summary of the range."),
        stat("Alerts firing (Prometheus)", [promql('count(ALERTS{alertstate="firing"}) or vector(0)',
                                                   instant=True)], w=3,
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
             description="Alerts Prometheus evaluates as firing right now."),
        stat("Open alerts (stored)", [sql("""
            SELECT count(*) AS alerts FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NULL AND (s.hostname IN ($host) OR a.system_id IS NULL)""")], w=3,
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
             description="Unresolved rows of alert_logs, as the alert receiver stored them.",
             links=[{"title": "Alerts", "url": dash_url("alerts")}]),
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
              overrides=[link_column("Host", HOST_LINK), color_text("Severity", SEVERITY_COLORS)]),
    ]
    return dashboard("fleet", "sru / Fleet overview",
                     "Every host at a glance: state, current use, utilisation over the range, top "
                     "consumers, alerts.", panels, [HOSTS_MULTI], time_from="now-7d", refresh="1m")


def _heatmap(title: str, column: str) -> dict[str, Any]:
    # status-history: one row per host, one cell per bucket, coloured by value: a heat map by host.
    p = _panel("status-history", title, [sql(f"""
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
    # A few hundred cells per host are all a screen can show; fewer points also means coarser
    # buckets and so the cheaper source.
    p["maxDataPoints"] = 150
    return p


def host_detail() -> dict[str, Any]:
    cpu_busy = ('100 * (1 - sum by (hostname) ({rate_idle}) / sum by (hostname) ({rate_all}))')
    rate_sel = 'rate(sru_cpu_seconds_total{{mode{m}}}[$__rate_interval])'
    idle = host_join(rate_sel.format(m='=~"idle|iowait"'))
    all_modes = host_join(rate_sel.format(m='!~"guest|guest_nice"'))
    per_core = ('100 * (1 - sum by (hostname, cpu) ({idle}) / sum by (hostname, cpu) ({all}))'
                .format(idle=idle, all=all_modes))
    panels: list[dict] = [
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
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], w=12,
                   overrides=[{"matcher": {"id": "byName", "options": "load 1m"}, "properties": [
                       {"id": "unit", "value": "short"}, {"id": "custom.axisPlacement", "value": "right"},
                       {"id": "max"}, {"id": "min", "value": 0}]}]),
        timeseries("Memory", [sql(f"""
            SELECT "time", ram_percent AS "RAM avg", max_ram_percent AS "RAM max", swap_percent AS "swap"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], w=12),
        timeseries("GPU", [sql(f"""
            SELECT "time", gpu_utilization AS "GPU busy", gpu_memory_percent AS "GPU memory"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], w=8),
        timeseries("Disk", [sql(f"""
            SELECT "time", disk_read_mb_s AS "read", disk_write_mb_s AS "write"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], unit="MBs", w=8),
        timeseries("Network", [sql(f"""
            SELECT "time", net_recv_mb_s AS "received", net_sent_mb_s AS "sent"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], unit="MBs", w=8),
        timeseries("Temperatures", [sql(f"""
            SELECT "time", cpu_temp AS "CPU", gpu_temp AS "GPU"
              FROM {HOST_SERIES} ORDER BY 1""", fmt="time_series")], unit="celsius", w=12),
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
              overrides=[color_text("Severity", SEVERITY_COLORS)]),
        table("Recommendations for this host", [sql("""
            SELECT r.priority_score AS "Priority", r.severity AS "Severity", r.report_type AS "Type",
                   r.title AS "Title", r.status AS "Status", r.created_at AS "Created"
              FROM optimization_reports r JOIN systems s ON s.id = r.system_id
             WHERE s.hostname = '$host'
             ORDER BY (r.status = 'pending') DESC, r.priority_score DESC, r.created_at DESC
             LIMIT 50""")], w=12, h=9,
              overrides=[color_text("Severity", SEVERITY_COLORS),
                         link_column("Title", [{"title": "Recommendations",
                                                "url": dash_url("recs", "&var-host=$host")}])]),
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
                     "alerts and recommendations.", panels, [HOST_SINGLE], time_from="now-24h")


def alerts() -> dict[str, Any]:
    where = """(s.hostname IN ($host) OR a.system_id IS NULL) AND a.severity IN ($severity)"""
    mttr = ("avg(a.resolved_at - a.triggered_at)", "percentile_cont(0.5) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM a.resolved_at - a.triggered_at))")
    panels: list[dict] = [
        stat("Open", [sql(f"""SELECT count(*) FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
                             WHERE a.resolved_at IS NULL AND {where}""")],
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
        stat("Open, not acknowledged", [sql(f"""
            SELECT count(*) FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NULL AND NOT a.is_acknowledged AND {where}""")],
             steps=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        stat("Fired in range", [sql(f"""
            SELECT count(*) FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}""")]),
        stat("MTTR in range", [sql(f"""
            SELECT extract(epoch FROM {mttr[0]}) AS mttr
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NOT NULL AND $__timeFilter(a.triggered_at) AND {where}""")], unit="s",
             description="Mean time from firing to resolution of the alerts that fired in the range "
                         "and are resolved."),
        stat("Firing in Prometheus", [promql('count(ALERTS{alertstate="firing", severity=~"$severity"}) '
                                             'or vector(0)', instant=True)], w=8,
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
        table("Active alerts", [sql(f"""
            SELECT a.id AS "Id", a.triggered_at AS "Since", a.severity AS "Severity", a.alert_name AS "Alert",
                   coalesce(s.hostname, a.labels->>'instance') AS "Host", a.actual_value AS "Value",
                   a.threshold_value AS "Threshold", a.annotations->>'summary' AS "Summary",
                   a.is_acknowledged AS "Acknowledged", a.acknowledged_by AS "By",
                   a.acknowledged_at AS "At"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NULL AND {where}
             ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                      a.triggered_at DESC LIMIT 200""")], h=8,
              description="Acknowledge with `sru alerts ack ID --by NAME` (or the receiver's ack API).",
              overrides=[link_column("Host", HOST_LINK), color_text("Severity", SEVERITY_COLORS)]),
        table("Firing in Prometheus now", [promql('ALERTS{alertstate="firing", severity=~"$severity"}',
                                                  instant=True)], h=6,
              description="What Prometheus evaluates right now, before Alertmanager and the receiver.",
              transformations=[{"id": "labelsToFields", "options": {"mode": "columns"}},
                               {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True,
                                                                                 "__name__": True}}}]),
        timeseries("Alerts fired per bucket", [sql(f"""
            SELECT $__timeGroupAlias(a.triggered_at, $__interval), a.severity AS metric, count(*) AS value
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}
             GROUP BY 1, 2 ORDER BY 1""", fmt="time_series")], unit="short", stack=True, interval="1h",
                   w=24, h=7),
        table("Recent alerts", [sql(f"""
            SELECT a.triggered_at AS "Triggered", a.resolved_at AS "Resolved",
                   a.resolved_at - a.triggered_at AS "Duration", a.severity AS "Severity",
                   a.alert_name AS "Alert", coalesce(s.hostname, a.labels->>'instance') AS "Host",
                   a.actual_value AS "Value", a.is_acknowledged AS "Acknowledged", a.acknowledged_by AS "By"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}
             ORDER BY a.triggered_at DESC LIMIT 500""")], h=10,
              overrides=[link_column("Host", HOST_LINK), color_text("Severity", SEVERITY_COLORS)]),
        table("MTTR by rule", [sql(f"""
            SELECT a.alert_name AS "Alert", count(*) AS "Fired",
                   count(a.resolved_at) AS "Resolved",
                   extract(epoch FROM {mttr[0]}) AS "MTTR",
                   {mttr[1]} AS "Median",
                   avg(extract(epoch FROM a.acknowledged_at - a.triggered_at)) AS "Mean time to ack"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}
             GROUP BY a.alert_name ORDER BY 4 DESC NULLS LAST""")], w=12,
              overrides=[unit_column(c, "s") for c in ("MTTR", "Median", "Mean time to ack")]),
        table("MTTR by host", [sql(f"""
            SELECT coalesce(s.hostname, a.labels->>'instance', '(unknown)') AS "Host", count(*) AS "Fired",
                   count(a.resolved_at) AS "Resolved",
                   extract(epoch FROM {mttr[0]}) AS "MTTR",
                   {mttr[1]} AS "Median"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}
             GROUP BY 1 ORDER BY 4 DESC NULLS LAST""")], w=12,
              overrides=[link_column("Host", HOST_LINK), *(unit_column(c, "s") for c in ("MTTR", "Median"))]),
    ]
    severity = custom_var("severity", "Severity", ["critical", "warning", "info"])
    return dashboard("alerts", "sru / Alerts",
                     "Active and recent alerts from alert_logs (acknowledged or not), what Prometheus fires "
                     "now, and mean time to resolution by rule and by host.",
                     panels, [HOSTS_MULTI, severity], time_from="now-30d")


def recommendations() -> dict[str, Any]:
    where = ("r.status IN ($status) AND r.report_type IN ($type) "
             "AND (s.hostname IN ($host) OR r.system_id IS NULL)")
    panels: list[dict] = []
    for sev, color in (("critical", "red"), ("high", "orange"), ("medium", "yellow"), ("low", "blue")):
        panels.append(stat(sev.capitalize(), [sql(f"""
            SELECT count(*) FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
             WHERE r.severity = '{sev}' AND {where}""")], w=6,
                           steps=[{"color": "gray", "value": None}, {"color": color, "value": 1}]))
    panels += [
        table("Recommendations by priority", [sql(f"""
            SELECT r.priority_score AS "Priority", r.severity AS "Severity", r.report_type AS "Type",
                   s.hostname AS "Host", r.title AS "Title", r.status AS "Status",
                   coalesce(r.recommendations->>'evidence', r.recommendations::text) AS "Evidence",
                   r.created_at AS "Created", r.status_changed_by AS "Decided by",
                   r.status_changed_at AS "Decided at", r.id::text AS "Id"
              FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
             WHERE {where}
             ORDER BY r.priority_score DESC,
                      CASE r.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
                      r.created_at DESC
             LIMIT 500""")], h=14,
              description="Act on a report with `sru reports approve|reject|implement ID --by NAME`; "
                          "the evidence column holds the numbers behind it (JSON).",
              overrides=[link_column("Host", HOST_LINK), color_text("Severity", SEVERITY_COLORS),
                         {"matcher": {"id": "byName", "options": "Evidence"},
                          "properties": [{"id": "custom.inspect", "value": True},
                                         {"id": "custom.width", "value": 420}]}]),
        barchart("By type and status", [sql("""
            SELECT r.report_type AS "Type",
                   count(*) FILTER (WHERE r.status = 'pending') AS "pending",
                   count(*) FILTER (WHERE r.status = 'approved') AS "approved",
                   count(*) FILTER (WHERE r.status = 'implemented') AS "implemented",
                   count(*) FILTER (WHERE r.status = 'rejected') AS "rejected"
              FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
             WHERE r.report_type IN ($type) AND (s.hostname IN ($host) OR r.system_id IS NULL)
             GROUP BY 1 ORDER BY 1""")], w=12),
        table("Hosts with most open recommendations", [sql(f"""
            SELECT s.hostname AS "Host", count(*) AS "Reports", max(r.priority_score) AS "Top priority",
                   string_agg(DISTINCT r.report_type, ', ') AS "Types"
              FROM optimization_reports r JOIN systems s ON s.id = r.system_id
             WHERE {where}
             GROUP BY s.hostname ORDER BY 3 DESC, 2 DESC LIMIT 20""")], w=12, h=8,
              overrides=[link_column("Host", HOST_LINK)]),
    ]
    variables = [
        custom_var("status", "Status", ["pending", "approved", "implemented", "rejected"],
                   default=["pending", "approved"]),
        custom_var("type", "Type", ["hardware_upgrade", "reallocation", "configuration"]),
        HOSTS_MULTI,
    ]
    return dashboard("recs", "sru / Recommendations",
                     "The optimizer's reports ranked by priority, with severity, type, evidence and "
                     "workflow status.", panels, variables, time_from="now-30d", refresh="")


def users() -> dict[str, Any]:
    user_where = "coalesce(u.department, '(none)') IN ($department) AND u.username IN ($user)"
    in_range = "us.login_time < $__timeTo() AND coalesce(us.logout_time, now()) > $__timeFrom()"
    # Session time clipped to the range, in hours.
    hours = ("sum(extract(epoch FROM least(coalesce(us.logout_time, now()), $__timeTo()::timestamptz)"
             " - greatest(us.login_time, $__timeFrom()::timestamptz))) / 3600")
    panels: list[dict] = [
        stat("Active sessions", [sql(f"""
            SELECT count(*) FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE us.is_active AND {user_where}""")], w=6),
        stat("Users with sessions in range", [sql(f"""
            SELECT count(DISTINCT us.user_id) FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}""")], w=6),
        stat("Session hours in range", [sql(f"""
            SELECT {hours} FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}""")], unit="h", w=6),
        stat("Logged in now (Prometheus)", [promql("count(sru_session_login_time_seconds) or vector(0)",
                                                   instant=True)], w=6),
        barchart("Session hours by user", [sql(f"""
            SELECT u.username AS "User", {hours} AS "hours"
              FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}
             GROUP BY u.username ORDER BY 2 DESC LIMIT 25""")], unit="h"),
        barchart("Session hours by department", [sql(f"""
            SELECT coalesce(u.department, '(none)') AS "Department", {hours} AS "hours"
              FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}
             GROUP BY 1 ORDER BY 2 DESC""")], unit="h"),
        timeseries("Process CPU by user", [sql(f"""
            SELECT $__timeGroupAlias(p."timestamp", $__interval), p.username AS metric,
                   sum(p.cpu_percent) / count(DISTINCT p."timestamp") AS value
              FROM process_snapshots p JOIN users u ON u.username = p.username
             WHERE $__timeFilter(p."timestamp") AND {user_where}
             GROUP BY 1, 2 ORDER BY 1""", fmt="time_series")], unit="percent", max_=None, w=12,
                   interval="1h", stack=True,
                   description="CPU of the users' top processes in percent of one core, summed over "
                               "hosts (process snapshots keep the top processes only)."),
        timeseries("Process memory by user", [sql(f"""
            SELECT $__timeGroupAlias(p."timestamp", $__interval), p.username AS metric,
                   sum(p.memory_mb) / count(DISTINCT p."timestamp") AS value
              FROM process_snapshots p JOIN users u ON u.username = p.username
             WHERE $__timeFilter(p."timestamp") AND {user_where}
             GROUP BY 1, 2 ORDER BY 1""", fmt="time_series")], unit="decmbytes", w=12, interval="1h",
                   stack=True),
        table("Resource use by user", [sql(f"""
            SELECT u.username AS "User", coalesce(u.department, '(none)') AS "Department",
                   count(*) AS "Sessions", {hours} AS "Hours",
                   count(DISTINCT us.system_id) AS "Hosts",
                   max(us.peak_cpu_usage) AS "Peak CPU", max(us.peak_ram_usage) AS "Peak RAM",
                   avg(us.peak_cpu_usage) AS "Avg peak CPU"
              FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}
             GROUP BY u.username, u.department ORDER BY 4 DESC""")], w=12, h=10,
              overrides=[unit_column("Hours", "h"),
                         *(unit_column(c, "percent") for c in ("Peak CPU", "Peak RAM", "Avg peak CPU"))]),
        table("Resource use by department", [sql(f"""
            SELECT coalesce(u.department, '(none)') AS "Department", count(DISTINCT u.id) AS "Users",
                   count(*) AS "Sessions", {hours} AS "Hours", count(DISTINCT us.system_id) AS "Hosts",
                   avg(us.peak_cpu_usage) AS "Avg peak CPU", avg(us.peak_ram_usage) AS "Avg peak RAM"
              FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}
             GROUP BY 1 ORDER BY 4 DESC""")], w=12, h=10,
              overrides=[unit_column("Hours", "h"),
                         *(unit_column(c, "percent") for c in ("Avg peak CPU", "Avg peak RAM"))]),
        table("Sessions", [sql(f"""
            SELECT us.login_time AS "Login", us.logout_time AS "Logout", u.username AS "User",
                   coalesce(u.department, '(none)') AS "Department", s.hostname AS "Host",
                   us.terminal AS "Terminal", us.remote_host AS "From",
                   us.session_duration_minutes AS "Minutes", us.peak_cpu_usage AS "Peak CPU",
                   us.peak_ram_usage AS "Peak RAM", us.active_processes::text AS "Processes"
              FROM user_sessions us JOIN users u ON u.id = us.user_id JOIN systems s ON s.id = us.system_id
             WHERE {in_range} AND {user_where}
             ORDER BY us.login_time DESC LIMIT 500""")], h=10,
              overrides=[link_column("Host", HOST_LINK), unit_column("Minutes", "m"),
                         unit_column("Peak CPU", "percent"), unit_column("Peak RAM", "percent")]),
    ]
    variables = [
        query_var("department", "Department",
                  "SELECT DISTINCT coalesce(department, '(none)') FROM users ORDER BY 1",
                  multi=True, include_all=True),
        query_var("user", "User",
                  "SELECT username FROM users WHERE coalesce(department, '(none)') IN ($department) ORDER BY 1",
                  multi=True, include_all=True),
    ]
    return dashboard("users", "sru / Users", "Sessions and resource use by user and department.",
                     panels, variables, time_from="now-7d", refresh="")


DASHBOARDS = {
    "fleet-overview.json": fleet_overview,
    "host-detail.json": host_detail,
    "alerts.json": alerts,
    "recommendations.json": recommendations,
    "users.json": users,
}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed JSON is out of date")
    args = ap.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            OUT.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
