"""Waste: idle hosts (under-utilised on at least idle_share of the period's days, the optimizer's
own definition, the one its `consolidate` recommendation uses) and hosts far below what they offer
(a mean utilisation score under FAR_BELOW_SCORE: the score is 100 × the mean over CPU, RAM and GPU of
p95/60 % below 60 %, so under 30 means the hardware's p95 sits under about a fifth of its
capacity; saturated hosts score 50 or more, so a low score is always unused capacity). Both from the
daily summaries whose day starts in the period."""

from __future__ import annotations

from typing import Any

import psycopg

from digest.model import Context, Fact, Section, Table
from digest.sections._sql import r1, rows

KEY = "waste"
TITLE = "Waste"
FAR_BELOW_SCORE = 30.0
SHOWN = 15


def available(conn: psycopg.Connection) -> bool:
    return True


def host_days(ctx: Context) -> list[dict[str, Any]]:
    return rows(ctx.conn, """
        SELECT s.hostname, s.cpu_cores, s.ram_total_gb, s.gpu_count, count(*) AS days,
               count(*) FILTER (WHERE p.is_underutilized) AS idle_days, avg(p.utilization_score) AS score,
               avg(p.avg_cpu_percent) AS cpu, avg(p.avg_ram_percent) AS ram, avg(p.avg_gpu_utilization) AS gpu
          FROM performance_summaries p JOIN systems s ON s.id = p.system_id
         WHERE p.period_type = 'daily' AND p.period_start >= %s AND p.period_start < %s
         GROUP BY s.id ORDER BY s.hostname""", (ctx.period.start, ctx.period.end))


def build(ctx: Context) -> Section | None:
    from optimizer import thresholds

    share = thresholds.load(ctx.conn)["idle_share"]
    hosts = host_days(ctx)
    idle = [h for h in hosts if h["days"] and h["idle_days"] / h["days"] >= share]
    far = [h for h in hosts if h not in idle and h["score"] is not None and h["score"] < FAR_BELOW_SCORE]
    listed = [("idle", h) for h in idle] + [("far below", h) for h in sorted(far, key=lambda h: h["score"])]
    table = Table(["Host", "Why", "Idle days", "Score", "CPU %", "RAM %", "GPU %", "GPUs"],
                  [[h["hostname"], why, f"{h['idle_days']}/{h['days']}", r1(h["score"]), r1(h["cpu"]),
                    r1(h["ram"]), r1(h["gpu"]), h["gpu_count"]] for why, h in listed[:SHOWN]],
                  [0, 0, 0, 1, 1, 1, 1, 0],
                  [ctx.url(f"/hosts/{h['hostname']}?range=7d") for _, h in listed[:SHOWN]],
                  more=max(0, len(listed) - SHOWN))
    gpus = sum(h["gpu_count"] or 0 for h in idle)
    return Section(KEY, TITLE, f"Idle: under-utilised on {share:.0%} of the days or more. Far below: mean "
                               f"utilisation score under {FAR_BELOW_SCORE:.0f}.",
                   [Fact("idle_hosts", "Idle hosts", len(idle)),
                    Fact("idle_gpus", "GPUs in idle hosts", gpus),
                    Fact("far_below_hosts", "Hosts far below what they offer", len(far)),
                    Fact("hosts_judged", "Hosts judged", len(hosts))],
                   table if listed else None, ctx.url("/?sort=score"))
