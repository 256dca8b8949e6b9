"""Usage per department (issue 19's ledger, optimizer/usage.py): CPU core-hours, GPU-hours, GPU-hours
held idle (a GPU that a job holds without using it: nobody else can) and RAM GB-hours of the period,
with the change from the period before. In a department's digest, that department alone."""

from __future__ import annotations

import psycopg

from digest.model import Context, Fact, Section, Table

KEY = "usage"
TITLE = "Usage by department"
DEPARTMENT = True
SHOWN = 15


def available(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regprocedure('sru_usage_by_department(timestamptz, timestamptz)') IS NOT NULL"
                        ).fetchone() == (True,)


def change(now: float, before: float | None) -> float | None:
    """Percent change from the period before (None without a figure to compare with)."""
    return None if not before else round((now - before) / before * 100, 1)


def build(ctx: Context) -> Section | None:
    from optimizer.usage import ledger

    prev = ctx.period.previous()
    cur = ledger(ctx.conn, "department", ctx.period.start, ctx.period.end).rows
    old = {r.department: r for r in ledger(ctx.conn, "department", prev.start, prev.end).rows}
    if ctx.department is not None:
        cur = [r for r in cur if r.department == ctx.department]
        old = {k: v for k, v in old.items() if k == ctx.department}
    total = sum(r.cpu_core_hours for r in cur)
    total_old = sum(r.cpu_core_hours for r in old.values())
    gpu = sum(r.gpu_hours for r in cur)
    held = sum(r.gpu_idle_held_hours for r in cur)
    table = Table(["Department", "Core-h", "Change %", "GPU-h", "GPU-h held idle", "RAM GB-h"],
                  [[r.department or "unassigned", round(r.cpu_core_hours, 1),
                    change(r.cpu_core_hours, old[r.department].cpu_core_hours if r.department in old else None),
                    round(r.gpu_hours, 1), round(r.gpu_idle_held_hours, 1), round(r.ram_gb_hours, 1)]
                   for r in cur[:SHOWN]], [0, 1, 1, 1, 1, 1],
                  [ctx.url("/usage")] * min(SHOWN, len(cur)), more=max(0, len(cur) - SHOWN))
    return Section(KEY, TITLE, "Core-hours, GPU-hours and RAM GB-hours of the period, and the change from the "
                               "period before.",
                   [Fact("cpu_core_hours", "CPU core-hours", round(total, 1), "", 1),
                    Fact("cpu_core_hours_change", "Change from the period before", change(total, total_old), "%", 1),
                    Fact("gpu_hours", "GPU-hours", round(gpu, 1), "", 1),
                    Fact("gpu_idle_held_hours", "GPU-hours held idle", round(held, 1), "", 1)],
                   table if cur else None, ctx.url("/usage"))
