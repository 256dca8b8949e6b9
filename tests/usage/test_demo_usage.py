"""Demo data's per-user usage agrees with each host's own figures: on every demo host the users'
core-hours and GB-hours (system included) equal what usage_metrics says the host used over the same
time, so users + system + idle = capacity holds against the host's measurements too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optimizer.demo import generate
from optimizer.usage import ledger

END = datetime(2028, 2, 29, 23, 55, tzinfo=UTC)


def test_demo_users_add_up_to_the_hosts(plain_database) -> None:
    db = plain_database   # the demo writes the same rows on every tier; the ledger's tiers: test_ledger.py
    with db.connect() as conn:
        result = generate(conn, hosts=9, days=3, interval=timedelta(minutes=5), seed=1, end=END)
        assert result.user_usage_rows > 0
        start, end = result.start, result.end + result.interval
        hosts = {r.host: r for r in ledger(conn, "host", start, end).rows}
        assert set(hosts) == {h.hostname for h in result.hosts}
        for h in result.hosts:
            row = hosts[h.hostname]
            # what usage_metrics says the host used over the samples the per-user rows cover
            measured_cpu, measured_ram = conn.execute(
                "SELECT avg(u.cpu_percent) / 100 * s.cpu_cores, avg(u.ram_percent) / 100 * s.ram_total_gb "
                "FROM usage_metrics u JOIN systems s ON s.id = u.system_id "
                "WHERE s.hostname = %s AND u.\"timestamp\" >= (SELECT min(\"timestamp\") FROM user_usage_metrics m "
                "WHERE m.system_id = s.id) GROUP BY s.cpu_cores, s.ram_total_gb", (h.hostname,)).fetchone()
            assert row.cpu_core_hours == pytest.approx(measured_cpu * row.hours, rel=0.01), h.hostname
            assert row.ram_gb_hours == pytest.approx(measured_ram * row.hours, rel=0.01), h.hostname
            assert row.idle_cpu_core_hours is not None
            assert row.cpu_core_hours + row.idle_cpu_core_hours == pytest.approx(row.capacity_cpu_core_hours,
                                                                                 rel=0.005)
            assert row.hours == pytest.approx((end - start).total_seconds() / 3600, rel=0.01)
        users = {r.user: r for r in ledger(conn, "user", start, end).rows}
        assert "system" in users and len(users) >= 10
        idle_gpu = next(h for h in result.hosts if h.archetype == "idle" and h.gpu_count)
        held = [r for r in ledger(conn, "user_host", start, end).rows
                if r.host == idle_gpu.hostname and r.gpu_idle_held_hours > 1]
        assert len(held) == 1   # the user who keeps a GPU's memory all working day
