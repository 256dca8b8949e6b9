"""Anomaly detection on hourly means and maxima (hourly_performance_stats), with numpy.

Three detectors, each judged against the host's own previous 30 days:

* ``seasonal_zscore`` — robust z-score of the hourly mean against the same hour of the week (±1 h)
  over the previous four weeks (12 values): z = (x - median) / (1.4826·MAD + 2). Flagged when
  |z| ≥ 4 and the mean is at least 15 points away from the median, so a Monday-morning peak that
  happens every Monday is normal, and a 3 a.m. peak that never happened before is not.
* ``threshold`` — the hourly mean breaches a hard limit while this hour of the week is usually at
  least 10 points below it (a host that lives at its limit is a recommendation, not an anomaly).
* ``spike`` — the hourly maximum is at least 10 points above the 99.5th percentile of the previous
  30 days' hourly maxima.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import psycopg

METRICS = ("cpu_percent", "ram_percent", "gpu_utilization", "disk_io_wait_percent", "swap_percent")
LIMITS = {"cpu_percent": 98.0, "ram_percent": 98.0, "gpu_utilization": 99.5, "disk_io_wait_percent": 40.0,
          "swap_percent": 50.0}
Z_THRESHOLD = 4.0
MIN_DEVIATION = 15.0
MAD_FLOOR = 2.0
SPIKE_QUANTILE = 99.5
SPIKE_MARGIN = 10.0
THRESHOLD_HEADROOM = 10.0
BASELINE_DAYS = 30
WEEK_HOURS = 168


@dataclass(frozen=True)
class Anomaly:
    system_id: Any
    kind: str
    metric: str
    triggered_at: datetime
    value: float
    threshold: float
    score: float
    severity: str
    baseline: dict

    def as_json(self) -> dict:
        return {"system_id": str(self.system_id), "kind": self.kind, "metric": self.metric,
                "triggered_at": self.triggered_at.isoformat(), "value": round(self.value, 3),
                "threshold": round(self.threshold, 3), "score": round(self.score, 2),
                "severity": self.severity, "baseline": self.baseline}


def _rowwise(plain, nan_aware, m: np.ndarray, *args) -> np.ndarray:
    """``nan_aware(m, *args, axis=1)``, with the rows that hold no NaN done by the vectorised
    ``plain`` function: numpy's nan-functions fall back to a Python loop over rows as soon as any
    NaN is present (8 s of a 9 s full-pass anomaly step at the design volume)."""
    out = np.empty(m.shape[0])
    gaps = np.isnan(m).any(axis=1)
    if not gaps.all():
        out[~gaps] = plain(m[~gaps], *args, axis=1)
    if gaps.any():
        out[gaps] = nan_aware(m[gaps], *args, axis=1)
    return out


def detect_series(mean: np.ndarray, peak: np.ndarray, hours: np.ndarray, eval_mask: np.ndarray,
                  metric: str) -> list[tuple[int, str, float, float, float, str, dict]]:
    """Anomalies of one host's metric. ``mean``/``peak`` are dense hourly arrays (NaN = no data) over
    consecutive hours ``hours`` (epoch hours); ``eval_mask`` marks the hours to judge. Returns
    (index, kind, value, threshold, score, severity, baseline) tuples."""
    out = []
    idx = np.nonzero(eval_mask)[0]
    idx = idx[idx >= BASELINE_DAYS * 24]
    if len(idx) == 0:
        return out
    # Same hour of week ±1 h in each of the previous 4 weeks.
    shifts = [WEEK_HOURS * k + d for k in range(1, 5) for d in (-1, 0, 1)]
    base = np.stack([mean[idx - s] for s in shifts], axis=1)
    enough = np.sum(~np.isnan(base), axis=1) >= 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # hours without any baseline: NaN, skipped below
        med = _rowwise(np.median, np.nanmedian, base)
        mad = _rowwise(np.median, np.nanmedian, np.abs(base - med[:, None]))
    scale = 1.4826 * mad + MAD_FLOOR
    x = mean[idx]
    z = (x - med) / scale
    limit = LIMITS[metric]
    # The previous 30 days of hourly maxima, for spikes: one (hours judged × 720) matrix.
    window = BASELINE_DAYS * 24
    past = np.lib.stride_tricks.sliding_window_view(peak, window)[idx - window]  # peak[i-720 : i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spike_q = _rowwise(np.percentile, np.nanpercentile, past, SPIKE_QUANTILE)
        spike_m = _rowwise(np.median, np.nanmedian, past)
    spike_ok = np.sum(~np.isnan(past), axis=1) >= window // 2
    for j, i in enumerate(idx):
        if np.isnan(x[j]):
            continue
        if enough[j] and abs(z[j]) >= Z_THRESHOLD and abs(x[j] - med[j]) >= MIN_DEVIATION:
            out.append((int(i), "seasonal_zscore", float(x[j]), float(med[j]), float(z[j]),
                        "critical" if abs(z[j]) >= 8 else "warning",
                        {"median": round(float(med[j]), 2), "mad": round(float(mad[j]), 2),
                         "samples": int(np.sum(~np.isnan(base[j]))), "window_days": 28,
                         "method": "same hour of week ±1 h"}))
        if x[j] >= limit and enough[j] and med[j] < limit - THRESHOLD_HEADROOM:
            out.append((int(i), "threshold", float(x[j]), limit, float(x[j] - limit), "warning",
                        {"median_same_hour_of_week": round(float(med[j]), 2), "limit": limit}))
        if spike_ok[j] and not np.isnan(peak[i]) and peak[i] >= spike_q[j] + SPIKE_MARGIN:
            out.append((int(i), "spike", float(peak[i]), float(spike_q[j]), float(peak[i] - spike_q[j]), "info",
                        {"p99_5": round(float(spike_q[j]), 2), "median": round(float(spike_m[j]), 2),
                         "window_days": BASELINE_DAYS}))
    return out


def detect(conn: "psycopg.Connection", eval_from: datetime, eval_to: datetime) -> list[Anomaly]:
    """Anomalies of every host in hours [eval_from, eval_to), from hourly_performance_stats."""
    start = eval_from - timedelta(days=BASELINE_DAYS)
    # NULL → NaN in SQL, so the rows become one float matrix without a Python pass over each value.
    cols = ", ".join(f"coalesce(avg_{m}, 'NaN'), coalesce(max_{m}, 'NaN')" for m in METRICS)
    rows = conn.execute(
        f"SELECT system_id, extract(epoch FROM bucket)::bigint / 3600, {cols} FROM hourly_performance_stats "
        "WHERE bucket >= %s AND bucket < %s ORDER BY system_id, bucket", (start, eval_to)).fetchall()
    if not rows:
        return []
    h0 = int(start.timestamp()) // 3600
    h1 = math.ceil(eval_to.timestamp() / 3600)  # the hour holding eval_to counts
    n = h1 - h0
    hours = np.arange(h0, h1)
    eval_mask = hours >= int(eval_from.timestamp()) // 3600
    pos_all = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)) - h0
    data_all = np.array([r[2:] for r in rows], dtype=float)
    runs: dict[Any, list[int]] = {}   # rows come ordered by host: one [first, last] run per host
    for i, r in enumerate(rows):
        runs.setdefault(r[0], [i, i])[1] = i
    found = []
    for sid, (first, last) in runs.items():
        pos = pos_all[first:last + 1]
        data = data_all[first:last + 1]
        for k, metric in enumerate(METRICS):
            mean = np.full(n, np.nan)
            peak = np.full(n, np.nan)
            mean[pos] = data[:, 2 * k]
            peak[pos] = data[:, 2 * k + 1]
            if np.all(np.isnan(mean)):
                continue
            for i, kind, value, threshold, score, severity, baseline in detect_series(
                    mean, peak, hours, eval_mask, metric):
                at = datetime.fromtimestamp(int(hours[i]) * 3600, timezone.utc)
                found.append(Anomaly(sid, kind, metric, at, value, threshold, score, severity, baseline))
    return found


def store(conn: "psycopg.Connection", anomalies: list[Anomaly]) -> int:
    """Write through record_anomalies() (idempotent per host, metric, kind and hour)."""
    from psycopg.types.json import Jsonb

    total = 0
    for i in range(0, len(anomalies), 5000):
        batch = [a.as_json() for a in anomalies[i:i + 5000]]
        total += conn.execute("SELECT record_anomalies(%s)", (Jsonb(batch),)).fetchone()[0]
    return total
