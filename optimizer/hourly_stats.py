"""``hourly_performance_stats`` up to date over a range, on every tier.

On plain and apache it is a table that ``sru_rollup_hourly_stats()`` fills inside the caller's
transaction. On full it is a continuous aggregate: late and backfilled samples reach it when it is
refreshed over their hours (sql/008), and a refresh commits by itself, so it must run outside any
transaction, before the work that reads it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg


def refresh_hourly_aggregate(conn: "psycopg.Connection", start: datetime, end: datetime) -> None:
    """Full tier only: refresh the continuous aggregate over the whole hours that meet [start, end).
    Commits what ``conn`` has done so far. Nothing to do on the other tiers."""
    from sru.db import schema_tier

    if schema_tier(conn) != "full":
        return
    conn.commit()
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        # Whole hours: TimescaleDB refreshes only the buckets that lie entirely inside the window.
        conn.execute("CALL refresh_continuous_aggregate('hourly_performance_stats', "
                     "date_trunc('hour', %s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', "
                     "date_trunc('hour', %s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
                     "+ INTERVAL '1 hour')", (start, end))
    finally:
        conn.autocommit = autocommit


def roll_up(conn: "psycopg.Connection", start: datetime, end: datetime) -> int | None:
    """Hourly stats over [start, end) on any tier: the number of hours written or changed on plain
    and apache, None on full (TimescaleDB does not say what a refresh changed)."""
    from sru.db import scalar, schema_tier

    if schema_tier(conn) == "full":
        refresh_hourly_aggregate(conn, start, end)
        return None
    return scalar(conn, "SELECT sru_rollup_hourly_stats(%s, %s)", (start, end))
