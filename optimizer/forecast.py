"""Forecasts: when a resource crosses its limit, with a 95 % band (statsmodels OLS on daily means),
and the weekly pattern of usage (seasonal decomposition of hourly means) for the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    import psycopg

# Resources with a hard ceiling, and where it is. (The schema has no disk-capacity column, so disk
# fill-up cannot be forecast from stored data.)
LIMITS = {"ram_percent": 90.0, "gpu_memory_percent": 95.0, "swap_percent": 50.0}
MIN_DAYS = 14
HISTORY_DAYS = 60
HORIZON_DAYS = 365
SIGNIFICANCE = 0.01


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
    line: list[tuple[str, float, float, float]] | None = None  # (day, mean, lower, upper) ahead

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("line")
        return {k: v for k, v in d.items() if v is not None}


def fit(days: Sequence[date], values: Sequence[float], metric: str, *, horizon: int = HORIZON_DAYS,
        line_days: int = 30) -> Forecast:
    """Linear trend of daily values; the date the trend, and its 95 % prediction band, reach the
    metric's limit."""
    import statsmodels.api as sm

    limit = LIMITS[metric]
    pairs = [(d, v) for d, v in zip(days, values) if v is not None and not np.isnan(v)]
    if len(pairs) < MIN_DAYS:
        return Forecast(metric, "not_enough_data", limit, len(pairs))
    d0 = pairs[0][0]
    x = np.array([(d - d0).days for d, _ in pairs], dtype=float)
    y = np.array([v for _, v in pairs], dtype=float)
    model = sm.OLS(y, sm.add_constant(x)).fit()
    slope, p = float(model.params[1]), float(model.pvalues[1])
    fc = Forecast(metric, "no_trend", limit, len(pairs), round(slope, 4), round(float(model.rsquared), 4),
                  float(f"{p:.3g}"))
    if slope <= 0 or p >= SIGNIFICANCE:
        return fc
    last = x[-1]
    ahead = np.arange(last + 1, last + 1 + horizon)
    frame = model.get_prediction(sm.add_constant(ahead, has_constant="add")).summary_frame(alpha=0.05)
    mean = frame["mean"].to_numpy()
    lower = frame["obs_ci_lower"].to_numpy()
    upper = frame["obs_ci_upper"].to_numpy()

    def first(arr: np.ndarray) -> str | None:
        hit = np.nonzero(arr >= limit)[0]
        return (d0 + timedelta(days=int(ahead[hit[0]]))).isoformat() if len(hit) else None

    fc.crossing_date, fc.earliest_date, fc.latest_date = first(mean), first(upper), first(lower)
    fc.status = "crossing" if fc.crossing_date else "no_crossing"
    k = min(line_days, horizon)
    fc.line = [((d0 + timedelta(days=int(ahead[i]))).isoformat(), round(float(mean[i]), 2),
                round(float(lower[i]), 2), round(float(upper[i]), 2)) for i in range(k)]
    return fc


def host_forecasts(conn: "psycopg.Connection", now: datetime,
                   metrics: Sequence[str] = tuple(LIMITS)) -> dict[Any, dict[str, Forecast]]:
    """Forecasts per host and metric from the last 60 daily summaries before ``now``."""
    since = now - timedelta(days=HISTORY_DAYS)
    cols = ", ".join(f"avg_{m}" for m in metrics)
    rows = conn.execute(
        f"SELECT system_id, period_start, {cols} FROM performance_summaries "
        "WHERE period_type = 'daily' AND period_start >= %s AND period_end <= %s "
        "ORDER BY system_id, period_start", (since, now)).fetchall()
    by_host: dict[Any, list] = {}
    for r in rows:
        by_host.setdefault(r[0], []).append(r)
    out: dict[Any, dict[str, Forecast]] = {}
    for sid, rs in by_host.items():
        days = [r[1].astimezone(timezone.utc).date() for r in rs]
        out[sid] = {}
        for k, metric in enumerate(metrics):
            values = [r[2 + k] for r in rs]
            if all(v is None for v in values):
                continue
            out[sid][metric] = fit(days, [np.nan if v is None else v for v in values], metric)
    return out


def weekly_profile(hour_starts: Sequence[datetime], values: Sequence[float]) -> dict | None:
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
    return {"profile": [round(level + float(v), 2) for v in seasonal], "strength": round(strength, 3)}
