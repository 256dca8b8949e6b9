"""Same history, same answers on the apache and the full tier.

The full tier keeps hourly_performance_stats as a continuous aggregate kept by TimescaleDB's refresh
policy; the apache tier as a table the optimizer rolls up. Both get the same demo history, the full
tier's refresh policy runs once (which, before sql/008, left older never-materialized hours out of the
aggregate), then a late backfill arrives on both; after every optimizer pass, summaries, anomalies,
recommendations and every dashboard query must agree (within float tolerance)."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from sru.db import scalar
from tests.fixtures.postgres import Database, tier_database
from tests.support.grafana.dashboards import load_dashboards, queries
from tests.support.grafana.render import default_range, panel_context, resolve_variables, run_sql

# Recent enough that the refresh policy's window (the last 360 days) covers it.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
NOW = END + timedelta(hours=1)
DAYS = 35

# Everything the optimizer writes, and the rows of the workflow it starts. Identity columns and
# times of writing differ between two databases by nature.
_VOLATILE = {"id", "system_id", "created_at", "updated_at", "computed_at", "applied_at",
             "status_changed_at", "report_id", "recorded_at"}
_OPTIMIZER_TABLES = ("performance_summaries", "optimization_reports", "alert_logs",
                     "hourly_performance_stats")


def _norm(value):
    # Fast paths by exact type first: the comparisons normalise ~2M values per run (most of this
    # test's time went here); the general chain below handles everything else the same way.
    kind = type(value)
    if kind is float:
        return None if value != value else float(f"{value:.9g}")
    if kind is dict:
        return {k: (float(f"{v:.9g}") if type(v) is float and v == v else _norm(v))
                for k, v in value.items() if k not in _VOLATILE}
    if kind is str:
        if value[:1] in "{[":
            try:
                return _norm(json.loads(value))
            except ValueError:
                return value
        if len(value) < 32:   # a UUID's text has at least its 32 hex digits
            return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (float, Decimal)):
        value = float(value)
        return None if math.isnan(value) else float(f"{value:.9g}")
    if isinstance(value, uuid.UUID):
        return "<uuid>"
    if isinstance(value, datetime) and value > datetime.now(UTC) - timedelta(minutes=30):
        return "<time of writing>"   # data ends 2 hours ago: anything newer is a row's creation time
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _norm(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, str):
        try:
            uuid.UUID(value)
            return "<uuid>"
        except ValueError:
            return value
    return value


def _table_rows(conn: psycopg.Connection, table: str) -> list[str]:
    host_col = "system_id"
    rows = conn.execute(
        f"SELECT s.hostname, to_jsonb(t) FROM {table} t LEFT JOIN systems s ON s.id = t.{host_col}").fetchall()
    return sorted(repr((host, _norm(doc))) for host, doc in rows)


def _optimizer_tables(conn: psycopg.Connection) -> dict[str, list[str]]:
    extra = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'system_id' AND (table_name LIKE '%%anomal%%' OR table_name LIKE '%%episode%%' "
        "OR table_name LIKE '%%forecast%%') ORDER BY 1")]
    return {t: _table_rows(conn, t) for t in (*_OPTIMIZER_TABLES, *extra)}


def _dashboard_results(db: Database) -> dict[str, list[str]]:
    out = {}
    with db.connect("dashboard_readonly", autocommit=True) as conn:
        for name, dashboard in load_dashboards().items():
            t_from, t_to = default_range(dashboard, NOW)
            variables = resolve_variables(dashboard, conn, t_from, t_to)
            for q in queries(name, dashboard):
                if q.kind != "sql":
                    continue
                result = run_sql(conn, q, panel_context(q, variables, t_from, t_to))
                out[q.label] = sorted(repr(tuple(_norm(v) for v in row)) for row in result.rows)
    return out


def _backfill(conn: psycopg.Connection) -> None:
    """Late history: a week of samples before the demo's first day for every host, and a changed
    value inside an hour both tiers have summarised already."""
    first = scalar(conn, 'SELECT min("timestamp") FROM usage_metrics')
    conn.execute(
        """INSERT INTO usage_metrics (system_id, "timestamp", cpu_percent, ram_percent, load_1m)
           SELECT s.id, t, 20 + 10 * sin(extract(epoch FROM t) / 3600.0), 40, 1.5
             FROM systems s, generate_series(%s - INTERVAL '7 days', %s - INTERVAL '1 hour',
                                             INTERVAL '1 hour') t""", (first, first))
    conn.execute('UPDATE usage_metrics SET cpu_percent = 99.5 WHERE "timestamp" = %s', (END - timedelta(days=3),))
    conn.commit()


def _run_refresh_policy(conn: psycopg.Connection) -> None:
    job = scalar(conn, "SELECT job_id FROM timescaledb_information.jobs "
                       "WHERE proc_name = 'policy_refresh_continuous_aggregate'")
    conn.execute("CALL run_job(%s)", (job,))


@pytest.fixture
def two_tiers(request) -> tuple[Database, Database]:
    return tier_database(request, "apache"), tier_database(request, "full")


def test_same_history_same_answers_on_apache_and_full(two_tiers) -> None:
    from optimizer.demo import generate
    from optimizer.run import run_once

    apache, full = two_tiers
    for db in two_tiers:
        with db.connect() as conn:
            generate(conn, hosts=7, days=DAYS, interval=timedelta(hours=1), seed=11, end=END)
            # An incident in the last week, so that both tiers have an anomaly episode to agree on.
            conn.execute("UPDATE usage_metrics u SET cpu_percent = 97 FROM systems s WHERE s.id = u.system_id "
                         "AND s.hostname = 'demo-idle-01' AND u.\"timestamp\" BETWEEN %s AND %s",
                         (END - timedelta(hours=40), END - timedelta(hours=28)))
            conn.commit()
    with full.connect(autocommit=True) as conn:
        _run_refresh_policy(conn)

    def passes(**kw):
        results = {}
        for db in two_tiers:
            with db.connect("analyst") as conn:
                results[db.tier] = run_once(conn, now=NOW, **kw)
        return results

    def compare(stage: str) -> None:
        with apache.connect() as a, full.connect() as f:
            left, right = _optimizer_tables(a), _optimizer_tables(f)
        assert left.keys() == right.keys()
        for table in left:
            assert left[table], f"{stage}: {table} is empty on apache"
            assert left[table] == right[table], f"{stage}: {table} differs between apache and full"
        dashboards_a, dashboards_f = _dashboard_results(apache), _dashboard_results(full)
        for label, rows in dashboards_a.items():
            assert rows == dashboards_f[label], f"{stage}: dashboard query {label} differs"

    passes(full=True)
    with apache.connect() as a:
        hourly = a.execute("SELECT count(*) FROM performance_summaries WHERE period_type = 'hourly'").fetchone()[0]
    assert hourly > 7 * 24 * 30, hourly
    compare("full pass")

    with full.connect() as f:
        first = f.execute('SELECT min("timestamp") FROM usage_metrics').fetchone()[0]
    for db in two_tiers:
        with db.connect() as conn:
            _backfill(conn)
    # An incremental pass told where the late data starts, as after an outage or an import.
    passes(since=END - timedelta(days=DAYS + 8))
    with full.connect() as f:
        assert f.execute("SELECT max_cpu_percent FROM hourly_performance_stats h JOIN systems s "
                         "ON s.id = h.system_id WHERE bucket = %s LIMIT 1",
                         (END - timedelta(days=3),)).fetchone() == (99.5,)
        assert f.execute("SELECT count(*) FROM hourly_performance_stats WHERE bucket < %s",
                         (first,)).fetchone()[0] == 7 * 24 * 7
    compare("after backfill")


def test_late_data_reaches_the_aggregate_through_the_policy(full_database) -> None:
    """Without the optimizer: the refresh policy alone (sql/008) materializes history it has never
    seen, and picks up a later change below its watermark at its next run."""
    with full_database.connect(autocommit=True) as conn:
        sid = conn.execute("INSERT INTO systems (hostname) VALUES ('late') RETURNING id").fetchone()[0]
        start = END - timedelta(days=20)
        conn.execute('INSERT INTO usage_metrics (system_id, "timestamp", cpu_percent) '
                     "SELECT %s, t, 10 FROM generate_series(%s, %s, INTERVAL '5 minutes') t",
                     (sid, start, END))
        _run_refresh_policy(conn)
        # Every hour is there: the materialized ones and the newest, computed in real time.
        assert conn.execute("SELECT count(*), min(bucket), max(bucket) FROM hourly_performance_stats"
                            ).fetchone() == (20 * 24 + 1, start, END)
        old = start + timedelta(days=1)
        conn.execute('UPDATE usage_metrics SET cpu_percent = 70 WHERE "timestamp" = %s', (old,))
        conn.execute('INSERT INTO usage_metrics (system_id, "timestamp", cpu_percent) VALUES (%s, %s, 40)',
                     (sid, start - timedelta(days=2)))
        _run_refresh_policy(conn)
        rows = dict(conn.execute("SELECT bucket, max_cpu_percent FROM hourly_performance_stats "
                                 "WHERE bucket IN (%s, %s)", (old, start - timedelta(days=2))).fetchall())
        assert rows == {old: 70, start - timedelta(days=2): 40}
