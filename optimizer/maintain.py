"""`sru db maintain`: the data lifecycle where the server has no TimescaleDB policies — retention
(drop_chunks on hypertables, DELETE on plain tables; skipped where a retention policy exists), the
optimizer's rollups (an incremental pass), and ANALYZE. On the full tier TimescaleDB's own jobs do
retention, compression and the aggregate's refresh: it reports how each of them last ran. Runs as
``admin`` (the retention and ANALYZE functions are SECURITY DEFINER, granted to admin only)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from optimizer.run import RunResult, run_once

if TYPE_CHECKING:
    import psycopg


def maintain(conn: psycopg.Connection, *, raw_retention: timedelta = timedelta(days=365),
             hourly_retention: timedelta = timedelta(days=3 * 365), rollups: bool = True) -> list[str]:
    """Retention, then an incremental optimizer pass, then ANALYZE, each committed on ``conn``."""
    from sru.db import schema_tier

    tier = schema_tier(conn)
    lines = [f"tier: {tier}"]
    for relation, method, removed in conn.execute("SELECT * FROM sru_apply_retention(%s, %s)",
                                                  (raw_retention, hourly_retention)).fetchall():
        outcome = {"drop_chunks": f"{removed} chunks dropped", "delete": f"{removed} rows deleted",
                   "policy": "(TimescaleDB policy)"}[method]
        lines.append(f"retention {relation}: {outcome}")
    if tier == "full":
        lines += _policy_lines(conn)
    conn.commit()
    if rollups:
        result: RunResult = run_once(conn)
        lines.append(result.describe())
    conn.execute("SELECT sru_analyze()")
    conn.commit()
    lines.append("analyzed")
    return lines


def _policy_lines(conn: psycopg.Connection) -> list[str]:
    """One line per TimescaleDB policy job: what it does, when it last ran and how, when it runs
    next; and how much compression has saved so far."""
    lines = []
    for proc, relation, config, status, last, next_start, failures in conn.execute("""
            SELECT j.proc_name, coalesce(ca.view_name, j.hypertable_name), j.config,
                   s.last_run_status, s.last_run_started_at, s.next_start, s.total_failures
              FROM timescaledb_information.jobs j
              LEFT JOIN timescaledb_information.job_stats s USING (job_id)
              LEFT JOIN timescaledb_information.continuous_aggregates ca
                ON ca.materialization_hypertable_name = j.hypertable_name
             WHERE j.proc_name LIKE 'policy_%' AND j.hypertable_name IS NOT NULL
             ORDER BY 2, 1""").fetchall():
        what = {"policy_retention": f"retention (drops after {config.get('drop_after')})",
                "policy_compression": f"compression (after {config.get('compress_after')})",
                "policy_refresh_continuous_aggregate": "refresh"}.get(proc, proc)
        ran = f"last run {last:%Y-%m-%d %H:%M} UTC: {status}" if last else "not run yet"
        nxt = f", next {next_start:%Y-%m-%d %H:%M} UTC" if next_start else ""
        fails = f", {failures} failure(s) in all" if failures else ""
        lines.append(f"policy {relation}: {what}; {ran}{nxt}{fails}")
    for table in ("usage_metrics", "process_snapshots", "user_usage_metrics"):
        stats = conn.execute(
            "SELECT s.total_chunks, s.number_compressed_chunks, s.before_compression_total_bytes, "
            "s.after_compression_total_bytes FROM hypertable_compression_stats(%s) s", (table,)).fetchone()
        if stats is None:  # one row for every hypertable, compressed or not
            raise LookupError(f"hypertable_compression_stats({table}) returned no row")
        total, compressed, before, after = stats
        if compressed:
            lines.append(f"compression {table}: {compressed} of {total} chunks compressed, "
                         f"{before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB "
                         f"({100 * (1 - after / before):.0f} % saved)")
        else:
            lines.append(f"compression {table}: none of {total} chunks compressed yet")
    return lines
