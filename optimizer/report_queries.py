"""What `sru report` shows, read from the database: one :class:`~optimizer.report_model.Report`
(fleet overview, ranked recommendations, per-host sections with daily series, the forecasts the
optimizer's last pass stored, and anomaly episodes) that every renderer of :mod:`optimizer.report`
formats. Reads only (nothing is fitted here but the weekly CPU profile); the caller owns the connection."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from optimizer import thresholds
from optimizer.report_model import (
    DailySeries,
    DepartmentUsage,
    Episode,
    Fleet,
    Hardware,
    HostSection,
    Percentiles,
    Report,
    TopUser,
)
from optimizer.report_model import Recommendation as RecommendationRow
from sru import clock

if TYPE_CHECKING:
    import psycopg


def build_report(conn: psycopg.Connection, *, window: timedelta = timedelta(days=30),
                 hosts: Sequence[str] | None = None, now: datetime | None = None) -> Report:
    """The report of the hosts ``hosts`` (default: every host not retired) over ``window`` before
    ``now``. Ends the read-only transaction it opened, so a long-lived connection stays idle."""
    from psycopg.rows import dict_row

    from optimizer import forecast, plan_store
    from optimizer.anomalies import recent_episodes
    from optimizer.usage import ledger

    cur = conn.cursor(row_factory=dict_row)
    now = now or clock.now()
    since = now - window
    host_filter = list(hosts) if hosts else None
    systems = cur.execute(
        "SELECT id, hostname, cpu_model, cpu_cores, ram_total_gb, gpu_model, gpu_count, location, status, last_seen "
        "FROM systems WHERE status <> 'retired' AND (%s::text[] IS NULL OR hostname = ANY(%s)) ORDER BY hostname",
        (host_filter, host_filter)).fetchall()
    ids = [s["id"] for s in systems]
    daily = cur.execute(
        "SELECT system_id, period_start, avg_cpu_percent, p95_cpu_percent, avg_ram_percent, p95_ram_percent, "
        "avg_gpu_utilization, p95_gpu_utilization, avg_disk_io_wait_percent, p95_disk_io_wait_percent, "
        "max_swap_percent, is_underutilized, is_overutilized, bottleneck_type, utilization_score "
        "FROM performance_summaries WHERE period_type = 'daily' AND period_start >= %s AND system_id = ANY(%s) "
        "ORDER BY system_id, period_start", (since, ids)).fetchall()
    reports = cur.execute(
        "SELECT r.id, s.hostname, r.report_type, r.severity, r.priority_score, r.status, r.title, "
        "r.recommendations, r.created_at FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id "
        "WHERE r.status IN ('pending', 'approved') AND (r.system_id = ANY(%s) OR r.system_id IS NULL) "
        "ORDER BY r.priority_score DESC, s.hostname, r.report_type", (ids,)).fetchall()
    # Anomaly episodes that were open at some point in the window (one per host, metric and
    # kind episode, however many hours it lasted).
    anomalies: dict[Any, int] = {sid: n for sid, n in conn.execute(
        "SELECT system_id, count(*) FROM anomaly_episodes WHERE coalesce(ended_at, 'infinity') > %s "
        "AND started_at < %s AND system_id = ANY(%s) GROUP BY 1", (since, now, ids)).fetchall()}
    episodes = recent_episodes(conn, since)
    hourly = conn.execute(
        "SELECT system_id, bucket, avg_cpu_percent FROM hourly_performance_stats "
        "WHERE bucket >= %s AND system_id = ANY(%s) ORDER BY system_id, bucket",
        (now - timedelta(days=28), ids)).fetchall()
    # The forecasts the optimizer's last pass fitted and stored: read, not fitted again here.
    stored = forecast.stored(conn, ("ram_percent",), ids)
    limits = thresholds.load(conn)
    top = [TopUser(username=r["username"], hosts=r["hosts"], samples=r["samples"],
                   avg_cpu_percent=r["avg_cpu_percent"], max_cpu_percent=r["max_cpu_percent"],
                   avg_memory_mb=r["avg_memory_mb"], max_memory_mb=r["max_memory_mb"],
                   max_gpu_memory_mb=r["max_gpu_memory_mb"])
           for r in cur.execute("SELECT * FROM get_top_resource_consumers('cpu', %s, 5)", (since,)).fetchall()]
    plan = plan_store.report_section(conn, now)
    departments = ledger(conn, "department", since, now)
    conn.rollback()

    by_host: dict[Any, list[dict[str, Any]]] = {}
    for d in daily:
        by_host.setdefault(d["system_id"], []).append(d)
    hourly_by: dict[Any, tuple[list[datetime], list[float]]] = {}
    for sid, bucket, cpu in hourly:
        h = hourly_by.setdefault(sid, ([], []))
        h[0].append(bucket)
        h[1].append(cpu)
    host_sections: list[HostSection] = []
    for s in systems:
        days = by_host.get(s["id"], [])
        fc = stored.forecasts.get(s["id"], {}).get("ram_percent")
        hs = hourly_by.get(s["id"])
        host_sections.append(HostSection(
            hostname=s["hostname"],
            hardware=Hardware(cpu_model=s["cpu_model"], cpu_cores=s["cpu_cores"], ram_total_gb=s["ram_total_gb"],
                              gpu_model=s["gpu_model"], gpu_count=s["gpu_count"], location=s["location"]),
            days=len(days),
            utilization_score=_mean([d["utilization_score"] for d in days]),
            p95=Percentiles(cpu=_p95([d["p95_cpu_percent"] for d in days]),
                            ram=_p95([d["p95_ram_percent"] for d in days]),
                            gpu=_p95([d["p95_gpu_utilization"] for d in days]),
                            io_wait=_p95([d["p95_disk_io_wait_percent"] for d in days])),
            underutilized_days=sum(1 for d in days if d["is_underutilized"]),
            overutilized_days=sum(1 for d in days if d["is_overutilized"]),
            bottlenecks=dict(Counter(d["bottleneck_type"] for d in days if d["bottleneck_type"])),
            anomalies=anomalies.get(s["id"], 0),
            anomaly_episodes=[Episode(metric=e["metric"], kind=e["kind"], started_at=e["started_at"],
                                      ended_at=e["ended_at"], peak=e["peak"], baseline=e["baseline"],
                                      score=e["score"], hours=e["hours"]) for e in episodes.get(s["id"], [])],
            forecast_ram=fc.as_dict() if fc else None,
            series=DailySeries(day=[d["period_start"].date().isoformat() for d in days],
                               cpu=[d["avg_cpu_percent"] for d in days], ram=[d["avg_ram_percent"] for d in days],
                               gpu=[d["avg_gpu_utilization"] for d in days],
                               io_wait=[d["avg_disk_io_wait_percent"] for d in days]),
            forecast_line=fc.line if fc and fc.line else None,
            weekly_cpu=forecast.weekly_profile(hs[0], hs[1]) if hs else None,
            recommendations=[r["title"] for r in reports if r["hostname"] == s["hostname"]]))
    scores = [h["utilization_score"] for h in host_sections if h["utilization_score"] is not None]
    return Report(
        generated_at=now.isoformat(timespec="seconds"), window_days=window.days,
        forecasts_fitted_at=stored.last_fitted_at.isoformat(timespec="seconds") if stored.last_fitted_at else None,
        fleet=Fleet(hosts=len(systems), hosts_with_data=sum(1 for h in host_sections if h["days"]),
                    mean_utilization_score=_mean(scores),
                    underutilized_hosts=[h["hostname"] for h in host_sections
                                         if h["days"] and h["underutilized_days"] >= limits["idle_share"] * h["days"]],
                    overutilized_hosts=[h["hostname"] for h in host_sections
                                        if h["days"] and h["overutilized_days"] >= limits["hot_share"] * h["days"]],
                    pending_recommendations=sum(1 for r in reports if r["status"] == "pending"),
                    anomalies=sum(anomalies.values()), top_cpu_users=top),
        recommendations=[RecommendationRow(
            id=str(r["id"]), hostname=r["hostname"], report_type=r["report_type"], severity=r["severity"],
            priority_score=r["priority_score"], status=r["status"], title=r["title"],
            recommendations=r["recommendations"], created_at=r["created_at"]) for r in reports],
        hosts=host_sections,
        plan=plan,
        usage=[DepartmentUsage({
            "department": row.department or "unassigned", "hours": row.hours, "cpu_core_hours": row.cpu_core_hours,
            "ram_gb_hours": row.ram_gb_hours, "gpu_hours": row.gpu_hours,
            "gpu_idle_held_hours": row.gpu_idle_held_hours, "gpu_memory_gb_hours": row.gpu_memory_gb_hours,
            "users": row.users or 0, "hosts": row.hosts or 0,
            "from": departments.start.isoformat(), "to": departments.end.isoformat()})
            for row in departments.rows],
    )


def _mean(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return round(sum(v) / len(v), 1) if v else None


def _p95(values: Sequence[float | None]) -> float | None:
    import numpy as np

    v = [x for x in values if x is not None]
    return round(float(np.percentile(v, 95)), 1) if v else None
