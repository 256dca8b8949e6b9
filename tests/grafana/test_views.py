"""sql/040: sru_host_status and sru_usage_series on hand-computed data, on both tiers, read by a login
user that has only the dashboard_readonly role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from optimizer.hourly_stats import roll_up

T0 = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday: date_bin's origin lines up with days


def _host(conn: psycopg.Connection, name: str, **cols) -> str:
    keys = ["hostname", *cols]
    row = conn.execute(
        f"INSERT INTO systems ({', '.join(keys)}) VALUES ({', '.join(['%s'] * len(keys))}) RETURNING id",
        [name, *cols.values()]).fetchone()
    assert row is not None  # INSERT … RETURNING: one row
    return row[0]


def _samples(conn: psycopg.Connection, system_id: str, rows: list[tuple[datetime, float, float]]) -> None:
    with conn.cursor().copy("COPY usage_metrics (system_id, \"timestamp\", cpu_percent, ram_percent) "
                            "FROM STDIN") as copy:
        for ts, cpu, ram in rows:
            copy.write_row((system_id, ts, cpu, ram))


def test_host_status_states(database):
    now = datetime.now(UTC)
    with database.connect() as conn:
        up = _host(conn, "up-host")
        _host(conn, "stale-host", last_seen=now - timedelta(hours=2))
        _host(conn, "never-seen")
        maint = _host(conn, "maint-host", status="maintenance")
        _samples(conn, up, [(now - timedelta(minutes=10), 10.0, 20.0), (now - timedelta(minutes=5), 30.0, 40.0)])
        _samples(conn, maint, [(now - timedelta(minutes=1), 50.0, 50.0)])
    with database.connect("dashboard_readonly") as conn:
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT hostname, state, cpu_percent, ram_percent FROM sru_host_status")}
    assert rows == {
        "up-host": ("up", 30.0, 40.0),  # the latest sample, not an average
        "stale-host": ("offline", None, None),
        "never-seen": ("offline", None, None),
        "maint-host": ("maintenance", 50.0, 50.0),
    }


def test_usage_series_picks_source_by_bucket(database):
    with database.connect() as conn:
        a = _host(conn, "a")
        b = _host(conn, "b")
        # Raw: 12 samples in the first hour of host a, cpu 0..55 step 5.
        _samples(conn, a, [(T0 + timedelta(minutes=5 * i), 5.0 * i, 50.0) for i in range(12)])
        _samples(conn, b, [(T0, 99.0, 99.0)])
        if database.tier == "full":
            # The continuous aggregate comes from raw rows only: the first hour as above (mean
            # 27.5), and a second hour of 4 samples (mean 40, max 90, ram unknown).
            with conn.cursor().copy('COPY usage_metrics (system_id, "timestamp", cpu_percent) FROM STDIN') as cp:
                for i, cpu in enumerate((10.0, 30.0, 30.0, 90.0)):
                    cp.write_row((a, T0 + timedelta(hours=1, minutes=5 * i), cpu))
            roll_up(conn, T0, T0 + timedelta(hours=2))
            first_hour_mean = 27.5
        else:
            # Hourly (an ordinary table): two hours with different sample counts, so weighting
            # shows, and a first hour unlike its raw samples, so the source shows.
            conn.execute("""
                INSERT INTO hourly_performance_stats (system_id, bucket, sample_count, avg_cpu_percent,
                                                      max_cpu_percent, avg_ram_percent, max_ram_percent)
                VALUES (%(a)s, %(t0)s, 12, 10, 20, 50, 60),
                       (%(a)s, %(t0)s + interval '1 hour', 4, 40, 90, NULL, NULL)""", {"a": a, "t0": T0})
            first_hour_mean = 10.0
        conn.execute("""
            INSERT INTO performance_summaries (system_id, period_type, period_start, period_end,
                                               sample_count, avg_cpu_percent, max_cpu_percent)
            VALUES (%(a)s, 'daily', %(t0)s, %(t0)s + interval '1 day', 288, 30, 95),
                   (%(a)s, 'daily', %(t0)s + interval '1 day', %(t0)s + interval '2 days', 288, 50, 70)""",
                     {"a": a, "t0": T0})

    q = ("SELECT \"time\", hostname, cpu_percent, max_cpu_percent, ram_percent "
         "FROM sru_usage_series(%s, %s, %s, %s)")
    with database.connect("dashboard_readonly") as conn:
        raw = conn.execute(q, (T0, T0 + timedelta(hours=1), timedelta(minutes=30), ["a"])).fetchall()
        assert raw == [(T0, "a", 12.5, 25.0, 50.0), (T0 + timedelta(minutes=30), "a", 42.5, 55.0, 50.0)]
        both = conn.execute(q, (T0, T0 + timedelta(hours=1), timedelta(minutes=30), ["a", "b"])).fetchall()
        assert [r[1] for r in both] == ["a", "b", "a"]

        hourly = conn.execute(q, (T0, T0 + timedelta(days=1), timedelta(hours=2), ["a"])).fetchall()
        # (10*12 + 40*4) / 16 = 17.5; ram only known for the first hour, so 50 not 37.5.
        assert hourly == [(T0, "a", pytest.approx((first_hour_mean * 12 + 40 * 4) / 16), 90.0, 50.0)]

        daily = conn.execute(q, (T0, T0 + timedelta(days=7), timedelta(days=7), ["a"])).fetchall()
        assert daily == [(T0, "a", 40.0, 95.0, None)]
        assert conn.execute(q, (T0, T0 + timedelta(days=7), timedelta(days=1), ["nobody"])).fetchall() == []

        # Only the columns asked for are computed, the same as with all of them; the others are NULL.
        narrow = ("SELECT \"time\", hostname, cpu_percent, max_cpu_percent, ram_percent "
                  "FROM sru_usage_series(%s, %s, %s, %s, %s)")
        for span, bucket, whole in ((timedelta(hours=1), timedelta(minutes=30), raw),
                                    (timedelta(days=1), timedelta(hours=2), hourly),
                                    (timedelta(days=7), timedelta(days=7), daily)):
            got = conn.execute(narrow, (T0, T0 + span, bucket, ["a"], ["cpu_percent"])).fetchall()
            assert got == [(t, h, cpu, None, None) for t, h, cpu, _, _ in whole], bucket
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown p_columns {cpu,NULL}"):
            conn.execute(narrow, (T0, T0 + timedelta(days=1), timedelta(hours=1), ["a"], ["cpu", None]))


def test_readonly_role_cannot_write(database):
    with database.connect("dashboard_readonly") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO systems (hostname) VALUES ('x')")
