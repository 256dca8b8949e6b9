"""Fleet utilisation of the period: mean CPU, RAM and GPU per local day over every host's hourly
stats (the chart), and how many hosts reported."""

from __future__ import annotations

from typing import Any

import psycopg

from digest.model import Context, Fact, Section, Table
from digest.sections._sql import r1, rows

KEY = "overview"
TITLE = "Fleet utilisation"
SERIES = (("cpu", "CPU"), ("ram", "RAM"), ("gpu", "GPU"))


def available(conn: psycopg.Connection) -> bool:
    return True


def daily_means(ctx: Context) -> list[dict[str, Any]]:
    """One row per local day of the period: the mean of the hourly means of every host."""
    got = {r["day"]: r for r in rows(ctx.conn, """
        SELECT (bucket AT TIME ZONE %(tz)s)::date AS day, avg(avg_cpu_percent) AS cpu,
               avg(avg_ram_percent) AS ram, avg(avg_gpu_utilization) AS gpu, count(DISTINCT system_id) AS hosts
          FROM hourly_performance_stats WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1""",
        {"tz": ctx.period.zone, "start": ctx.period.start, "end": ctx.period.end})}
    return [{"day": d, **{k: r1(got[d][k]) if d in got else None for k, _ in SERIES}}
            for d in ctx.period.days()]


def build(ctx: Context) -> Section | None:
    days = daily_means(ctx)
    hosts = ctx.conn.execute(
        "SELECT count(DISTINCT system_id), avg(avg_cpu_percent), avg(avg_ram_percent), avg(avg_gpu_utilization) "
        "FROM hourly_performance_stats WHERE bucket >= %s AND bucket < %s",
        (ctx.period.start, ctx.period.end)).fetchone()
    n, cpu, ram, gpu = hosts if hosts else (0, None, None, None)
    table = Table(["Day", "CPU %", "RAM %", "GPU %"],
                  [[f"{d['day']:%a %d %b}", d["cpu"], d["ram"], d["gpu"]] for d in days], [0, 1, 1, 1])
    return Section(KEY, TITLE, "Mean of every host's hourly means, per day of the period.",
                   [Fact("hosts_reporting", "Hosts reporting", n),
                    Fact("cpu_mean", "Mean CPU", r1(cpu), "%", 1),
                    Fact("ram_mean", "Mean RAM", r1(ram), "%", 1),
                    Fact("gpu_mean", "Mean GPU", r1(gpu), "%", 1)],
                   table, ctx.url("/"), chart=KEY)
