"""The schema as the design specifies it, on every tier we can run (plain and TimescaleDB Apache)."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from psycopg import errors

from sru.columns import USAGE_COLUMNS
from sru.db import scalar

EXPECTED_COLUMNS = {
    "systems": {"id", "hostname", "cpu_model", "cpu_cores", "ram_total_gb", "gpu_model", "gpu_count",
                "location", "status", "last_seen", "created_at", "updated_at"},
    "users": {"id", "username", "full_name", "email", "department"},
    "user_sessions": {"id", "user_id", "system_id", "login_time", "logout_time",
                      "session_duration_minutes", "is_active", "active_processes", "peak_cpu_usage",
                      "peak_ram_usage"},
    # The value columns are declared once, in sru.columns (held against the database in test_columns.py).
    "usage_metrics": {"system_id", "timestamp", *(c.name for c in USAGE_COLUMNS)},
    "process_snapshots": {"system_id", "timestamp", "pid", "name", "username", "cpu_percent", "memory_mb"},
    "alert_rules": {"id", "name", "expression", "threshold", "duration", "severity", "enabled",
                    "source_file"},
    "alert_logs": {"id", "rule_id", "system_id", "fingerprint", "triggered_at", "resolved_at",
                   "metric_name", "actual_value", "threshold_value", "severity", "labels", "annotations",
                   "is_acknowledged", "acknowledged_by", "acknowledged_at"},
    "performance_summaries": {"system_id", "period_type", "period_start", "period_end",
                              "avg_cpu_percent", "p95_cpu_percent", "max_cpu_percent",
                              "avg_ram_percent", "p95_ram_percent", "max_ram_percent",
                              "avg_gpu_utilization", "p95_gpu_utilization", "max_gpu_utilization",
                              "is_underutilized", "is_overutilized", "has_bottleneck", "bottleneck_type",
                              "utilization_score"},
    "optimization_reports": {"id", "system_id", "report_type", "severity", "recommendations",
                             "priority_score", "status", "created_at", "updated_at"},
    "hourly_performance_stats": {"system_id", "bucket", "sample_count", "avg_cpu_percent",
                                 "max_cpu_percent", "avg_ram_percent", "max_ram_percent"},
}

EXPECTED_INDEXES = {
    # Migration 055 dropped usage_metrics_system_time_idx (the primary key read backwards serves it)
    # and the GIN index on cpu_per_core (no query used it; it kept the adapter's updates from being HOT).
    "usage_metrics": {"usage_metrics_time_idx", "usage_metrics_high_cpu_idx", "usage_metrics_high_ram_idx"},
    "user_sessions": {"user_sessions_active_idx", "user_sessions_system_login_idx"},
    "alert_logs": {"alert_logs_unresolved_idx", "alert_logs_system_time_idx"},
    "optimization_reports": {"optimization_reports_recommendations_idx"},
    "process_snapshots": {"process_snapshots_time_idx"},
    "performance_summaries": {"performance_summaries_period_idx"},
}

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def add_system(conn: psycopg.Connection, hostname: str = "lab-01") -> uuid.UUID:
    return scalar(conn, "INSERT INTO systems (hostname) VALUES (%s) RETURNING id", (hostname,))


def test_every_table_and_column_exists(database) -> None:
    with database.connect() as conn:
        for table, columns in EXPECTED_COLUMNS.items():
            rows = conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped", (table,)).fetchall()
            found = {r[0] for r in rows}
            assert columns <= found, f"{table} lacks {sorted(columns - found)}"


def test_indexes_exist(database) -> None:
    with database.connect() as conn:
        for table, names in EXPECTED_INDEXES.items():
            found = {r[0] for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)).fetchall()}
            assert names <= found, f"{table} lacks {sorted(names - found)}"
        gin = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%%USING gin%%' "
                           "AND indexname = 'optimization_reports_recommendations_idx'").fetchone()[0]
        assert gin == 1


def test_usage_metrics_leaves_room_for_hot_updates(database) -> None:
    """Migration 055: the adapter completes each row over ~20 updates; fillfactor leaves room on the
    page and no index covers what those updates change but ram_percent (a partial index's predicate)."""
    with database.connect() as conn:
        assert conn.execute("SELECT reloptions FROM pg_class WHERE oid = 'usage_metrics'::regclass"
                            ).fetchone()[0] == ["fillfactor=60"]
        found = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'usage_metrics'")}
        assert not found & {"usage_metrics_cpu_per_core_idx", "usage_metrics_system_time_idx"}
        sid = add_system(conn)
        conn.execute("INSERT INTO usage_metrics (system_id, timestamp) VALUES (%s, %s)", (sid, T0))
        # The newest rows of a host still come from an index, without a sort (sequential and bitmap
        # scans off: on a one-row table the planner would rightly prefer them).
        conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT * FROM usage_metrics WHERE system_id = %s ORDER BY timestamp DESC LIMIT 5", (sid,)))
        assert "Sort" not in plan and "Index" in plan, plan


@pytest.mark.parametrize("sql, params", [
    ("INSERT INTO systems (hostname, status) VALUES ('x', 'broken')", None),
    ("INSERT INTO systems (hostname) VALUES ('')", None),
    ("INSERT INTO usage_metrics (system_id, timestamp, cpu_percent) VALUES (%(s)s, now(), 101)", None),
    ("INSERT INTO usage_metrics (system_id, timestamp, ram_percent) VALUES (%(s)s, now(), -1)", None),
    ("INSERT INTO alert_rules (name, expression, severity) VALUES ('r', 'up == 0', 'urgent')", None),
    ("INSERT INTO alert_logs (alert_name, fingerprint, triggered_at, severity) "
     "VALUES ('a', 'f', now(), 'loud')", None),
    ("INSERT INTO performance_summaries (system_id, period_type, period_start, period_end) "
     "VALUES (%(s)s, 'yearly', now(), now() + interval '1 day')", None),
    ("INSERT INTO performance_summaries (system_id, period_type, period_start, period_end, "
     "utilization_score) VALUES (%(s)s, 'daily', now(), now() + interval '1 day', 100.5)", None),
    ("INSERT INTO performance_summaries (system_id, period_type, period_start, period_end, "
     "has_bottleneck) VALUES (%(s)s, 'daily', now(), now() + interval '1 day', true)", None),
    ("INSERT INTO optimization_reports (report_type, severity, priority_score) "
     "VALUES ('hardware_upgrade', 'low', 11)", None),
    ("INSERT INTO optimization_reports (report_type, severity, priority_score) "
     "VALUES ('buy_more', 'low', 5)", None),
    ("INSERT INTO optimization_reports (report_type, severity, priority_score) "
     "VALUES ('reallocation', 'extreme', 5)", None),
    ("INSERT INTO optimization_reports (report_type, severity, priority_score, status) "
     "VALUES ('configuration', 'low', 5, 'done')", None),
])
def test_check_constraints_refuse_bad_values(database, sql, params) -> None:
    with database.connect() as conn:
        sid = add_system(conn)
        with pytest.raises(errors.CheckViolation):
            conn.execute(sql, {"s": sid})


def test_cascade_and_set_null(database) -> None:
    with database.connect() as conn:
        sid = add_system(conn)
        uid = conn.execute("INSERT INTO users (username) VALUES ('ada') RETURNING id").fetchone()[0]
        rid = conn.execute("INSERT INTO alert_rules (name, expression, severity) "
                           "VALUES ('HostDown', 'up == 0', 'critical') RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO usage_metrics (system_id, timestamp, cpu_percent) VALUES (%s, %s, 5)",
                     (sid, T0))
        conn.execute("INSERT INTO process_snapshots (system_id, timestamp, pid, name) "
                     "VALUES (%s, %s, 1, 'init')", (sid, T0))
        sess = conn.execute("INSERT INTO user_sessions (user_id, system_id, login_time) "
                            "VALUES (%s, %s, %s) RETURNING id", (uid, sid, T0)).fetchone()[0]
        conn.execute("INSERT INTO alert_logs (rule_id, system_id, alert_name, fingerprint, triggered_at, "
                     "severity) VALUES (%s, %s, 'HostDown', 'abc', %s, 'critical')", (rid, sid, T0))
        rep = conn.execute("INSERT INTO optimization_reports (system_id, report_type, severity, "
                           "priority_score) VALUES (%s, 'hardware_upgrade', 'high', 8) RETURNING id",
                           (sid,)).fetchone()[0]
        conn.execute("INSERT INTO performance_summaries (system_id, period_type, period_start, period_end) "
                     "VALUES (%s, 'daily', %s, %s)", (sid, T0, T0 + dt.timedelta(days=1)))

        conn.execute("DELETE FROM users WHERE id = %s", (uid,))
        assert conn.execute("SELECT user_id FROM user_sessions WHERE id = %s", (sess,)).fetchone() == (None,)
        conn.execute("DELETE FROM alert_rules WHERE id = %s", (rid,))
        assert conn.execute("SELECT rule_id FROM alert_logs").fetchall() == [(None,)]

        conn.execute("DELETE FROM systems WHERE id = %s", (sid,))
        for table in ("usage_metrics", "process_snapshots", "user_sessions", "alert_logs",
                      "performance_summaries"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        assert conn.execute("SELECT system_id FROM optimization_reports WHERE id = %s",
                            (rep,)).fetchone() == (None,)


def test_session_duration_is_generated(database) -> None:
    with database.connect() as conn:
        sid = add_system(conn)
        sess = conn.execute("INSERT INTO user_sessions (system_id, login_time) VALUES (%s, %s) "
                            "RETURNING id, session_duration_minutes", (sid, T0)).fetchone()
        assert sess[1] is None
        conn.execute("UPDATE user_sessions SET logout_time = %s, is_active = false WHERE id = %s",
                     (T0 + dt.timedelta(hours=2, minutes=30), sess[0]))
        assert conn.execute("SELECT session_duration_minutes FROM user_sessions WHERE id = %s",
                            (sess[0],)).fetchone() == (150.0,)
        with pytest.raises(errors.GeneratedAlways):
            conn.execute("UPDATE user_sessions SET session_duration_minutes = 1")


def _explain(conn: psycopg.Connection, sql: str, params=()) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params).fetchall())


def test_partial_indexes_are_chosen(database) -> None:
    with database.connect() as conn:
        hosts = [add_system(conn, f"lab-{i:02d}") for i in range(20)]
        # 20 hosts × 2000 samples, about 1% above 80 %.
        conn.execute(
            """
            INSERT INTO usage_metrics (system_id, timestamp, cpu_percent, ram_percent)
            SELECT h, %s - n * interval '5 minutes',
                   CASE WHEN n %% 97 = 0 THEN 95 ELSE 20 + (n %% 40) END,
                   CASE WHEN n %% 89 = 0 THEN 92 ELSE 30 + (n %% 30) END
              FROM unnest(%s::uuid[]) AS h, generate_series(0, 1999) AS n
            """, (T0, hosts))
        users = [conn.execute("INSERT INTO users (username) VALUES (%s) RETURNING id", (f"u{i}",)).fetchone()[0]
                 for i in range(5)]
        conn.execute(
            """
            INSERT INTO user_sessions (user_id, system_id, terminal, login_time, logout_time, is_active)
            SELECT (%s::bigint[])[1 + n %% 5], h, 'pts/' || n, %s - n * interval '1 hour',
                   CASE WHEN n = 0 THEN NULL ELSE %s - n * interval '1 hour' + interval '30 minutes' END,
                   n = 0
              FROM unnest(%s::uuid[]) AS h, generate_series(0, 499) AS n
            """, (users, T0, T0, hosts))
        conn.execute(
            """
            INSERT INTO alert_logs (system_id, alert_name, fingerprint, triggered_at, resolved_at, severity)
            SELECT h, 'CpuSaturated', md5(h::text || n), %s - n * interval '1 hour',
                   CASE WHEN n = 0 THEN NULL ELSE %s - n * interval '1 hour' + interval '5 minutes' END,
                   'warning'
              FROM unnest(%s::uuid[]) AS h, generate_series(0, 499) AS n
            """, (T0, T0, hosts))
        for t in ("usage_metrics", "user_sessions", "alert_logs"):
            conn.execute(f"ANALYZE {t}")

        plan = _explain(conn, "SELECT timestamp, cpu_percent FROM usage_metrics WHERE cpu_percent > 90")
        assert "high_cpu_idx" in plan, plan
        plan = _explain(conn, "SELECT timestamp FROM usage_metrics WHERE system_id = %s AND ram_percent > 85",
                        (hosts[3],))
        assert "high_ram_idx" in plan, plan
        plan = _explain(conn, "SELECT * FROM user_sessions WHERE is_active AND system_id = %s", (hosts[0],))
        assert "user_sessions_active_idx" in plan, plan
        plan = _explain(conn, "SELECT * FROM alert_logs WHERE resolved_at IS NULL ORDER BY triggered_at DESC")
        assert "alert_logs_unresolved_idx" in plan, plan


def test_hypertables_only_on_timescaledb_tier(database) -> None:
    with database.connect() as conn:
        tier = conn.execute("SELECT value FROM sru_meta WHERE key = 'timescaledb_tier'").fetchone()[0]
        assert tier == database.tier
        has_ext = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        if database.tier == "plain":
            assert has_ext is None
            return
        license_ = {"apache": "apache", "full": "timescale"}[database.tier]
        assert conn.execute("SHOW timescaledb.license").fetchone() == (license_,)
        rows = dict(conn.execute(
            "SELECT hypertable_name, time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_schema = 'public'").fetchall())
        # 052: 7-day usage_metrics chunks where they get compressed (full batches of 1,000 rows).
        usage_days = 7 if database.tier == "full" else 1
        rows = {k: v for k, v in rows.items() if not k.startswith("_materialized_hypertable_")}
        assert rows == {"usage_metrics": dt.timedelta(days=usage_days), "process_snapshots": dt.timedelta(days=1),
                        "alert_logs": dt.timedelta(days=7),
                        "user_usage_metrics": dt.timedelta(days=usage_days)}
        kinds = dict(conn.execute("SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                                  "ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                                  "AND c.relname = 'hourly_performance_stats'").fetchall())
        caggs = [r[0] for r in conn.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates")]
        jobs = sorted(conn.execute(
            "SELECT j.proc_name, coalesce(ca.view_name, j.hypertable_name) "
            "FROM timescaledb_information.jobs j LEFT JOIN timescaledb_information.continuous_aggregates ca "
            "ON ca.materialization_hypertable_name = j.hypertable_name "
            "WHERE j.hypertable_name IS NOT NULL").fetchall())
        if database.tier == "apache":
            assert kinds == {"hourly_performance_stats": "r"} and caggs == [] and jobs == []
        else:
            ledger = ["user_usage_daily", "user_usage_host_daily", "user_usage_host_hourly", "user_usage_hourly"]
            assert kinds == {"hourly_performance_stats": "v"} and sorted(caggs) == ["hourly_performance_stats", *ledger]
            assert jobs == sorted([
                ("policy_compression", "usage_metrics"), ("policy_retention", "usage_metrics"),
                ("policy_compression", "process_snapshots"), ("policy_retention", "process_snapshots"),
                ("policy_refresh_continuous_aggregate", "hourly_performance_stats"),
                ("policy_retention", "hourly_performance_stats"),
                ("policy_compression", "user_usage_metrics"), ("policy_retention", "user_usage_metrics"),
                *[(p, v) for v in ledger for p in ("policy_refresh_continuous_aggregate", "policy_retention")]])


def test_last_seen_follows_inserts(database) -> None:
    with database.connect() as conn:
        assert conn.execute("SELECT value FROM sru_meta WHERE key = 'last_seen_maintained_by'"
                            ).fetchone() == ("trigger",)
        a, b = add_system(conn, "a"), add_system(conn, "b")
        with conn.cursor().copy("COPY usage_metrics (system_id, timestamp, cpu_percent) FROM STDIN") as cp:
            for i in range(10):
                cp.write_row((a, T0 + dt.timedelta(minutes=i), 1.0))
            cp.write_row((b, T0, 1.0))
        seen = dict(conn.execute("SELECT hostname, last_seen FROM systems").fetchall())
        assert seen == {"a": T0 + dt.timedelta(minutes=9), "b": T0}
        # An older, late sample never moves last_seen back.
        conn.execute("INSERT INTO usage_metrics (system_id, timestamp) VALUES (%s, %s)",
                     (a, T0 - dt.timedelta(days=1)))
        assert conn.execute("SELECT last_seen FROM systems WHERE id = %s", (a,)).fetchone() == (
            T0 + dt.timedelta(minutes=9),)
        # Upserts that complete a row count too, and new chunks (a new day) are created fine.
        conn.execute("INSERT INTO usage_metrics (system_id, timestamp, ram_percent) VALUES (%s, %s, 3) "
                     "ON CONFLICT (system_id, timestamp) DO UPDATE SET ram_percent = EXCLUDED.ram_percent",
                     (b, T0 + dt.timedelta(days=3)))
        assert conn.execute("SELECT last_seen FROM systems WHERE id = %s", (b,)).fetchone() == (
            T0 + dt.timedelta(days=3),)
