"""Top users of the period by CPU core-hours (issue 19's ledger), with GPU-hours, GPU-hours held idle
and the change from the period before; in a department's digest, that department's users. Per-user
rows need a role in personal_usage_reader (analyst, and so digest_sender, is one)."""

from __future__ import annotations

import psycopg

from digest.model import Context, Fact, Section, Table
from digest.sections import usage

KEY = "top_users"
TITLE = "Top users"
DEPARTMENT = True
SHOWN = 10


def available(conn: psycopg.Connection) -> bool:
    return usage.available(conn)


def build(ctx: Context) -> Section | None:
    from optimizer.usage import ledger

    prev = ctx.period.previous()
    cur = [r for r in ledger(ctx.conn, "user", ctx.period.start, ctx.period.end).rows
           if ctx.department is None or r.department == ctx.department]
    old = {r.user: r for r in ledger(ctx.conn, "user", prev.start, prev.end).rows}
    cur.sort(key=lambda r: (-r.cpu_core_hours, r.user or ""))
    table = Table(["User", "Department", "Core-h", "Change %", "GPU-h", "GPU-h held idle"],
                  [[r.user or "—", r.department or "unassigned", round(r.cpu_core_hours, 1),
                    usage.change(r.cpu_core_hours, old[r.user].cpu_core_hours if r.user in old else None),
                    round(r.gpu_hours, 1), round(r.gpu_idle_held_hours, 1)] for r in cur[:SHOWN]],
                  [0, 0, 1, 1, 1, 1], [ctx.url("/usage")] * min(SHOWN, len(cur)), more=max(0, len(cur) - SHOWN))
    return Section(KEY, TITLE, "The users with the most CPU core-hours in the period.",
                   [Fact("active_users", "Users with usage", len(cur))], table if cur else None, ctx.url("/usage"))
