"""Running a dashboard's SQL the way Grafana would: variables resolved in order (query variables by
running their own query), then each panel query rendered for a time range and executed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from tests.support.grafana.dashboards import Query
from tests.support.grafana.macros import QueryContext, Variable, calculate_interval, parse_interval, render_sql

# What the provisioned TimescaleDB datasource sets as its minimum interval (jsonData.timeInterval).
DATASOURCE_MIN_INTERVAL = "5m"
DEFAULT_MAX_DATA_POINTS = 1000  # a panel about 1000 px wide


def resolve_variables(dashboard: dict[str, Any], conn: psycopg.Connection, time_from: datetime,
                      time_to: datetime) -> dict[str, Variable]:
    """The selection Grafana starts with: "All" where a variable offers it, else the first option."""
    resolved: dict[str, Variable] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        if var["type"] == "custom":
            value = var["current"]["value"]
            resolved[var["name"]] = Variable(var["name"], value, multi=var["multi"],
                                             include_all=var["includeAll"])
            continue
        assert var["type"] == "query", var
        ctx = QueryContext(time_from, time_to, parse_interval(DATASOURCE_MIN_INTERVAL), resolved)
        options = [str(r[0]) for r in conn.execute(render_sql(var["query"], ctx))]
        if not options:
            raise AssertionError(f"variable {var['name']} has no options")
        if var.get("includeAll"):
            resolved[var["name"]] = Variable(var["name"], options, multi=var["multi"], include_all=True,
                                             all_value=var.get("allValue") or None, selected_all=True)
        else:
            resolved[var["name"]] = Variable(var["name"], options[0], multi=var["multi"])
    return resolved


def panel_context(query: Query, variables: dict[str, Variable], time_from: datetime,
                  time_to: datetime) -> QueryContext:
    panel = query.panel or {}
    interval = calculate_interval(time_from, time_to, panel.get("maxDataPoints", DEFAULT_MAX_DATA_POINTS),
                                  panel.get("interval") or DATASOURCE_MIN_INTERVAL)
    return QueryContext(time_from, time_to, interval, variables)


@dataclass
class Result:
    sql: str
    rows: list[tuple[Any, ...]]
    seconds: float


def run_sql(conn: psycopg.Connection, query: Query, ctx: QueryContext) -> Result:
    sql = render_sql(query.text, ctx)
    started = time.perf_counter()
    try:
        rows = conn.execute(sql).fetchall()
    except psycopg.Error as exc:
        raise AssertionError(f"{query.label}: {exc}\n--- rendered SQL ---\n{sql}") from exc
    return Result(sql, rows, time.perf_counter() - started)


def default_range(dashboard: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    text = dashboard["time"]["from"]
    assert text.startswith("now-") and dashboard["time"]["to"] == "now", dashboard["time"]
    return now - parse_interval(text[4:]), now


RANGES = {"6h": timedelta(hours=6), "7d": timedelta(days=7), "30d": timedelta(days=30)}
