"""The consolidation plan's candidates (issue 20, optimizer/plan_store.py): the newest plan stored
before the digest was built — how many hosts could go, what that frees, and each candidate's
report with its workflow status."""

from __future__ import annotations

import psycopg

from digest.model import Context, Fact, Section, Table
from digest.sections._sql import has_relation, rows

KEY = "plan"
TITLE = "Consolidation plan"
SHOWN = 15


def available(conn: psycopg.Connection) -> bool:
    return has_relation(conn, "consolidation_plans")


def build(ctx: Context) -> Section | None:
    plans = rows(ctx.conn, "SELECT id, planned_at, summary FROM consolidation_plans WHERE planned_at <= %s "
                           "ORDER BY planned_at DESC, created_at DESC LIMIT 1", (ctx.now,))
    if not plans:
        return Section(KEY, TITLE, "No consolidation plan has been made yet.",
                       [Fact("plan_candidates", "Hosts that could go", None)], None, ctx.url("/plan"))
    p = plans[0]
    reports = rows(ctx.conn, """
        SELECT r.id, s.hostname, r.status, r.recommendations -> 'targets' AS targets,
               (r.recommendations -> 'saving' ->> 'cpu_cores')::float AS cores,
               (r.recommendations -> 'saving' ->> 'ram_gb')::float AS ram_gb,
               (r.recommendations -> 'saving' ->> 'gpus')::int AS gpus
          FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
         WHERE r.plan_id = %s AND r.recommendations ->> 'kind' = 'consolidation' AND r.status <> 'rejected'
         ORDER BY s.hostname""", (p["id"],))
    table = Table(["Host", "Load moves to", "Status", "Cores", "RAM GB", "GPUs"],
                  [[r["hostname"] or "—", ", ".join(r["targets"] or []), r["status"], r["cores"], r["ram_gb"],
                    r["gpus"]] for r in reports[:SHOWN]], [0, 0, 0, 0, 0, 0],
                  [ctx.url(f"/recommendations/{r['id']}") for r in reports[:SHOWN]], more=max(0, len(reports) - SHOWN))
    return Section(KEY, TITLE, f"The plan of {p['planned_at']:%Y-%m-%d} (the newest): hosts whose measured load "
                               "fits on the others.",
                   [Fact("plan_candidates", "Hosts that could go", len(reports)),
                    Fact("plan_pending", "Of them waiting for a decision", sum(r["status"] == "pending" for r in reports)),
                    Fact("plan_cores", "CPU cores freed", sum(r["cores"] or 0 for r in reports)),
                    Fact("plan_ram_gb", "RAM GB freed", sum(r["ram_gb"] or 0 for r in reports)),
                    Fact("plan_gpus", "GPUs freed", sum(r["gpus"] or 0 for r in reports))],
                   table if reports else None, ctx.url("/plan"))
