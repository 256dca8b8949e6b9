"""Summary methods on hand-computed cases (sql/037): exact daily and hourly p95 from raw samples in
one-day slices, weekly/monthly from hourly_performance_stats (p95 of hourly means), and a rollup
that writes only what changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from optimizer.hourly_stats import roll_up

MONDAY = datetime(2025, 3, 3, tzinfo=UTC)   # ISO week 10 of 2025, inside March


def _load(conn) -> UUID:
    """Monday: cpu = 0.25 × (index of the 5-minute sample in the day), 288 samples 0 .. 71.75.
    Tuesday: cpu = 10 throughout. ram = 50 always; the other resources are NULL."""
    sid = conn.execute("INSERT INTO systems (hostname) VALUES ('hand') RETURNING id").fetchone()[0]
    rows = [(sid, MONDAY + timedelta(minutes=5 * i), 0.25 * i) for i in range(288)]
    rows += [(sid, MONDAY + timedelta(days=1, minutes=5 * i), 10.0) for i in range(288)]
    with conn.cursor() as cur:
        cur.executemany('INSERT INTO usage_metrics (system_id, "timestamp", cpu_percent, ram_percent) '
                        "VALUES (%s, %s, %s, 50)", rows)
    return sid


def _summary(conn, period: str, start: datetime) -> tuple[Any, ...]:
    return conn.execute("SELECT sample_count, avg_cpu_percent, p95_cpu_percent, max_cpu_percent, p95_ram_percent "
                        "FROM performance_summaries WHERE period_type = %s AND period_start = %s",
                        (period, start)).fetchone()


def test_daily_hourly_exact_weekly_monthly_from_hourly_means(database):
    end = MONDAY + timedelta(days=2)
    with database.connect() as conn:
        _load(conn)
        assert roll_up(conn, MONDAY, end) == (None if database.tier == "full" else 48)
        assert conn.execute("SELECT count(*) FROM hourly_performance_stats").fetchone() == (48,)
        for period in ("hourly", "daily", "weekly", "monthly"):
            conn.execute("SELECT sru_refresh_summaries(%s, %s, %s)", (period, MONDAY, end))
        # Daily, exact: 288 samples, p95 at position 287 × 0.95 = 272.65 → 0.25 × 272.65.
        assert _summary(conn, "daily", MONDAY) == pytest.approx((288, 35.875, 68.1625, 71.75, 50))
        assert _summary(conn, "daily", MONDAY + timedelta(days=1)) == pytest.approx((288, 10, 10, 10, 50))
        # Hourly, exact: 05:00 holds samples 60..71, p95 at 11 × 0.95 = 10.45 → 0.25 × 70.45.
        assert _summary(conn, "hourly", MONDAY + timedelta(hours=5)) == pytest.approx(
            (12, 16.375, 17.6125, 17.75, 50))
        # Weekly and monthly: 48 hourly means, Monday's 3h + 1.375 and Tuesday's 24 × 10; sorted,
        # position 47 × 0.95 = 44.65 falls between h = 20 (61.375) and h = 21 (64.375) → 63.325.
        # Means are sample-weighted, maxima and counts exact.
        expected = pytest.approx((576, 22.9375, 63.325, 71.75, 50))
        assert _summary(conn, "weekly", MONDAY) == expected
        assert _summary(conn, "monthly", datetime(2025, 3, 1, tzinfo=UTC)) == expected


def test_rollup_writes_only_what_changed(table_rollup_database):
    """Plain and apache, where the rollup is sru's own (the full tier's aggregate: the next test)."""
    end = MONDAY + timedelta(days=2)
    with table_rollup_database.connect() as conn:
        sid = _load(conn)
        assert conn.execute("SELECT sru_rollup_hourly_stats(%s, %s)", (MONDAY, end)).fetchone()[0] == 48
        assert conn.execute("SELECT sru_rollup_hourly_stats(%s, %s)", (MONDAY, end)).fetchone()[0] == 0
        conn.execute('UPDATE usage_metrics SET cpu_percent = 99 WHERE system_id = %s AND "timestamp" = %s',
                     (sid, MONDAY + timedelta(hours=30, minutes=5)))
        assert conn.execute("SELECT sru_rollup_hourly_stats(%s, %s)", (MONDAY, end)).fetchone()[0] == 1
        assert conn.execute("SELECT max_cpu_percent, avg_cpu_percent FROM hourly_performance_stats "
                            "WHERE bucket = %s", (MONDAY + timedelta(hours=30),)).fetchone() == pytest.approx(
            (99, (11 * 10 + 99) / 12))
        # A range that does not start on a slice boundary still covers every hour of it.
        conn.execute("DELETE FROM hourly_performance_stats")
        assert conn.execute("SELECT sru_rollup_hourly_stats(%s, %s)",
                            (MONDAY + timedelta(hours=7, minutes=30), end)).fetchone()[0] == 48 - 7


def test_top_resource_consumers_hand_computed(database):
    t1, t2 = MONDAY, MONDAY + timedelta(hours=1)
    with database.connect() as conn:
        a, b = (conn.execute("INSERT INTO systems (hostname) VALUES (%s) RETURNING id", (h,)).fetchone()[0]
                for h in ("host-a", "host-b"))
        with conn.cursor() as cur:   # (host, time, pid, user, cpu %, memory MiB, GPU memory MiB)
            cur.executemany(
                'INSERT INTO process_snapshots (system_id, "timestamp", pid, name, username, cpu_percent, '
                "memory_mb, gpu_memory_mb) VALUES (%s, %s, %s, 'p', %s, %s, %s, %s)",
                [(a, t1, 1, "alice", 50, 100, None), (a, t1, 2, "alice", 30, 200, None),
                 (a, t2, 1, "alice", 20, 100, None), (b, t1, 1, "alice", 100, 1000, 500),
                 (b, t1, 2, "bob", 10, 50, None), (b, t1, 3, "root", 99, 9999, None)])

        def top(resource="cpu", since=t1, system=None):
            return conn.execute("SELECT * FROM get_top_resource_consumers(%s, %s, 10, %s)",
                                (resource, since, system)).fetchall()

        # alice's processes add up per snapshot: (80, 300) and (20, 100) on a, (100, 1000) on b.
        alice = ("alice", ["host-a", "host-b"], 3, pytest.approx(200 / 3), 100, pytest.approx(1400 / 3), 1000, 500)
        bob = ("bob", ["host-b"], 1, 10, 10, 50, 50, None)
        assert top() == [alice, bob]
        assert top("memory") == [alice, bob] and top("gpu_memory") == [alice, bob]
        assert top(system=b) == [("alice", ["host-b"], 1, 100, 100, 1000, 1000, 500), bob]
        assert top(since=t2) == [("alice", ["host-a"], 1, 20, 20, 100, 100, None)]
        with pytest.raises(Exception, match="p_resource must be"):
            top("disk")
