"""Alerts and anomaly episodes that started in the period, and the mean time to resolve those of
them that were resolved (MTTR; still-open ones are counted, not timed)."""

from __future__ import annotations

from typing import Any

import psycopg

from digest.model import Context, Fact, Section, Table
from digest.sections._sql import rows

KEY = "alerts"
TITLE = "Alerts and anomalies"
ANOMALY = "labels ->> 'source' = 'sru-optimizer'"
SHOWN = 15


def available(conn: psycopg.Connection) -> bool:
    return True


def build(ctx: Context) -> Section | None:
    got = rows(ctx.conn, f"""
        SELECT alert_name, system_id, severity, coalesce({ANOMALY}, false) AS anomaly, triggered_at, resolved_at
          FROM alert_logs WHERE triggered_at >= %s AND triggered_at < %s""", (ctx.period.start, ctx.period.end))
    alerts = [r for r in got if not r["anomaly"]]
    episodes = [r for r in got if r["anomaly"]]
    resolved = [(r["resolved_at"] - r["triggered_at"]).total_seconds() / 60 for r in alerts if r["resolved_at"]]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for r in alerts:
        by_rule.setdefault(r["alert_name"], []).append(r)
    ranked = sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0]))

    def mttr(rs: list[dict[str, Any]]) -> float | None:
        ts = [(r["resolved_at"] - r["triggered_at"]).total_seconds() / 60 for r in rs if r["resolved_at"]]
        return round(sum(ts) / len(ts), 1) if ts else None

    table = Table(["Alert", "Fired", "Critical", "Still open", "MTTR (min)"],
                  [[name, len(rs), sum(1 for r in rs if r["severity"] == "critical"),
                    sum(1 for r in rs if r["resolved_at"] is None), mttr(rs)] for name, rs in ranked[:SHOWN]],
                  [0, 0, 0, 0, 1], [ctx.url(f"/alerts?state=all&rule={name}") for name, _ in ranked[:SHOWN]],
                  more=max(0, len(ranked) - SHOWN))
    return Section(KEY, TITLE, "Alerts and anomaly episodes that started in the period.",
                   [Fact("alerts", "Alerts fired", len(alerts)),
                    Fact("alerts_critical", "Critical", sum(1 for r in alerts if r["severity"] == "critical")),
                    Fact("alerts_open", "Still open", sum(1 for r in alerts if r["resolved_at"] is None)),
                    Fact("mttr_minutes", "MTTR (minutes)", round(sum(resolved) / len(resolved), 1) if resolved else None,
                         "", 1),
                    Fact("anomaly_episodes", "Anomaly episodes", len(episodes)),
                    Fact("anomaly_hosts", "Hosts with anomalies", len({r["system_id"] for r in episodes}))],
                   table if ranked else None, ctx.url("/alerts?state=all"))
