"""`sru db maintain`: the data lifecycle where the server has no TimescaleDB policies — retention
(drop_chunks on hypertables, DELETE on plain tables; skipped where a retention policy exists), the
optimizer's rollups (an incremental pass), and ANALYZE. Runs as ``admin`` (the retention and ANALYZE
functions are SECURITY DEFINER, granted to admin only)."""

from __future__ import annotations

from datetime import timedelta

from optimizer.run import RunResult, run_once


def maintain(url: str, *, raw_retention: timedelta = timedelta(days=365),
             hourly_retention: timedelta = timedelta(days=3 * 365), rollups: bool = True) -> list[str]:
    from sru.db import connect, schema_tier

    lines = []
    with connect(url, application_name="sru-maintain") as conn:
        tier = schema_tier(conn)
        lines.append(f"tier: {tier}")
        for relation, method, removed in conn.execute("SELECT * FROM sru_apply_retention(%s, %s)",
                                                      (raw_retention, hourly_retention)).fetchall():
            outcome = {"drop_chunks": f"{removed} chunks dropped", "delete": f"{removed} rows deleted",
                       "policy": "(TimescaleDB policy)"}[method]
            lines.append(f"retention {relation}: {outcome}")
        conn.commit()
    if rollups:
        result: RunResult = run_once(url)
        lines.append(result.describe())
    with connect(url, application_name="sru-maintain") as conn:
        conn.execute("SELECT sru_analyze()")
        conn.commit()
    lines.append("analyzed")
    return lines
