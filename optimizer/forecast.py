"""Forecasts: when a resource crosses its limit, with a 95 % band (OLS on daily means),
and the weekly pattern of usage (seasonal decomposition of hourly means) for the report.

The optimizer pass fits every host's forecasts once (:func:`refresh`) and stores them in
``host_forecasts`` (sql/059); the report, the console's host page and the digest read them
(:func:`stored`) instead of fitting on their own, so all of them show the same figures and a page
view costs a read. A host the pass has fitted nothing for yet (a new host before the next pass) has
no stored forecast: readers say so rather than fitting on the request path."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import numpy as np

from optimizer.report_model import ForecastFigures, ForecastPoint, WeeklyProfile
from optimizer.thresholds import FORECAST_LIMITS, forecast_limits

if TYPE_CHECKING:
    import psycopg

# Resources with a hard ceiling; where it is lives in the database (optimizer/thresholds.py). (The
# schema has no disk-capacity column, so disk fill-up cannot be forecast from stored data.)
METRICS = tuple(FORECAST_LIMITS)
MIN_DAYS = 14
HISTORY_DAYS = 60
HORIZON_DAYS = 365
SIGNIFICANCE = 0.01
METHOD = "ols_daily_mean"   # host_forecasts.method: the only one so far


@dataclass
class Forecast:
    metric: str
    status: str                    # 'crossing', 'no_crossing', 'not_enough_data', 'no_trend'
    limit: float
    days_used: int
    slope_per_day: float | None = None
    r2: float | None = None
    p_value: float | None = None
    crossing_date: str | None = None     # central estimate
    earliest_date: str | None = None     # upper 95 % prediction bound crosses
    latest_date: str | None = None       # lower bound crosses (None: not within the horizon)
    line: list[ForecastPoint] | None = None  # (day, mean, lower, upper) ahead

    def as_dict(self) -> ForecastFigures:
        """The figures without the line, leaving out those that do not exist (the report's JSON and
        a recommendation's evidence)."""
        d = ForecastFigures(metric=self.metric, status=self.status, limit=self.limit, days_used=self.days_used)
        if self.slope_per_day is not None:
            d["slope_per_day"] = self.slope_per_day
        if self.r2 is not None:
            d["r2"] = self.r2
        if self.p_value is not None:
            d["p_value"] = self.p_value
        if self.crossing_date is not None:
            d["crossing_date"] = self.crossing_date
        if self.earliest_date is not None:
            d["earliest_date"] = self.earliest_date
        if self.latest_date is not None:
            d["latest_date"] = self.latest_date
        return d


@dataclass(frozen=True)
class OlsLine:
    """Ordinary least squares y = intercept + slope·x, in closed form. The same numbers as
    statsmodels' OLS (tests compare them) without importing it: `import statsmodels.api` costs
    2-3 s, more than all the fits of a pass, and a timer-driven `sru optimize` pays it every run."""
    n: int
    intercept: float
    slope: float
    x_mean: float
    sxx: float
    sigma2: float          # residual variance, n - 2 degrees of freedom
    p_value: float         # two-sided, H0: slope = 0
    r_squared: float

    def predict(self, x0: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean and the (1 - alpha) prediction band of a new observation at x0."""
        from scipy.special import stdtrit

        mean = self.intercept + self.slope * x0
        se = np.sqrt(self.sigma2 * (1 + 1 / self.n + (x0 - self.x_mean) ** 2 / self.sxx))
        t = stdtrit(self.n - 2, 1 - alpha / 2)
        return mean, mean - t * se, mean + t * se


def ols_line(x: np.ndarray, y: np.ndarray) -> OlsLine:
    from scipy.special import stdtr

    n = len(x)
    xm, ym = float(x.mean()), float(y.mean())
    sxx = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - ym)).sum() / sxx)
    intercept = ym - slope * xm
    sse = float(((y - intercept - slope * x) ** 2).sum())
    sst = float(((y - ym) ** 2).sum())
    sigma2 = sse / (n - 2)
    with np.errstate(divide="ignore", invalid="ignore"):   # a perfect or flat line: p is 0 or NaN
        t = slope / np.sqrt(sigma2 / sxx)
        p = float(2 * stdtr(n - 2, -abs(t)))
        r2 = float(1 - sse / sst) if sst > 0 else float("nan")
    return OlsLine(n, intercept, slope, xm, sxx, sigma2, p, r2)


def fit(days: Sequence[date], values: Sequence[float], metric: str, limit: float, *,
        horizon: int = HORIZON_DAYS, line_days: int = 30) -> Forecast:
    """Linear trend of daily values; the date the trend, and its 95 % prediction band, reach
    ``limit``."""
    pairs = [(d, v) for d, v in zip(days, values, strict=True) if v is not None and not np.isnan(v)]
    if len(pairs) < MIN_DAYS:
        return Forecast(metric, "not_enough_data", limit, len(pairs))
    d0 = pairs[0][0]
    x = np.array([(d - d0).days for d, _ in pairs], dtype=float)
    y = np.array([v for _, v in pairs], dtype=float)
    line = ols_line(x, y)
    slope, p = line.slope, line.p_value
    # A flat series has no r² and a zero slope no p: None, never NaN, which JSON (a recommendation's
    # evidence in JSONB, the report) cannot carry.
    fc = Forecast(metric, "no_trend", limit, len(pairs), round(slope, 4), _finite(round(line.r_squared, 4)),
                  _finite(float(f"{p:.3g}")))
    if slope <= 0 or p >= SIGNIFICANCE:
        return fc
    last = x[-1]
    ahead = np.arange(last + 1, last + 1 + horizon)
    mean, lower, upper = line.predict(ahead)

    def first(arr: np.ndarray) -> str | None:
        hit = np.nonzero(arr >= limit)[0]
        return (d0 + timedelta(days=int(ahead[hit[0]]))).isoformat() if len(hit) else None

    fc.crossing_date, fc.earliest_date, fc.latest_date = first(mean), first(upper), first(lower)
    fc.status = "crossing" if fc.crossing_date else "no_crossing"
    k = min(line_days, horizon)
    fc.line = [((d0 + timedelta(days=int(ahead[i]))).isoformat(), round(float(mean[i]), 2),
                round(float(lower[i]), 2), round(float(upper[i]), 2)) for i in range(k)]
    return fc


def whole_days_end(conn: psycopg.Connection, now: datetime) -> datetime:
    """Where the daily summaries a forecast may use end: ``now``, or earlier where the optimizer's
    last pass had not seen data past it (``summaries_through``, the newest sample it summarised).

    A pass writes the summary of the day it runs in from that day's first hours. Once the day is
    over (``period_end <= now``) that partial mean looked whole until the next pass recomputed it,
    so a forecast read between midnight and the next pass (all night with a daily timer) moved by a
    day and moved back (issue 18). A day counts once a pass has summarised data up to its end."""
    through = conn.execute(
        "SELECT value FROM sru_optimizer_state WHERE key = 'summaries_through'").fetchone()
    return now if through is None or through[0] is None else min(now, through[0])


def window(conn: psycopg.Connection, now: datetime) -> tuple[datetime, datetime]:
    """The daily summaries a forecast at ``now`` fits: ``period_start >= from``, ``period_end <= to``."""
    return now - timedelta(days=HISTORY_DAYS), whole_days_end(conn, now)


def host_forecasts(conn: psycopg.Connection, now: datetime,
                   metrics: Sequence[str] = METRICS,
                   system_ids: Sequence[Any] | None = None,
                   thresholds: dict[str, float] | None = None) -> dict[Any, dict[str, Forecast]]:
    """Forecasts per host and metric from the whole days among the last 60 daily summaries before
    ``now`` (:func:`whole_days_end`; of the hosts ``system_ids``, default all); ``thresholds``: as
    the optimizer pass already read them (default: read here). Fits; readers use :func:`stored`."""
    since, until = window(conn, now)
    limits = forecast_limits(conn, thresholds)
    cols = ", ".join(f"avg_{m}" for m in metrics)
    ids = list(system_ids) if system_ids is not None else None
    rows = conn.execute(
        f"SELECT system_id, period_start, {cols} FROM performance_summaries "
        "WHERE period_type = 'daily' AND period_start >= %s AND period_end <= %s "
        "AND (%s::uuid[] IS NULL OR system_id = ANY(%s)) "
        "ORDER BY system_id, period_start", (since, until, ids, ids)).fetchall()
    by_host: dict[Any, list[Any]] = {}
    for r in rows:
        by_host.setdefault(r[0], []).append(r)
    out: dict[Any, dict[str, Forecast]] = {}
    for sid, rs in by_host.items():
        days = [r[1].astimezone(UTC).date() for r in rs]
        out[sid] = {}
        for k, metric in enumerate(metrics):
            values = [r[2 + k] for r in rs]
            if all(v is None for v in values):
                continue
            out[sid][metric] = fit(days, [np.nan if v is None else v for v in values], metric, limits[metric])
    return out


@dataclass(frozen=True)
class Fitting:
    """How and over what a stored forecast was fitted: by which pass, on which daily summaries."""
    method: str
    horizon_days: int
    window_from: datetime
    window_to: datetime
    fitted_at: datetime


@dataclass
class Stored:
    """The forecasts the last pass stored, per host and metric, with how each host's were fitted;
    ``last_fitted_at``: that pass's "now" (None: no pass has stored a forecast yet)."""
    forecasts: dict[UUID, dict[str, Forecast]]
    fitting: dict[UUID, Fitting]
    last_fitted_at: datetime | None


def _finite(v: float | None) -> float | None:
    """NaN (r² of a flat series, p of a zero slope) is no figure: stored as NULL (JSON has no NaN)."""
    return None if v is None or math.isnan(v) else v


def store(conn: psycopg.Connection, forecasts: dict[Any, dict[str, Forecast]], now: datetime,
          since: datetime, until: datetime) -> int:
    """Replace the stored forecasts with ``forecasts`` (one pass's, fitted at ``now`` on the daily
    summaries of [since, until]) through ``store_host_forecasts()``, in the caller's transaction."""
    from psycopg.types.json import Jsonb

    rows = [{"system_id": str(sid), "metric": f.metric, "status": f.status, "limit": f.limit,
             "days_used": f.days_used, "slope_per_day": _finite(f.slope_per_day), "r2": _finite(f.r2),
             "p_value": _finite(f.p_value), "crossing_date": f.crossing_date, "earliest_date": f.earliest_date,
             "latest_date": f.latest_date, "line": f.line, "window_from": since.isoformat(),
             "window_to": until.isoformat()}
            for sid, per in forecasts.items() for f in per.values()]
    from sru.db import scalar

    n: int = scalar(conn, "SELECT store_host_forecasts(%s, %s, %s, %s)", (now, METHOD, HORIZON_DAYS, Jsonb(rows)))
    return n


def refresh(conn: psycopg.Connection, now: datetime,
            thresholds: dict[str, float] | None = None) -> dict[Any, dict[str, Forecast]]:
    """The optimizer pass's step: fit every host's forecasts at ``now`` and store them."""
    since, until = window(conn, now)
    forecasts = host_forecasts(conn, now, METRICS, None, thresholds)
    store(conn, forecasts, now, since, until)
    return forecasts


def _day(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def stored(conn: psycopg.Connection, metrics: Sequence[str] = METRICS,
           system_ids: Sequence[Any] | None = None) -> Stored:
    """The forecasts the last pass stored (of the hosts ``system_ids``, default all): the same
    :class:`Forecast` figures the pass fitted, and how."""
    ids = list(system_ids) if system_ids is not None else None
    rows = conn.execute(
        "SELECT system_id, metric, status, limit_percent, days_used, slope_per_day, r2, p_value, crossing_date, "
        "earliest_date, latest_date, line, method, horizon_days, window_from, window_to, fitted_at "
        "FROM host_forecasts WHERE metric = ANY(%s) AND (%s::uuid[] IS NULL OR system_id = ANY(%s)) "
        "ORDER BY system_id, metric", (list(metrics), ids, ids)).fetchall()
    from sru.db import scalar

    out = Stored({}, {}, scalar(conn, "SELECT max(fitted_at) FROM host_forecasts"))
    order = {m: i for i, m in enumerate(metrics)}
    for (sid, metric, status, limit, days_used, slope, r2, p, crossing, earliest, latest, line,
         method, horizon, w_from, w_to, fitted_at) in sorted(rows, key=lambda r: (r[0], order[r[1]])):
        out.forecasts.setdefault(sid, {})[metric] = Forecast(
            metric, status, limit, days_used, slope, r2, p, _day(crossing), _day(earliest), _day(latest),
            [(str(d), float(m), float(lo), float(up)) for d, m, lo, up in line] if line is not None else None)
        out.fitting.setdefault(sid, Fitting(method, horizon, w_from, w_to, fitted_at))
    return out


def weekly_profile(hour_starts: Sequence[datetime], values: Sequence[float | None]) -> WeeklyProfile | None:
    """Weekly pattern of an hourly series (≥ 2 full weeks): the seasonal component of an additive
    decomposition with period 168, as 168 values from Monday 00:00 UTC, and its strength
    (share of variance it explains)."""
    from statsmodels.tsa.seasonal import seasonal_decompose

    if len(values) < 2 * 168:
        return None
    y = np.array([np.nan if v is None else v for v in values], dtype=float)
    if np.isnan(y).any():
        y = np.interp(np.arange(len(y)), np.nonzero(~np.isnan(y))[0], y[~np.isnan(y)])
    res = seasonal_decompose(y, period=168, model="additive")
    first_how = (hour_starts[0].weekday() * 24 + hour_starts[0].hour)
    seasonal = np.roll(res.seasonal[:168], first_how)
    level = float(np.nanmean(res.trend))
    resid = res.resid[~np.isnan(res.resid)]
    var = np.var(seasonal[np.arange(len(y)) % 168]) if len(y) else 0
    strength = float(max(0.0, 1 - np.var(resid) / (np.var(resid) + var))) if var > 0 else 0.0
    return WeeklyProfile(profile=[round(level + float(v), 2) for v in seasonal], strength=round(strength, 3))
