"""Demo data: right volume, archetype shapes, replayable, on both tiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from optimizer.demo import ARCHETYPES, generate

END = datetime(2025, 3, 31, 23, 0, tzinfo=UTC)


def test_demo_volume_shapes_and_rerun(database):
    with database.connect() as conn:
        result = generate(conn, hosts=8, days=3, interval=timedelta(minutes=30), seed=1, end=END)
        assert result.metric_rows == 8 * 3 * 48
        assert [h.archetype for h in result.hosts[:7]] == list(ARCHETYPES)
        assert result.end == END and result.start == END - timedelta(minutes=30) * (3 * 48 - 1)
        rows = dict(conn.execute(
            "SELECT s.hostname, count(*) FROM usage_metrics m JOIN systems s ON s.id = m.system_id "
            "GROUP BY 1").fetchall())
        assert set(rows.values()) == {3 * 48} and len(rows) == 8
        # GPU columns are NULL exactly on hosts without a GPU.
        gpu = dict(conn.execute(
            "SELECT s.gpu_count > 0, bool_and(m.gpu_utilization IS NULL) FROM usage_metrics m "
            "JOIN systems s ON s.id = m.system_id GROUP BY 1").fetchall())
        assert gpu == {True: False, False: True}
        means = dict(conn.execute(
            "SELECT s.hostname, avg(m.ram_percent) FROM usage_metrics m JOIN systems s ON s.id = m.system_id "
            "GROUP BY 1").fetchall())
        assert means["demo-ram-swap-01"] > 85 > means["demo-healthy-01"] > means["demo-idle-01"]
        assert conn.execute("SELECT count(*) FROM systems WHERE last_seen = %s", (END,)).fetchone()[0] == 8
        assert result.session_rows > 0 and result.process_rows > 0
        # Running again replaces the demo hosts instead of adding to them, and their pending reports
        # (two hosts with one kind of pending report each, as a pass leaves them) go too.
        for hostname in ("demo-ram-swap-01", "demo-idle-01"):
            conn.execute(
                "INSERT INTO optimization_reports (system_id, report_type, severity, recommendations,"
                " priority_score) SELECT id, 'hardware_upgrade', 'low', '{\"kind\": \"ram\"}', 3"
                " FROM systems WHERE hostname = %s", (hostname,))
        again = generate(conn, hosts=8, days=3, interval=timedelta(minutes=30), seed=1, end=END)
        assert conn.execute("SELECT count(*) FROM usage_metrics").fetchone()[0] == again.metric_rows
        assert conn.execute("SELECT count(*) FROM systems").fetchone()[0] == 8
        assert conn.execute("SELECT count(*) FROM optimization_reports").fetchone()[0] == 0


def test_demo_data_cli(tsdb_database, capsys):
    from sru.cli import main

    assert main(["demo-data", "--database-url", tsdb_database.url, "--hosts", "2", "--days", "1",
                 "--interval", "1h", "--no-progress"]) == 0
    assert "wrote 48 usage_metrics rows" in capsys.readouterr().out
    assert main(["demo-data", "--database-url", tsdb_database.url, "--interval", "5x"]) == 1
    assert "--interval" in capsys.readouterr().err


def test_compute_hosts_have_sessions_in_any_24_hours(tsdb_database):
    """Labs have weekend users: on the CPU-bound and GPU hosts every 24 hours of the history overlap
    a session, wherever the history ends (here a Monday 07:55, after a whole weekend), so the host
    page's default day always has some; the other hosts keep working-day sessions only."""
    end = datetime(2027, 3, 8, 7, 55, tzinfo=UTC)
    assert end.weekday() == 0
    with tsdb_database.connect() as conn:
        generate(conn, hosts=7, days=10, interval=timedelta(hours=1), seed=3, end=end)
        sessions = conn.execute(
            "SELECT s.hostname, u.login_time, coalesce(u.logout_time, %s) FROM user_sessions u "
            "JOIN systems s ON s.id = u.system_id", (end + timedelta(days=1),)).fetchall()
    weekend = {h for h, login, _ in sessions if login.weekday() >= 5}
    assert weekend == {"demo-cpu-bound-01", "demo-gpu-saturated-01"}, weekend
    for host in weekend:
        spans = [(a, b) for h, a, b in sessions if h == host]
        for hours_back in range(0, 8 * 24):
            t = end - timedelta(hours=hours_back)
            assert any(a < t and b > t - timedelta(hours=24) for a, b in spans), (host, t)
