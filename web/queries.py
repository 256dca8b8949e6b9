"""What the console reads, as dashboard_readonly. Every query is bounded (by time and by host) so
a page stays cheap at the design volume (50 hosts × 1 year); each chart range reads the coarsest
source that still draws it well: raw rows for 24 h, hourly stats for 7 and 30 days, daily summaries
for a year."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict

import psycopg
from psycopg.rows import dict_row

from optimizer.report_model import ForecastPoint
from sru import clock

ANOMALY = "labels ->> 'source' = 'sru-optimizer'"
STALE_AFTER = timedelta(minutes=15)
# range → (source, span, step of the chart's x axis: one slot per step)
RANGES: dict[str, tuple[str, timedelta, timedelta]] = {
    "24h": ("raw", timedelta(hours=24), timedelta(minutes=5)),
    "7d": ("hourly", timedelta(days=7), timedelta(hours=1)),
    "30d": ("hourly", timedelta(days=30), timedelta(hours=1)),
    "1y": ("daily", timedelta(days=365), timedelta(days=1)),
}
SPARK_DAYS = 7
SPARK_STEP = timedelta(hours=2)


class NotFound(LookupError):
    pass


def _rows(conn: psycopg.Connection, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()


def fleet(conn: psycopg.Connection, now: datetime, *, location: str | None = None,
          status: str | None = None) -> list[dict[str, Any]]:
    """Every host with its state; sparklines come from sparklines() (cached by the app)."""
    rows = _rows(conn, f"""
        WITH recent AS (
          SELECT system_id, period_start, utilization_score, bottleneck_type
            FROM performance_summaries
           WHERE period_type = 'daily' AND period_start >= %(now)s - interval '7 days'
        ), score AS (
          SELECT DISTINCT ON (system_id) system_id, utilization_score
            FROM recent WHERE utilization_score IS NOT NULL ORDER BY system_id, period_start DESC
        ), bn AS (
          SELECT system_id, array_agg(DISTINCT bottleneck_type ORDER BY bottleneck_type) AS bottlenecks
            FROM recent WHERE bottleneck_type IS NOT NULL GROUP BY system_id
        ), al AS (
          SELECT system_id, count(*) FILTER (WHERE NOT coalesce({ANOMALY}, false)) AS open_alerts,
                 count(*) FILTER (WHERE {ANOMALY}) AS open_anomalies
            FROM alert_logs WHERE resolved_at IS NULL GROUP BY system_id
        ), rec AS (
          SELECT system_id, count(*) AS pending FROM optimization_reports WHERE status = 'pending' GROUP BY system_id
        )
        SELECT s.id, s.hostname, s.location, s.status, s.last_seen, s.cpu_cores, s.ram_total_gb, s.gpu_count,
               score.utilization_score, coalesce(bn.bottlenecks, '{{}}') AS bottlenecks,
               coalesce(al.open_alerts, 0) AS open_alerts, coalesce(al.open_anomalies, 0) AS open_anomalies,
               coalesce(rec.pending, 0) AS pending_recommendations
          FROM systems s
          LEFT JOIN score ON score.system_id = s.id LEFT JOIN bn ON bn.system_id = s.id
          LEFT JOIN al ON al.system_id = s.id LEFT JOIN rec ON rec.system_id = s.id
         WHERE (%(location)s::text IS NULL OR s.location = %(location)s)
           AND (%(status)s::text IS NULL OR s.status = %(status)s)
         ORDER BY s.hostname""", {"now": now, "location": location, "status": status})
    for row in rows:
        row["stale"] = row["status"] != "retired" and (row["last_seen"] is None or row["last_seen"] < now - STALE_AFTER)
    return rows


def sparklines(conn: psycopg.Connection, now: datetime) -> dict[Any, dict[str, list[float | None]]]:
    """CPU, RAM and GPU of every host over 7 days, in 2-hour points (84 per line: more than a
    120-pixel sparkline can show), averaged and gathered into arrays by PostgreSQL: 50 rows instead
    of 8,400 hourly rows to loop over here. Hourly stats change when the rollup runs, so the app
    keeps the result for a minute."""
    start = now - timedelta(days=SPARK_DAYS)
    slots = int(timedelta(days=SPARK_DAYS) / SPARK_STEP)
    spark = conn.execute("""
        WITH s AS (
          SELECT system_id, floor(extract(epoch FROM bucket - %(start)s) / %(step)s)::int AS i,
                 avg(avg_cpu_percent) AS cpu, avg(avg_ram_percent) AS ram, avg(avg_gpu_utilization) AS gpu
            FROM hourly_performance_stats WHERE bucket >= %(start)s AND bucket < %(now)s GROUP BY 1, 2)
        SELECT system_id, array_agg(i ORDER BY i), array_agg(cpu ORDER BY i), array_agg(ram ORDER BY i),
               array_agg(gpu ORDER BY i)
          FROM s GROUP BY system_id""",
                         {"start": start, "now": now, "step": SPARK_STEP.total_seconds()}).fetchall()
    by_host: dict[Any, dict[str, list[float | None]]] = {}
    for sid, idx, *series in spark:
        lines: dict[str, list[float | None]] = {}
        for name, values in zip(("cpu", "ram", "gpu"), series, strict=True):
            line: list[float | None] = [None] * slots
            for i, v in zip(idx, values, strict=True):
                if 0 <= i < slots:
                    line[i] = v
            lines[name] = line
        by_host[sid] = lines
    return by_host


def locations(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT location FROM systems WHERE location IS NOT NULL ORDER BY 1")]


class HostForecast(TypedDict):
    """One stored forecast as the host page shows it: the fields of optimizer/forecast.py's Forecast
    (None where a figure does not exist: the template shows a dash) and how soon it is full."""

    metric: str
    status: str
    limit: float
    days_used: int
    slope_per_day: float | None
    r2: float | None
    p_value: float | None
    crossing_date: str | None
    earliest_date: str | None
    latest_date: str | None
    line: list[ForecastPoint] | None     # (day, mean, lower, upper) ahead
    full_in_days: int | None    # days from the page's "now" to crossing_date (None: no crossing)


class ForecastFitting(TypedDict):
    """How the host's stored forecasts were fitted: by the pass of ``fitted_at``, on the daily
    summaries of [window_from, window_to]."""

    method: str
    horizon_days: int
    window_from: datetime
    window_to: datetime
    fitted_at: datetime


class HostPage(TypedDict):
    """What the host page and /api/v1/hosts/<host> show: every key always there (a missing one once
    answered 500), values None where there is nothing to show."""

    host: dict[str, Any]
    range: str
    source: str
    since: datetime
    now: datetime
    chart: Mapping[str, Sequence[float | None]]
    sessions: list[dict[str, Any]]
    processes: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    # The optimizer pass's stored forecasts (none: it has fitted none for this host yet, see
    # forecasts_last_pass), how they were fitted, and the daily means they were fitted on.
    forecasts: list[HostForecast]
    forecast_fitting: ForecastFitting | None
    forecasts_last_pass: datetime | None   # the last pass that stored forecasts (None: none has)
    forecast_history: dict[str, list[tuple[date, float | None]]]


def host(conn: psycopg.Connection, hostname: str, now: datetime, range_: str) -> HostPage:
    found = _rows(conn, "SELECT * FROM systems WHERE hostname = %s", (hostname,))
    if not found:
        raise NotFound(f"no host {hostname!r}")
    h = found[0]
    sid = h["id"]
    source, span, step = RANGES[range_]
    since = now - span
    if source == "raw":
        # Means per chart slot: a 15-second scrape is 5,760 rows a day, the chart has 288 slots.
        series = _rows(conn, """SELECT date_bin(%s, "timestamp", %s) AS t, avg(cpu_percent) AS cpu,
                                       avg(ram_percent) AS ram, avg(gpu_utilization) AS gpu,
                                       avg(disk_io_wait_percent) AS io_wait
                                  FROM usage_metrics WHERE system_id = %s AND "timestamp" >= %s AND "timestamp" < %s
                                 GROUP BY 1 ORDER BY 1""", (step, since, sid, since, now))
    elif source == "hourly":
        series = _rows(conn, """SELECT bucket AS t, avg_cpu_percent AS cpu, avg_ram_percent AS ram,
                                       avg_gpu_utilization AS gpu, avg_disk_io_wait_percent AS io_wait
                                  FROM hourly_performance_stats WHERE system_id = %s AND bucket >= %s AND bucket < %s
                                 ORDER BY 1""", (sid, since, now))
    else:
        series = _rows(conn, """SELECT period_start AS t, avg_cpu_percent AS cpu, avg_ram_percent AS ram,
                                       avg_gpu_utilization AS gpu, avg_disk_io_wait_percent AS io_wait
                                  FROM performance_summaries WHERE system_id = %s AND period_type = 'daily'
                                   AND period_start >= %s AND period_start < %s ORDER BY 1""", (sid, since, now))
    slots = int(span / step)
    chart: dict[str, list[float | None]] = {k: [None] * slots for k in ("cpu", "ram", "gpu", "io_wait")}
    for r in series:
        i = int((r["t"] - since) / step)
        if 0 <= i < slots:
            for k in chart:
                chart[k][i] = r[k]
    sessions = _rows(conn, """
        SELECT u.username, s.terminal, s.remote_host, s.login_time, s.logout_time, s.is_active
          FROM user_sessions s LEFT JOIN users u ON u.id = s.user_id
         WHERE s.system_id = %s AND (s.is_active OR s.login_time >= %s)
         ORDER BY s.is_active DESC, s.login_time DESC LIMIT 50""", (sid, now - timedelta(days=7)))
    processes = _rows(conn, """
        SELECT p.name, p.username, p.pid, p.cpu_percent, p.memory_mb, p.gpu_memory_mb, p."timestamp"
          FROM process_snapshots p
         WHERE p.system_id = %(sid)s AND p."timestamp" = (
               SELECT max("timestamp") FROM process_snapshots
                WHERE system_id = %(sid)s AND "timestamp" >= %(since)s AND "timestamp" <= %(now)s)
         ORDER BY p.cpu_percent DESC NULLS LAST LIMIT 15""", {"sid": sid, "since": now - timedelta(days=1), "now": now})
    anomalies = _rows(conn, f"""
        SELECT id, alert_name, severity, triggered_at, resolved_at, metric_name, actual_value, annotations
          FROM alert_logs WHERE system_id = %s AND {ANOMALY} AND triggered_at >= %s
         ORDER BY triggered_at DESC LIMIT 50""", (sid, now - timedelta(days=30)))
    recommendations = _rows(conn, """
        SELECT id, report_type, severity, priority_score, status, title, recommendations, created_at,
               status_changed_by, status_changed_at
          FROM optimization_reports WHERE system_id = %s ORDER BY status = 'pending' DESC, created_at DESC LIMIT 50""",
                            (sid,))
    forecasts, fitting, last_pass, forecast_history = _forecasts(conn, sid, now)
    return HostPage(host=h, range=range_, source=source, since=since, chart=chart, sessions=sessions,
                    processes=processes, anomalies=anomalies, recommendations=recommendations,
                    forecasts=forecasts, forecast_fitting=fitting, forecasts_last_pass=last_pass,
                    forecast_history=forecast_history, now=now)


def _forecasts(conn: psycopg.Connection, sid: Any, now: datetime) -> tuple[
        list[HostForecast], ForecastFitting | None, datetime | None, dict[str, list[tuple[date, float | None]]]]:
    """The host's forecasts as the optimizer's last pass stored them (read, never fitted here: a page
    view must stay a read), and the daily means of the window they were fitted on."""
    from optimizer import forecast

    found = forecast.stored(conn, system_ids=[sid])
    fitted = found.fitting.get(sid)
    history: dict[str, list[tuple[date, float | None]]] = {m: [] for m in forecast.METRICS}
    if fitted is None:
        return [], None, found.last_fitted_at, history
    cols = ", ".join(f"avg_{m} AS {m}" for m in forecast.METRICS)
    daily = _rows(conn, f"""SELECT period_start, {cols} FROM performance_summaries
                             WHERE system_id = %s AND period_type = 'daily' AND period_start >= %s AND period_end <= %s
                             ORDER BY period_start""", (sid, fitted.window_from, fitted.window_to))
    history = {m: [(r["period_start"].astimezone(UTC).date(), r[m]) for r in daily] for m in forecast.METRICS}
    rows = [HostForecast(metric=f.metric, status=f.status, limit=f.limit, days_used=f.days_used,
                         slope_per_day=f.slope_per_day, r2=f.r2, p_value=f.p_value, crossing_date=f.crossing_date,
                         earliest_date=f.earliest_date, latest_date=f.latest_date, line=f.line,
                         full_in_days=max(0, (date.fromisoformat(f.crossing_date[:10]) - now.date()).days)
                         if f.crossing_date else None)
            for f in found.forecasts.get(sid, {}).values()]
    return rows, ForecastFitting(method=fitted.method, horizon_days=fitted.horizon_days,
                                 window_from=fitted.window_from, window_to=fitted.window_to,
                                 fitted_at=fitted.fitted_at), found.last_fitted_at, history


def alerts(conn: psycopg.Connection, *, state: str = "firing", severity: str | None = None, host: str | None = None,
           rule: str | None = None, since: datetime | None = None, until: datetime | None = None,
           limit: int = 200) -> list[dict[str, Any]]:
    return _rows(conn, """
        SELECT d.id, d.alert_name, d.severity, d.host, d.triggered_at, d.resolved_at, d.actual_value,
               d.threshold_value, d.is_acknowledged, d.acknowledged_by, d.acknowledged_at,
               (SELECT a.note FROM alert_acknowledgements a WHERE a.alert_id = d.id ORDER BY a.at DESC LIMIT 1) AS note,
               (SELECT a.silence_id FROM alert_acknowledgements a WHERE a.alert_id = d.id AND a.silence_id IS NOT NULL
                 ORDER BY a.at DESC LIMIT 1) AS silence_id
          FROM alert_log_details d
         WHERE (%(state)s = 'all' OR (%(state)s = 'firing') = (d.resolved_at IS NULL))
           AND (%(severity)s::text IS NULL OR d.severity = %(severity)s)
           AND (%(host)s::text IS NULL OR d.host = %(host)s)
           AND (%(rule)s::text IS NULL OR d.alert_name = %(rule)s)
           AND (%(since)s::timestamptz IS NULL OR d.triggered_at >= %(since)s)
           AND (%(until)s::timestamptz IS NULL OR d.triggered_at < %(until)s)
         ORDER BY d.triggered_at DESC LIMIT %(limit)s""",
                 {"state": state, "severity": severity, "host": host, "rule": rule, "since": since, "until": until,
                  "limit": limit})


def alert(conn: psycopg.Connection, alert_id: int) -> dict[str, Any]:
    rows = _rows(conn, "SELECT id, alert_name, severity, host, triggered_at, resolved_at, labels, is_acknowledged, "
                       "acknowledged_by FROM alert_log_details WHERE id = %s ORDER BY triggered_at DESC LIMIT 1",
                 (alert_id,))
    if not rows:
        raise NotFound(f"no alert {alert_id}")
    rows[0]["acknowledgements"] = _rows(conn, "SELECT acknowledged_by, note, silence_id, silenced_until, at "
                                              "FROM alert_acknowledgements WHERE alert_id = %s ORDER BY at", (alert_id,))
    return rows[0]


def mttr(conn: psycopg.Connection, now: datetime, days: int = 30) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT * FROM sru_alert_mttr_by_rule(%s, %s)", (now - timedelta(days=days), now))


def recommendations(conn: psycopg.Connection, status: str = "pending", limit: int = 500) -> list[dict[str, Any]]:
    return _rows(conn, """
        SELECT r.id, s.hostname, r.report_type, r.severity, r.priority_score, r.status, r.title,
               r.recommendations, r.created_at, r.status_changed_by, r.status_changed_at
          FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
         WHERE (%(status)s = 'all' OR r.status = %(status)s)
         ORDER BY r.priority_score DESC, r.created_at DESC LIMIT %(limit)s""", {"status": status, "limit": limit})


def recommendation(conn: psycopg.Connection, report_id: str) -> dict[str, Any]:
    rows = _rows(conn, """
        SELECT r.id, s.hostname, r.report_type, r.severity, r.priority_score, r.status, r.title,
               r.recommendations, r.created_at, r.status_changed_by, r.status_changed_at
          FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id WHERE r.id = %s""", (report_id,))
    if not rows:
        raise NotFound(f"no recommendation {report_id}")
    rows[0]["history"] = _rows(conn, "SELECT from_status, to_status, actor, note, at FROM optimization_report_events "
                                     "WHERE report_id = %s ORDER BY at, id", (report_id,))
    return rows[0]


def utcnow() -> datetime:
    return clock.now()
