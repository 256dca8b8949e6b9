"""Panel, target and variable builders and the conventions every sru dashboard shares.

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

import textwrap
from typing import Any

from sru.thresholds import shipped

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
    "usage": "sru-usage",
}


def dash_url(key: str, extra: str = "") -> str:
    return f"/d/{UIDS[key]}?${{__url_time_range}}{extra}"



# ---------------------------------------------------------------------------------------------------
# Links to the sru web console (`sru web`). Its base URL differs per site and the JSON is generated
# once for all, so it is a hidden variable read from the database session of Grafana's own login:
# the role setting sru.console_url, set where the logins are created (deploy/postgres/create-logins.sql
# from SRU_WEB_URL, scripts/up.py for make up); unset, the console's default address.
CONSOLE_DEFAULT = "http://localhost:9850"
CONSOLE_URL_QUERY = (f"SELECT rtrim(coalesce(nullif(current_setting('sru.console_url', true), ''), "
                     f"'{CONSOLE_DEFAULT}'), '/')")


def console_link(title: str, path: str) -> dict[str, Any]:
    """A link to ``path`` of the console (a route of web/app.py), opened in a new tab."""
    return {"title": title, "url": "${console_url}" + path, "targetBlank": True}


HOST_LINK = [{"title": "Host detail", "url": dash_url("host", "&var-host=${__value.raw}")},
             console_link("Host in the sru console", "/hosts/${__value.raw}")]


def console_alerts_link(host: str, state: str = "all") -> list[dict[str, Any]]:
    """For an alert-name column: the console's alert list of that rule on ``host`` (where it is
    acknowledged), as the Alertmanager templates link it."""
    return [console_link("Alerts in the sru console", f"/alerts?state={state}&host={host}&rule=${{__value.raw}}")]


def console_id_link(title: str, page: str) -> list[dict[str, Any]]:
    """For an Id column: the console's page of that alert (``page`` alerts) or recommendation."""
    return [console_link(title, f"/{page}/${{__value.raw}}")]

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


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


# Percentages turn amber above the level new hardware is sized for and red where the optimizer calls
# a period over-utilised: the limits of sql/R__sru_thresholds.sql, read when the JSON is generated.
_LIMITS = shipped()
PERCENT_STEPS: list[dict[str, Any]] = [{"color": "green", "value": None},
                 {"color": "#EAB839", "value": _number(_LIMITS["sizing_target_percent"])},
                 {"color": "red", "value": _number(_LIMITS["overutilized_percent"])}]


def panel(kind: str, title: str, targets: list[dict[str, Any]], w: int, h: int, *, ds: dict[str, Any], unit: str | None,
          description: str, **extra: Any) -> dict[str, Any]:
    """Any panel type; ``defaults`` and ``overrides`` go to its fieldConfig, other keys to the panel."""
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    p: dict[str, Any] = {"type": kind, "title": title, "description": description, "datasource": ds,
                         "targets": targets, "gridPos": {"w": w, "h": h},
                         "fieldConfig": {"defaults": defaults, "overrides": []}, "options": {}}
    for key, value in extra.items():
        if key == "defaults":
            defaults.update(value)
        elif key == "overrides":
            p["fieldConfig"]["overrides"] = value
        else:
            p[key] = value
    return p


def timeseries(title: str, targets: list[dict[str, Any]], *, unit: str = "percent", w: int = 12, h: int = 8,
               description: str = "", max_: float | None = None, stack: bool = False,
               interval: str | None = None, **extra: Any) -> dict[str, Any]:
    ds = targets[0]["datasource"]
    defaults: dict[str, Any] = {"custom": {"fillOpacity": 10, "showPoints": "never", "spanNulls": False,
                                           "lineWidth": 1}}
    if stack:
        defaults["custom"]["stacking"] = {"mode": "normal", "group": "A"}
    if unit == "percent":
        defaults.update(min=0, max=max_ if max_ is not None else 100)
    p = panel("timeseries", title, targets, w, h, ds=ds, unit=unit, description=description,
               defaults=defaults, **extra)
    p["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}}
    if ds == TSDB:
        # One raw sample every 5 minutes: narrower buckets would only show gaps.
        p["interval"] = interval or "5m"
    elif interval:
        p["interval"] = interval
    return p


def stat(title: str, targets: list[dict[str, Any]], *, unit: str | None = None, w: int = 4, h: int = 4,
         description: str = "", steps: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    p = panel("stat", title, targets, w, h, ds=targets[0]["datasource"], unit=unit,
               description=description,
               defaults={"thresholds": {"mode": "absolute",
                                        "steps": steps or [{"color": "blue", "value": None}]},
                         "color": {"mode": "thresholds"}}, **extra)
    p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "textMode": "value"}
    return p


def table(title: str, targets: list[dict[str, Any]], *, w: int = 24, h: int = 9, description: str = "",
          overrides: list[dict[str, Any]] | None = None, sort: list[dict[str, Any]] | None = None,
          **extra: Any) -> dict[str, Any]:
    p = panel("table", title, targets, w, h, ds=targets[0]["datasource"], unit=None,
               description=description, overrides=overrides or [], **extra)
    p["options"] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    if sort:
        p["options"]["sortBy"] = sort
    return p


def barchart(title: str, targets: list[dict[str, Any]], *, unit: str | None = None, w: int = 12, h: int = 8,
             description: str = "", **extra: Any) -> dict[str, Any]:
    p = panel("barchart", title, targets, w, h, ds=targets[0]["datasource"], unit=unit,
               description=description, **extra)
    p["options"] = {"orientation": "horizontal", "showValue": "auto", "xTickLabelRotation": 0,
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
    return p


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


def link_column(name: str, links: list[dict[str, Any]]) -> dict[str, Any]:
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
              refresh: int = 1, hide: int = 0) -> dict[str, Any]:
    """A variable filled by SQL; ``refresh`` 1 = on dashboard load, 2 = on time range change;
    ``hide`` 2 = not shown."""
    return {"type": "query", "name": name, "label": label, "datasource": TSDB, "query": query,
            "definition": query, "refresh": refresh, "multi": multi, "includeAll": include_all,
            "sort": 1, "current": {}, "options": [], "hide": hide}


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
CONSOLE_VAR = query_var("console_url", "Console", CONSOLE_URL_QUERY, hide=2)


# ---------------------------------------------------------------------------------------------------
# Dashboards


def dashboard(key: str, title: str, description: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]],
              time_from: str = "now-7d", refresh: str = "5m",
              console: tuple[str, str] = ("sru console", "/")) -> dict[str, Any]:
    """``console``: (title, path) of the header link to the console's page for what this one shows."""
    _layout(panels)
    console_header = {"type": "link", "icon": "external link", "tags": [], "asDropdown": False,
                      "includeVars": False, "keepTime": False, "tooltip": "", **console_link(*console)}
    return {
        "uid": UIDS[key], "title": title, "description": description, "tags": TAGS,
        "editable": True, "graphTooltip": 1, "schemaVersion": SCHEMA_VERSION, "version": 1,
        "timezone": "browser", "refresh": refresh, "time": {"from": time_from, "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False,
        "links": [{"title": "sru dashboards", "type": "dashboards", "tags": TAGS, "asDropdown": True,
                   "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}, console_header],
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": [*variables, CONSOLE_VAR]},
        "panels": panels,
    }


def _layout(panels: list[dict[str, Any]]) -> None:
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


# The usage time series of the hosts in {hosts} (an SQL text[] element list), at the panel's interval.
SERIES = "sru_usage_series($__timeFrom(), $__timeTo(), $__interval_ms * interval '1 ms', ARRAY[{hosts}]::text[])"
