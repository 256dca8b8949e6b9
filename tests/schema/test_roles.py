"""Each group role can do what its service needs and is refused everything else."""

from __future__ import annotations

import pytest
from psycopg import errors
from psycopg.types.json import Jsonb

TABLES = ["systems", "users", "user_sessions", "usage_metrics", "process_snapshots", "alert_rules",
          "alert_logs", "performance_summaries", "optimization_reports", "hourly_performance_stats"]


@pytest.fixture
def seeded(database):
    with database.connect() as conn:
        sid = conn.execute("INSERT INTO systems (hostname) VALUES ('lab-01') RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO usage_metrics (system_id, timestamp, cpu_percent) VALUES (%s, now(), 1)",
                     (sid,))
    return database, sid


def _refused(db, role: str, sql: str, params=()) -> None:
    with db.connect(role) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql, params)


def test_group_roles_cannot_log_in(database) -> None:
    with database.connect() as conn:
        rows = conn.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN "
                            "('admin', 'data_collector', 'dashboard_readonly', 'analyst')").fetchall()
    assert sorted(rows) == [("admin", False), ("analyst", False), ("dashboard_readonly", False),
                            ("data_collector", False)]


def test_data_collector_writes_ingest_tables_only(seeded) -> None:
    db, sid = seeded
    with db.connect("data_collector") as conn:
        conn.execute("INSERT INTO systems (hostname) VALUES ('lab-02') ON CONFLICT (hostname) "
                     "DO UPDATE SET cpu_cores = 8")
        conn.execute("INSERT INTO usage_metrics (system_id, timestamp, ram_percent) VALUES (%s, now(), 2)",
                     (sid,))
        conn.execute("INSERT INTO users (username) VALUES ('ada')")
        conn.execute("INSERT INTO user_sessions (system_id, login_time) VALUES (%s, now())", (sid,))
        conn.execute("INSERT INTO process_snapshots (system_id, timestamp, pid, name) VALUES (%s, now(), 1, 'x')",
                     (sid,))
        conn.execute("INSERT INTO alert_logs (alert_name, fingerprint, triggered_at, severity) "
                     "VALUES ('A', 'f', now(), 'info')")
        conn.execute("SELECT * FROM alert_rules").fetchall()
    for sql in ("DELETE FROM usage_metrics", "DELETE FROM systems", "TRUNCATE usage_metrics",
                "INSERT INTO optimization_reports (report_type, severity, priority_score) "
                "VALUES ('configuration', 'low', 1)",
                "UPDATE performance_summaries SET utilization_score = 1",
                "INSERT INTO alert_rules (name, expression, severity) VALUES ('x', 'up', 'info')",
                "DROP TABLE usage_metrics", "CREATE TABLE evil (x int)"):
        _refused(db, "data_collector", sql)


@pytest.mark.parametrize("role", ["dashboard_readonly", "analyst"])
def test_readers_read_everything_and_write_nothing(seeded, role) -> None:
    db, sid = seeded
    with db.connect(role) as conn:
        for table in TABLES:
            conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchall()
    for sql in ("INSERT INTO systems (hostname) VALUES ('x')", "UPDATE systems SET location = 'x'",
                "DELETE FROM usage_metrics", "INSERT INTO users (username) VALUES ('x')",
                "UPDATE alert_logs SET is_acknowledged = true", "CREATE TABLE evil (x int)"):
        _refused(db, role, sql)


def test_admin_manages_data_but_not_schema(seeded) -> None:
    db, sid = seeded
    with db.connect("admin") as conn:
        conn.execute("UPDATE systems SET status = 'maintenance' WHERE id = %s", (sid,))
        conn.execute("INSERT INTO alert_rules (name, expression, severity) VALUES ('x', 'up', 'info')")
        conn.execute("DELETE FROM usage_metrics WHERE timestamp < now() - interval '400 days'")
    _refused(db, "admin", "CREATE TABLE evil (x int)")
    _refused(db, "admin", "DROP TABLE usage_metrics")


def test_forecasts_are_written_through_the_optimizers_function_only(seeded) -> None:
    """host_forecasts (059): the optimizer's role (analyst) writes it only through
    store_host_forecasts(), which replaces the stored set (idempotent); the readers (dashboard_readonly,
    and web_console through it; the digest) read it, write nothing and may not call the function."""
    db, sid = seeded
    row = {"system_id": str(sid), "metric": "ram_percent", "status": "no_trend", "limit": 90, "days_used": 20,
           "slope_per_day": 0.01, "window_from": "2026-01-01T00:00Z", "window_to": "2026-03-01T00:00Z"}
    store = "SELECT store_host_forecasts('2026-03-01T03:00Z', 'ols_daily_mean', 365, %s)"
    with db.connect("analyst") as conn:
        for _ in range(2):   # the same pass stored twice: one row, the same
            assert conn.execute(store, (Jsonb([row]),)).fetchone() == (1,)
        assert conn.execute("SELECT count(*), min(status), min(slope_per_day) FROM host_forecasts").fetchone() == \
            (1, "no_trend", 0.01)
        conn.commit()
        with pytest.raises(errors.InvalidParameterValue):
            conn.execute(store, (Jsonb({"not": "an array"}),))
    with db.connect("analyst") as conn:   # a set without the host: its forecast goes, nothing stale stays
        assert conn.execute(store, (Jsonb([]),)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM host_forecasts").fetchone() == (0,)
        conn.rollback()
    for role in ("dashboard_readonly", "analyst", "digest_sender", "admin"):
        with db.connect(role) as conn:
            assert conn.execute("SELECT count(*) FROM host_forecasts").fetchone() == (1,)
    for role in ("dashboard_readonly", "analyst", "digest_sender", "data_collector"):
        for sql in ("UPDATE host_forecasts SET status = 'crossing'", "DELETE FROM host_forecasts",
                    "TRUNCATE host_forecasts", "INSERT INTO host_forecasts SELECT * FROM host_forecasts"):
            _refused(db, role, sql)
    for role in ("dashboard_readonly", "data_collector"):
        _refused(db, role, store, (Jsonb([]),))
    with db.connect() as conn:
        assert conn.execute(
            "SELECT has_table_privilege('web_console', 'host_forecasts', 'SELECT'), "
            "has_table_privilege('web_console', 'host_forecasts', 'INSERT, UPDATE, DELETE'), "
            "has_function_privilege('web_console', 'store_host_forecasts(timestamptz, text, integer, jsonb)', "
            "'EXECUTE')").fetchone() == (True, False, False)
