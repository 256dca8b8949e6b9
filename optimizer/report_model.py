"""The shape of `sru report`: what :func:`optimizer.report_queries.build_report` returns and every
renderer (:mod:`optimizer.report_text`, :mod:`optimizer.report_html`, the console's download) reads.
TypedDicts rather than dataclasses because the JSON format is the dict itself: a renderer that reads
a key the builder does not write, or a builder that forgets one, is a mypy error instead of a 500
(issue 23 item 4; the host page's 500 of 2fe1cfd was such a key). Standard library only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict


class ForecastFigures(TypedDict):
    """A forecast's figures (optimizer/forecast.py ``Forecast.as_dict``): the keys whose figure does
    not exist (no trend: no slope, no dates) are left out, as the JSON report always did."""

    metric: str
    status: str              # 'crossing', 'no_crossing', 'not_enough_data', 'no_trend'
    limit: float
    days_used: int
    slope_per_day: NotRequired[float]
    r2: NotRequired[float]
    p_value: NotRequired[float]
    crossing_date: NotRequired[str]
    earliest_date: NotRequired[str]
    latest_date: NotRequired[str]


ForecastPoint = tuple[str, float, float, float]   # (day, mean, lower, upper) of the 95 % band


class Hardware(TypedDict):
    cpu_model: str | None
    cpu_cores: int | None
    ram_total_gb: float | None
    gpu_model: str | None
    gpu_count: int | None
    location: str | None


class Percentiles(TypedDict):
    """p95 over the window's daily p95s, per resource (None: no data)."""

    cpu: float | None
    ram: float | None
    gpu: float | None
    io_wait: float | None


class DailySeries(TypedDict):
    """Daily means per resource, one value per day of ``day`` (ISO dates)."""

    day: list[str]
    cpu: list[float | None]
    ram: list[float | None]
    gpu: list[float | None]
    io_wait: list[float | None]


class WeeklyProfile(TypedDict):
    profile: list[float]     # 168 hourly values from Monday 00:00 UTC
    strength: float          # share of the variance the weekly pattern explains


class Episode(TypedDict):
    """An anomaly episode as optimizer/anomalies.py ``recent_episodes`` gives it."""

    metric: str
    kind: str
    started_at: str
    ended_at: str | None
    peak: float | None
    baseline: float | None
    score: float | None
    hours: int


class HostSection(TypedDict):
    hostname: str
    hardware: Hardware
    days: int                            # days with a daily summary in the window
    utilization_score: float | None
    p95: Percentiles
    underutilized_days: int
    overutilized_days: int
    bottlenecks: dict[str, int]          # bottleneck type → days
    anomalies: int                       # episodes open at some point in the window
    anomaly_episodes: list[Episode]
    forecast_ram: ForecastFigures | None     # the stored forecast (None: none stored for the host)
    series: DailySeries
    forecast_line: list[ForecastPoint] | None
    weekly_cpu: WeeklyProfile | None
    recommendations: list[str]           # titles of its pending and approved recommendations


class TopUser(TypedDict):
    """A row of get_top_resource_consumers() (sql/R__get_top_resource_consumers.sql)."""

    username: str
    hosts: list[str]
    samples: int
    avg_cpu_percent: float | None
    max_cpu_percent: float | None
    avg_memory_mb: float | None
    max_memory_mb: float | None
    max_gpu_memory_mb: float | None


class Fleet(TypedDict):
    hosts: int
    hosts_with_data: int
    mean_utilization_score: float | None
    underutilized_hosts: list[str]
    overutilized_hosts: list[str]
    pending_recommendations: int
    anomalies: int
    top_cpu_users: list[TopUser]


class Recommendation(TypedDict):
    id: str
    hostname: str | None                 # None: a fleet-wide recommendation
    report_type: str
    severity: str
    priority_score: int
    status: str
    title: str
    recommendations: dict[str, Any] | None   # the evidence: free-form JSON, per kind
    created_at: datetime


class PlanReceiver(TypedDict):
    predicted: dict[str, Any]            # cpu_p95, cpu_p99, ram_p95, ram_p99 (stored evidence)
    realised: dict[str, Any] | None      # the same and hours, complete; None before implementation


class PlanReport(TypedDict):
    id: str
    host: str
    status: str
    receivers: dict[str, PlanReceiver]


class PlanSection(TypedDict):
    """The newest stored consolidation plan, compact (optimizer/plan_store.py ``report_section``)."""

    id: str
    planned_at: datetime
    created_by: str
    hosts_planned: int | None
    retire: list[str]
    saving: dict[str, Any]
    options: dict[str, Any]
    baselines: dict[str, int]            # method → hosts it would retire
    reports: list[PlanReport]


# One department of the usage ledger (optimizer/usage.py); "from" is a keyword, hence this spelling.
DepartmentUsage = TypedDict("DepartmentUsage", {
    "department": str, "hours": float, "cpu_core_hours": float, "ram_gb_hours": float, "gpu_hours": float,
    "gpu_idle_held_hours": float, "gpu_memory_gb_hours": float, "users": int, "hosts": int,
    "from": str, "to": str})


class Report(TypedDict):
    generated_at: str
    window_days: int
    forecasts_fitted_at: str | None      # the optimizer pass whose forecasts are shown (None: none yet)
    fleet: Fleet
    recommendations: list[Recommendation]
    hosts: list[HostSection]
    plan: PlanSection | None             # the newest consolidation plan, or None
    # Department totals of the usage ledger (issue 19): the report is for everyone who may read
    # the fleet's figures, so it names no user (sql/README.md, "Per-user usage").
    usage: list[DepartmentUsage]
