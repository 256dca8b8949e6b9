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


def refresh_hourly_aggregate(conn: psycopg.Connection, start: datetime, end: datetime) -> None:
    """Full tier only: refresh the continuous aggregate over the whole hours that meet [start, end).
    Commits what ``conn`` has done so far. Nothing to do on the other tiers."""
    from sru.db import schema_tier

    if schema_tier(conn) != "full":
        return
    _refresh(conn, (("hourly_performance_stats", "hour"),), start, end)


def _refresh(conn: psycopg.Connection, views: tuple[tuple[str, str], ...], start: datetime, end: datetime) -> None:
    """Refresh each (aggregate, bucket unit) over the whole buckets that meet [start, end), in
    order, outside any transaction (a refresh commits by itself): commits ``conn`` first."""
    conn.commit()
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        for view, unit in views:
            # Whole buckets: TimescaleDB refreshes only the buckets that lie entirely inside the window.
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', "
                         f"date_trunc('{unit}', %s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', "
                         f"date_trunc('{unit}', %s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
                         f"+ INTERVAL '1 {unit}')", (start, end))
    finally:
        conn.autocommit = autocommit


# The usage ledger's continuous aggregates (sql/063), hourly before the daily ones built on them.
USER_USAGE_AGGREGATES = ("user_usage_hourly", "user_usage_host_hourly", "user_usage_daily", "user_usage_host_daily")


def refresh_user_usage_aggregates(conn: psycopg.Connection, start: datetime, end: datetime) -> None:
    """Full tier only: refresh the ledger's aggregates over the whole hours (and for the daily ones
    the whole days) that meet [start, end); commits. The other tiers roll up with
    ``sru_rollup_user_usage()`` inside the pass."""
    from sru.db import schema_tier

    if schema_tier(conn) != "full":
        return
    _refresh(conn, tuple((v, "day" if v.endswith("daily") else "hour") for v in USER_USAGE_AGGREGATES), start, end)


def roll_up(conn: psycopg.Connection, start: datetime, end: datetime) -> int | None:
    """Hourly stats over [start, end) on any tier: the number of hours written or changed on plain
    and apache, None on full (TimescaleDB does not say what a refresh changed)."""
    from sru.db import scalar, schema_tier

    if schema_tier(conn) == "full":
        refresh_hourly_aggregate(conn, start, end)
        return None
    hours: int | None = scalar(conn, "SELECT sru_rollup_hourly_stats(%s, %s)", (start, end))
    return hours
