"""The community edition's data lifecycle, with its own jobs run by the test (``CALL run_job``):
compression after 7 days and retention after 1 year (hourly stats: 3 years). Compressed history
stays readable by the optimizer and remote read and writable by the adapter; retention drops raw
chunks and keeps the hourly stats."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from remote_write_adapter.sample_config import remote_read
from tests.fixtures.adapter import Series

HOUR_MS = 3_600_000


def _jobs(conn: psycopg.Connection, proc: str) -> dict[str, int]:
    return dict(conn.execute(
        "SELECT coalesce(ca.view_name, j.hypertable_name), j.job_id FROM timescaledb_information.jobs j "
        "LEFT JOIN timescaledb_information.continuous_aggregates ca "
        "ON ca.materialization_hypertable_name = j.hypertable_name WHERE j.proc_name = %s", (proc,)).fetchall())


def _chunks(conn: psycopg.Connection, table: str) -> list[tuple[datetime, datetime, bool]]:
    return conn.execute("SELECT range_start, range_end, is_compressed FROM timescaledb_information.chunks "
                        "WHERE hypertable_name = %s ORDER BY range_start", (table,)).fetchall()


def _usage(host: str, t: int, cpu: float, pid: int = 42) -> list[Series]:
    h = {"hostname": host, "instance": f"{host}:9847", "job": "sru"}
    return [({**h, "__name__": "sru:cpu_percent"}, [(t, cpu)]),
            ({**h, "__name__": "sru:ram_percent"}, [(t, 50.0)]),
            ({**h, "__name__": "sru:process_cpu_percent", "pid": str(pid), "name": "sim", "user": "alice"},
             [(t, cpu)])]


def test_compressed_history_stays_readable_and_writable(full_database, adapter_factory, prometheus_factory):
    db = full_database
    adapter = adapter_factory(db.role_url("data_collector"))
    end = int(time.time()) // 3600 * 3600 * 1000 - HOUR_MS
    # 20 days: usage_metrics has 7-day chunks (052), so at least one lies wholly before the 7-day mark.
    start = end - 20 * 24 * HOUR_MS
    stamps = range(start, end + 1, HOUR_MS)
    for t in stamps:
        assert adapter.write(_usage("lab1", t, cpu=float((t // HOUR_MS) % 24))).status_code == 204

    with db.connect(autocommit=True) as conn:
        for job in _jobs(conn, "policy_compression").values():
            conn.execute("CALL run_job(%s)", (job,))
        cutoff = datetime.now(UTC) - timedelta(days=7)
        for table in ("usage_metrics", "process_snapshots"):
            chunks = _chunks(conn, table)
            assert [c for c in chunks if c[2]], f"{table}: nothing compressed"
            # A chunk is compressed once it lies wholly before the 7-day mark, and only then.
            assert all(compressed == (chunk_end <= cutoff) for _, chunk_end, compressed in chunks), chunks
        assert {c[1] - c[0] for c in _chunks(conn, "usage_metrics")} == {timedelta(days=7)}
        assert {c[1] - c[0] for c in _chunks(conn, "process_snapshots")} == {timedelta(days=1)}
        old = datetime.fromtimestamp((start + 24 * HOUR_MS) / 1000, UTC)
        assert conn.execute('SELECT cpu_percent FROM usage_metrics WHERE "timestamp" = %s', (old,)).fetchone() \
            == (float((start // HOUR_MS + 24) % 24),)

    # The optimizer reads compressed chunks: daily summaries for every day, hourly stats per hour.
    from optimizer.run import run_once

    with db.connect("analyst") as conn:
        run_once(conn, full=True)
    with db.connect() as conn:
        days = conn.execute("SELECT count(*) FROM performance_summaries WHERE period_type = 'daily'").fetchone()[0]
        hours = conn.execute("SELECT count(*) FROM hourly_performance_stats").fetchone()[0]
    assert days >= 20 and hours == len(stamps)

    # Remote read, through a real Prometheus, of a sample inside a compressed chunk.
    reader = prometheus_factory({"global": {"scrape_interval": "1m"},
                                 "remote_read": [remote_read(adapter.url + "/api/v1/read", read_recent=True)]})
    t_old = (start + 24 * HOUR_MS) / 1000
    got = reader.query('sru:cpu_percent{hostname="lab1"}', time=t_old)
    assert len(got) == 1 and float(got[0]["value"][1]) == float((start // HOUR_MS + 24) % 24)

    # Writes into compressed chunks: a completed row, a new row and a process snapshot merge (2xx).
    late = start + 24 * HOUR_MS + 60_000
    r = adapter.write(_usage("lab1", start + 24 * HOUR_MS, cpu=99.0) + _usage("lab1", late, cpu=77.0, pid=43))
    assert r.status_code == 204, r.text
    with db.connect() as conn:
        got = dict(conn.execute('SELECT "timestamp", cpu_percent FROM usage_metrics WHERE "timestamp" IN (%s, %s)',
                                (old, datetime.fromtimestamp(late / 1000, UTC))).fetchall())
        assert sorted(got.values()) == [77.0, 99.0]
        assert conn.execute("SELECT count(*) FROM process_snapshots WHERE pid = 43").fetchone() == (1,)
    assert adapter.metric("sru_adapter_requests_total", handler="/api/v1/write", code="204") >= len(stamps) + 1


def test_retention_drops_raw_chunks_after_a_year_and_keeps_hourly_stats_three(full_database):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    ages = {"recent": timedelta(days=2), "past_raw": timedelta(days=400), "past_hourly": timedelta(days=3 * 365 + 30)}
    with full_database.connect(autocommit=True) as conn:
        sid = conn.execute("INSERT INTO systems (hostname) VALUES ('old') RETURNING id").fetchone()[0]
        for age in ages.values():
            t = now - age
            conn.execute('INSERT INTO usage_metrics (system_id, "timestamp", cpu_percent) VALUES (%s, %s, 5)', (sid, t))
            conn.execute('INSERT INTO process_snapshots (system_id, "timestamp", pid, name) VALUES (%s, %s, 1, %s)',
                         (sid, t, "p"))
            # Materialized while the raw data exists, as the policy and the optimizer do.
            conn.execute("CALL refresh_continuous_aggregate('hourly_performance_stats', %s, %s)",
                         (t, t + timedelta(hours=1)))
        for _, job in sorted(_jobs(conn, "policy_retention").items()):
            conn.execute("CALL run_job(%s)", (job,))

        def ages_left(sql: str) -> set[str]:
            left = {r[0] for r in conn.execute(sql)}
            return {name for name, age in ages.items() if now - age in left}

        assert ages_left('SELECT "timestamp" FROM usage_metrics') == {"recent"}
        assert ages_left('SELECT "timestamp" FROM process_snapshots') == {"recent"}
        assert ages_left("SELECT bucket FROM hourly_performance_stats") == {"recent", "past_raw"}
        assert len(_chunks(conn, "usage_metrics")) == 1


@pytest.mark.parametrize("role", ["dashboard_readonly", "data_collector"])
def test_only_the_optimizer_roles_refresh_the_aggregate(full_database, role):
    with full_database.connect(role, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CALL refresh_continuous_aggregate('hourly_performance_stats', NULL, NULL)")
    with full_database.connect("analyst", autocommit=True) as conn:
        conn.execute("CALL refresh_continuous_aggregate('hourly_performance_stats', NULL, NULL)")
