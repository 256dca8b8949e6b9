"""Forecasts: hosts whose RAM, GPU memory or swap trend reaches its limit within HORIZON_DAYS of
the digest's build time (the forecasts the optimizer's last pass stored: optimizer/forecast.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from digest.model import Context, Fact, Section, Table

KEY = "forecasts"
TITLE = "Forecasts"
HORIZON_DAYS = 30
SHOWN = 15
METRIC_NAMES = {"ram_percent": "RAM", "gpu_memory_percent": "GPU memory", "swap_percent": "swap"}


def available(conn: psycopg.Connection) -> bool:
    return True


def build(ctx: Context) -> Section | None:
    from optimizer import forecast

    names: dict[Any, str] = dict(ctx.conn.execute("SELECT id, hostname FROM systems").fetchall())
    found = []
    for sid, per in forecast.stored(ctx.conn).forecasts.items():
        for metric, f in per.items():
            if f.status != "crossing" or not f.crossing_date:
                continue
            days = max(0, (date.fromisoformat(f.crossing_date[:10]) - ctx.now.date()).days)
            if days <= HORIZON_DAYS:
                found.append((days, names.get(sid, str(sid)), metric, f))
    found.sort(key=lambda x: (x[0], x[1], x[2]))
    table = Table(["Host", "Resource", "Limit %", "Reached on", "In (days)"],
                  [[host, METRIC_NAMES.get(m, m), f.limit, f.crossing_date[:10] if f.crossing_date else None, d]
                   for d, host, m, f in found[:SHOWN]], [0, 0, 0, 0, 0],
                  [ctx.url(f"/hosts/{host}?range=30d") for _, host, _, _ in found[:SHOWN]],
                  more=max(0, len(found) - SHOWN))
    return Section(KEY, TITLE, f"Hosts whose trend reaches a limit within {HORIZON_DAYS} days.",
                   [Fact("hosts_at_limit", f"Hosts reaching a limit within {HORIZON_DAYS} days",
                         len({host for _, host, _, _ in found})),
                    Fact("forecasts_at_limit", "Forecasts reaching a limit", len(found)),
                    Fact("soonest_days", "Soonest (days)", found[0][0] if found else None)],
                   table if found else None, ctx.url("/"))
