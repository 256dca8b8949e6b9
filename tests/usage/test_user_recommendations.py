"""Recommendations that name people, through a real optimizer pass on every tier: a user holding
GPU memory idle for more than an hour on a shared GPU host (a brief idle hold and a busy GPU user
are not named), and a big host's main user using a fraction of it for weeks. Stored as reports with
their evidence; a second pass refreshes them instead of adding more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from optimizer.run import run_once

NOW = datetime(2028, 3, 1, 12, 0, tzinfo=UTC)


def _load(conn) -> None:
    ids = {}
    for host, cores, ram, gpus in (("gpu1", 32, 256.0, 4), ("big", 64, 512.0, 0)):
        ids[host] = conn.execute("INSERT INTO systems (hostname, cpu_cores, ram_total_gb, gpu_count) "
                                 "VALUES (%s, %s, %s, %s) RETURNING id", (host, cores, ram, gpus)).fetchone()[0]
    users = {n: conn.execute("INSERT INTO users (username, department) VALUES (%s, 'physics') RETURNING id",
                             (n,)).fetchone()[0] for n in ("dave", "erin", "gus", "frank")}
    rows = []
    step = timedelta(minutes=5)
    start = NOW - timedelta(hours=6)
    for k in range(72):                     # 6 h on gpu1
        t = start + k * step
        idle_dave = 12 <= k < 48            # 3 h holding 1 GPU idle
        rows.append((ids["gpu1"], t, users["dave"], 0.1, 2.0, 10.0, 0.0, 1.0, 1.0 if idle_dave else 0.0))
        rows.append((ids["gpu1"], t, users["erin"], 4.0, 30.0, 20.0, 95.0, 1.0, 0.0))
        brief = 50 <= k < 56                # 30 min idle: under the threshold
        rows.append((ids["gpu1"], t, users["gus"], 0.0, 1.0, 5.0, 0.0, 1.0 if brief else 0.0, 1.0 if brief else 0.0))
    step = timedelta(minutes=30)
    start = NOW - timedelta(days=20)
    for k in range(20 * 48):                # 20 days on big: frank uses 2 of 64 cores and 20 of 512 GB
        rows.append((ids["big"], start + k * step, users["frank"], 2.0, 20.0, 0.0, 0.0, 0.0, 0.0))
    with conn.cursor() as cur, cur.copy('COPY user_usage_metrics (system_id, "timestamp", user_id, cpu_cores, ram_gb, '
                                        'gpu_memory_gb, gpu_utilization, gpus_held, gpus_idle_held) FROM STDIN') as cp:
        for r in rows:
            cp.write_row(r)
    # the optimizer pass needs host samples to run at all
    conn.execute('INSERT INTO usage_metrics (system_id, "timestamp", cpu_percent) SELECT id, %s, 5 FROM systems',
                 (NOW - timedelta(minutes=5),))
    conn.commit()


def _reports(db) -> dict[str, tuple[Any, ...]]:
    with db.connect() as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT recommendations ->> 'kind', title, recommendations, status FROM optimization_reports "
            "WHERE recommendations ->> 'kind' LIKE '%%:%%'")}


def test_named_recommendations(database) -> None:
    with database.connect() as conn:
        _load(conn)
    with database.connect("analyst") as conn:
        run_once(conn, now=NOW)
    reports = _reports(database)
    assert set(reports) == {"gpu_idle_held:dave", "user_underuse:frank"}, reports
    title, ev, status = reports["gpu_idle_held:dave"]
    assert "dave held 1.0 GPU(s) idle for 3.0 h" in title and status == "pending"
    assert ev["longest_stretch"]["hours"] == 3.0 and ev["other_users"] == ["erin", "gus"]
    assert ev["idle_held_gpu_hours_7d"] == 3.0
    title, ev, _ = reports["user_underuse:frank"]
    assert "big: its main user frank used 3% of its 64 cores and 4% of its 512 GB RAM" in title, title
    assert ev["days_used"] >= 14
    with database.connect("analyst") as conn:
        run_once(conn, now=NOW)
    with database.connect() as conn:
        assert conn.execute("SELECT count(*) FROM optimization_reports "
                            "WHERE recommendations ->> 'kind' LIKE '%%:%%'").fetchone()[0] == 2
