"""Decisions waiting: the recommendations pending when the digest is built, by priority, each with
its age in days."""

from __future__ import annotations

import psycopg

from digest.model import Context, Fact, Section, Table
from digest.sections._sql import rows

KEY = "decisions"
TITLE = "Decisions waiting"
SHOWN = 15
BANDS = (("high", 8, 10), ("medium", 5, 7), ("low", 1, 4))   # priority_score ranges


def available(conn: psycopg.Connection) -> bool:
    return True


def build(ctx: Context) -> Section | None:
    pending = rows(ctx.conn, """
        SELECT r.id, s.hostname, r.title, r.severity, r.priority_score, r.created_at
          FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
         WHERE r.status = 'pending' AND r.created_at <= %s
         ORDER BY r.priority_score DESC, r.created_at""", (ctx.now,))
    for r in pending:
        r["age_days"] = (ctx.now - r["created_at"]).days
    facts = [Fact("pending", "Pending recommendations", len(pending))]
    facts += [Fact(f"priority_{name}", f"Priority {lo}–{hi} ({name})",
                   sum(1 for r in pending if lo <= r["priority_score"] <= hi)) for name, lo, hi in BANDS]
    facts.append(Fact("oldest_days", "Oldest waits (days)", max((r["age_days"] for r in pending), default=None)))
    table = Table(["Priority", "Host", "Recommendation", "Waiting (days)"],
                  [[r["priority_score"], r["hostname"] or "—", r["title"], r["age_days"]] for r in pending[:SHOWN]],
                  [0, 0, 0, 0], [ctx.url(f"/recommendations/{r['id']}") for r in pending[:SHOWN]],
                  more=max(0, len(pending) - SHOWN), link_col=2)
    return Section(KEY, TITLE, "Recommendations waiting for a decision when this digest was built.",
                   facts, table if pending else None, ctx.url("/recommendations?status=pending"))
