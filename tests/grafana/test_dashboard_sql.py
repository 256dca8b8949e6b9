"""Every SQL query of every dashboard panel and variable, with Grafana's macros and variables expanded,
run against TimescaleDB filled with the optimizer's demo data and summarised by a real optimizer
pass, as a login user that has only the dashboard_readonly role (the datasource's).

Each query must run without error for several ranges (so every branch of sru_usage_series is taken),
return rows for the dashboard's default range, and stay fast. bench/dashboards measures the same
queries on the design's volume."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from scripts.pgcluster import PgCluster, community_edition_missing
from sru import clock
from tests.fixtures.postgres import Database, create_database, drop_database
from tests.support.grafana.dashboards import load_dashboards, queries
from tests.support.grafana.render import RANGES, default_range, panel_context, resolve_variables, run_sql

DASHBOARDS = load_dashboards()
SQL_QUERIES = [q for name, d in DASHBOARDS.items() for q in queries(name, d) if q.kind == "sql"]
# A generous bound for 2 shared CPU cores; the figures on the design's volume are in bench/README.md.
MAX_SECONDS = 2.0
# Two of each archetype over five weeks by default; CI (.ci/run) sets SRU_DASHBOARD_VOLUME=design to
# run every query on the design's volume (50 hosts × 365 days at 5 min, 5.26M rows; ~5 more minutes).
DESIGN_VOLUME = os.environ.get("SRU_DASHBOARD_VOLUME") == "design"
DEMO_HOSTS = 50 if DESIGN_VOLUME else 14
DEMO_DAYS = 365 if DESIGN_VOLUME else 35
# The first test's setup builds both tiers' demo databases at once (demo_builds): at the design volume
# that is longer than the one build per tier the suite's 300 s per test used to hold.
# The default ranges (24 h for a host) must hold rows whatever the hour and weekday the demo history
# ends at: scripts/clock-sweep runs this module at the instants that broke it (a Monday 00:10).
pytestmark = [pytest.mark.timeout(900), pytest.mark.dated]


def _alert_rows(conn: psycopg.Connection, now: datetime) -> None:
    """A few alert_logs rows for every demo host, as the alert receiver writes them: one resolved and
    acknowledged, one still open, one for an instance no systems row knows (system_id NULL); an open
    anomaly episode per host."""
    hosts = conn.execute("SELECT id, hostname FROM systems ORDER BY hostname").fetchall()
    rule_names = ["SruCpuSaturated", "SruMemoryHigh", "SruHighIoWait"]
    for i, (system_id, hostname) in enumerate(hosts):
        fired = now - timedelta(days=3, hours=i)
        conn.execute("""
            INSERT INTO alert_logs (system_id, alert_name, fingerprint, triggered_at, resolved_at, metric_name,
                                    actual_value, threshold_value, severity, labels, annotations,
                                    is_acknowledged, acknowledged_by, acknowledged_at)
            VALUES (%(sid)s, %(rule)s, %(fp1)s, %(fired)s, %(fired)s + interval '47 minutes', 'cpu_percent', 97.5,
                    95, 'warning', jsonb_build_object('instance', %(host)s || ':9847'),
                    jsonb_build_object('summary', 'CPU saturated on ' || %(host)s), true, 'admin',
                    %(fired)s + interval '5 minutes'),
                   (%(sid)s, 'SruSwappingHard', %(fp2)s, %(now)s - interval '20 minutes', NULL, 'swap_percent', 60,
                    50, %(sev)s, jsonb_build_object('instance', %(host)s || ':9847'),
                    jsonb_build_object('summary', 'Swapping on ' || %(host)s), false, NULL, NULL)""",
                     {"sid": system_id, "rule": rule_names[i % 3], "fp1": f"{i:016x}", "fp2": f"{i + 100:016x}",
                      "fired": fired, "now": now, "host": hostname, "sev": ("critical", "warning", "info")[i % 3]})
    # And an open anomaly episode per host, as `sru optimize` stores it.
    conn.execute("SELECT record_anomaly_episodes(%s)", (Jsonb([
        {"system_id": str(system_id), "kind": "level_shift", "metric": "cpu_percent",
         "started_at": (now - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0).isoformat(),
         "ended_at": None, "value": 88, "threshold": 30, "score": 7.5, "severity": "warning", "hours": 5,
         "evidence": {"method": "all hours, previous 30 days"}} for system_id, _ in hosts]),))
    conn.execute("""
        INSERT INTO alert_logs (alert_name, fingerprint, triggered_at, severity, labels)
        VALUES ('SruHostDown', 'ffffffffffffffff', %s, 'critical', '{"instance": "gone:9847"}')""",
                 (now - timedelta(hours=2),))


def _build_demo(cluster: PgCluster, templates: dict[str, str], tier: str) -> Database:
    """One tier's demo database: the demo fleet, summarised by a full optimizer pass, with alerts."""
    from optimizer.demo import generate
    from optimizer.run import run_once

    db = create_database(cluster, templates, tier)
    try:
        now = clock.now()
        with db.connect() as conn:
            generate(conn, hosts=DEMO_HOSTS, days=DEMO_DAYS, interval=timedelta(minutes=5), seed=7, end=now)
            # The optimizer's pass fills hourly_performance_stats (rollup), performance_summaries and reports.
            run_once(conn, full=True)
        with psycopg.connect(db.url, autocommit=True) as conn:
            _alert_rows(conn, now)
            conn.execute("ANALYZE")
    except BaseException:
        drop_database(db)
        raise
    return db


@pytest.fixture(scope="module")
def demo_builds(request) -> Iterator[dict[str, Future[Database]]]:
    """Both tiers' demo databases, built at the same time in two threads. Each build is almost all
    its own server's work (COPY into the hypertable, the optimizer's pass) and the tiers live on two
    servers, so on CI's 2 cores the builds overlap instead of running one after the other (at the
    design volume that was most of this module's time). Both are finished before the first query is
    timed, so no query runs beside a build. Where tier full cannot run, only apache is built (its
    demo_db skips or fails for the reason)."""
    targets = {"apache": (request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_templates"))}
    if community_edition_missing() is None:
        targets["full"] = (request.getfixturevalue("pg_cluster_full"),
                           request.getfixturevalue("pg_templates_full"))
    with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="demo-build") as pool:
        builds = {tier: pool.submit(_build_demo, cluster, templates, tier)
                  for tier, (cluster, templates) in targets.items()}
        wait(builds.values())
    yield builds
    for build in builds.values():
        if build.exception() is None:
            drop_database(build.result())


@pytest.fixture(scope="module", params=["apache", "full"])
def demo_db(request, demo_builds: dict[str, Future[Database]]) -> Database:
    """The demo fleet on each TimescaleDB tier: on full, the long ranges read the continuous
    aggregate (materialized by the optimizer's pass, real-time for the newest hour)."""
    if request.param == "full":
        request.getfixturevalue("pg_cluster_full")   # skips, or fails where CI requires the tier
    return demo_builds[request.param].result()


@pytest.fixture(scope="module")
def readonly(demo_db: Database) -> Iterator[psycopg.Connection]:
    with demo_db.connect("dashboard_readonly", autocommit=True) as conn:
        yield conn


def test_demo_data_feeds_every_source(readonly):
    counts = {t: readonly.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (
        "systems", "usage_metrics", "hourly_performance_stats", "performance_summaries", "user_sessions",
        "process_snapshots", "optimization_reports", "alert_logs", "users")}
    assert all(counts.values()), counts


@pytest.mark.parametrize("query", SQL_QUERIES, ids=[q.label for q in SQL_QUERIES])
def test_sql_query_runs_returns_rows_and_is_fast(query, readonly):
    dashboard = DASHBOARDS[query.dashboard]
    now = clock.now()
    checked = []
    for name, span in [("default", None), *RANGES.items()]:
        t_from, t_to = default_range(dashboard, now) if span is None else (now - span, now)
        variables = resolve_variables(dashboard, readonly, t_from, t_to)
        ctx = panel_context(query, variables, t_from, t_to)
        result = run_sql(readonly, query, ctx)
        assert result.seconds < MAX_SECONDS, f"{query.label} over {name}: {result.seconds:.2f}s\n{result.sql}"
        if name == "default":
            assert result.rows, f"{query.label}: no rows for the default range\n{result.sql}"
        checked.append((name, ctx.interval, len(result.rows)))
    assert len(checked) == 1 + len(RANGES)


def _executed_plans(db: Database, sql: str) -> str:
    """The plans of every statement the query ran, the ones sru_usage_series EXECUTEs inside
    included: auto_explain, reporting to this session (LOAD needs the superuser)."""
    notices: list[str] = []
    with db.connect(autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("LOAD 'auto_explain'")
        for setting, value in (("log_min_duration", "0"), ("log_analyze", "on"), ("log_timing", "off"),
                               ("log_nested_statements", "on"), ("log_level", "notice")):
            conn.execute(f"SET auto_explain.{setting} = {value}")
        conn.execute(sql).fetchall()
    assert notices, "auto_explain reported no plan"
    return "\n".join(notices)


def test_long_ranges_read_summaries_not_raw_samples(readonly, demo_db):
    """The heat maps over 30 days use 12 h buckets (hourly stats); over a year, weekly buckets of the
    daily summaries."""
    readonly_tier = demo_db.tier
    hosts = [r[0] for r in readonly.execute("SELECT id FROM systems")]
    # Chunks by the relation they store (on full, the aggregate's materialization hypertable too).
    chunks: dict[str, set[str]] = {}
    if readonly_tier != "plain":
        for relation, chunk in readonly.execute(
                "SELECT coalesce(ca.view_name, c.hypertable_name), c.chunk_name "
                "FROM timescaledb_information.chunks c LEFT JOIN timescaledb_information.continuous_aggregates ca "
                "ON ca.materialization_hypertable_name = c.hypertable_name"):
            chunks.setdefault(relation, set()).add(chunk)
    fleet = DASHBOARDS["fleet-overview.json"]
    heat = next(q for q in queries("fleet-overview.json", fleet) if q.where.startswith("CPU utilisation by host"))
    now = clock.now()
    for span, source in ((timedelta(days=30), "hourly_performance_stats"),
                         (timedelta(days=365), "performance_summaries"),
                         (timedelta(hours=6), "usage_metrics")):
        variables = resolve_variables(fleet, readonly, now - span, now)
        ctx = panel_context(heat, variables, now - span, now)
        plan = _executed_plans(demo_db, run_sql(readonly, heat, ctx).sql)
        executed = [line for line in plan.splitlines() if "never executed" not in line]
        rows_read: dict[str, int] = {}
        for line in executed:
            for t in ("usage_metrics", "hourly_performance_stats", "performance_summaries"):
                if t in line or any(c in line for c in chunks.get(t, ())):
                    counted = re.search(r"actual rows=(\d+)", line)   # not on filter and sort-key lines
                    rows_read[t] = rows_read.get(t, 0) + (int(counted.group(1)) if counted else 0)
        touched = set(rows_read)
        if readonly_tier == "full" and source == "hourly_performance_stats":
            # Real-time aggregation reads raw rows above the aggregate's watermark: the newest hour
            # at most, never the range.
            assert rows_read.get("usage_metrics", 0) <= 2 * 12 * len(hosts), (span, rows_read, plan)
            touched.discard("usage_metrics")
        assert touched == {source}, (span, touched, plan)
