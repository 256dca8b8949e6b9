"""Anomaly episodes of every host, between the database and the pure core (:mod:`anomaly_core`).

:func:`detect` reads hourly means and maxima from ``hourly_performance_stats`` and the stored
episodes from ``alert_logs`` (hours inside them stay out of the baselines), runs
:func:`anomaly_core.find_episodes` per host and metric, and :func:`store` writes the episodes through
``record_anomaly_episodes()`` (one row per host, metric and kind episode, extended by later passes).

A series with a stored episode that is open or reaches into the judged window is re-judged from
that episode's start, so the pass sees the whole episode and its result replaces the stored end,
peak and score instead of adding a second row (passes are idempotent).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer import anomaly_core as core
from optimizer import thresholds
from sru.db import scalar

if TYPE_CHECKING:
    import psycopg

# Judged metrics; each has its hard limit ``anomaly_limit_<metric>`` in sql/R__sru_thresholds.sql.
METRICS = ("cpu_percent", "ram_percent", "gpu_utilization", "disk_io_wait_percent", "swap_percent")
CAP = 100.0                   # every metric judged is a percentage
# Hours before the first judged hour that a judgement reads: the 30-day window, plus the 4 weeks
# (and 1 h) the same-hour-of-week medians of that window's hours reach back.
HISTORY = timedelta(hours=core.BASELINE_HOURS + core.SEASONAL_WEEKS * core.WEEK + 1)
MAX_REJUDGE = timedelta(days=35)  # an episode older than this is not re-judged from its start
BATCH = 2000


@dataclass(frozen=True)
class FoundEpisode:
    system_id: Any
    metric: str
    episode: core.Episode
    started_at: datetime
    ended_at: datetime | None          # the hour after the last flagged one; None while open

    def as_json(self) -> dict[str, Any]:
        e = self.episode
        hour = timedelta(hours=1)
        return {"system_id": str(self.system_id), "kind": e.kind, "metric": self.metric,
                "started_at": self.started_at.isoformat(),
                "ended_at": self.ended_at.isoformat() if self.ended_at else None,
                "opened_at": (self.started_at + (e.opened - e.start) * hour).isoformat(),
                "last_flagged_at": (self.started_at + (e.end - e.start) * hour).isoformat(),
                "value": round(e.value, 3), "threshold": round(e.baseline, 3), "score": round(e.score, 2),
                "severity": e.severity, "hours": e.hours, "evidence": _finite(self._evidence())}

    def _evidence(self) -> dict[str, Any]:
        """The detector's evidence, and for an episode that broke out of an open one of the same
        kind (a second, different anomaly: a new row, so a new alert) when that one started."""
        e = self.episode
        if e.escalates is None:
            return e.evidence
        was = self.started_at + (e.escalates - e.start) * timedelta(hours=1)
        return {**e.evidence, "escalates_episode_started_at": was.isoformat()}


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a value the detector could not compute becomes null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _hour(ts: datetime) -> int:
    return int(ts.timestamp()) // 3600


_ROW = np.dtype([("nf", ">i2"), ("l_id", ">i4"), ("id", "V16"), ("l_h", ">i4"), ("h", ">i8")]
                + [(f"{p}{i}", t) for i in range(2 * len(METRICS)) for p, t in (("l", ">i4"), ("v", ">f8"))])
_COPY_HEADER = 19    # binary COPY: signature (11), flags (4), header extension length (4)


def _hourly_rows(conn: psycopg.Connection, start: datetime, end: datetime
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(host ids, epoch hours, hourly mean and max of every metric) of hours [start, end), ordered by
    host and hour, as one binary COPY read by numpy: every column is NOT NULL (NULL → NaN in SQL),
    so each row has the same width. Text rows cost about 1 s per 80k rows in Python here."""
    from psycopg import sql

    cols = ", ".join(f"coalesce(avg_{m}, 'NaN'), coalesce(max_{m}, 'NaN')" for m in METRICS)
    query = sql.SQL(
        "COPY (SELECT system_id, extract(epoch FROM bucket)::bigint / 3600, " + cols + " "
        "FROM hourly_performance_stats WHERE bucket >= {} AND bucket < {} AND system_id IS NOT NULL "
        "ORDER BY system_id, bucket) TO STDOUT (FORMAT binary)").format(sql.Literal(start), sql.Literal(end))
    buf = bytearray()
    with conn.cursor().copy(query) as copy:
        for block in copy:
            buf += block
    skip = _COPY_HEADER + int.from_bytes(buf[15:19], "big")    # plus the header extension, if any
    body = memoryview(buf)[skip:len(buf) - 2]                   # trailer: int16 -1
    if len(body) % _ROW.itemsize:
        raise ValueError(f"hourly_performance_stats COPY: {len(body)} bytes is not a whole number of "
                         f"{_ROW.itemsize}-byte rows")
    rows = np.frombuffer(body, dtype=_ROW) if len(body) else np.zeros(0, dtype=_ROW)
    data = np.stack([rows[f"v{i}"] for i in range(2 * len(METRICS))], axis=1).astype(float)
    return rows["id"], rows["h"].astype(np.int64), data


def detect(conn: psycopg.Connection, eval_from: datetime, eval_to: datetime,
           limits: dict[str, float] | None = None) -> list[FoundEpisode]:
    """Episodes of every host that reach into hours [eval_from, eval_to), judged against the
    thresholds the database holds (``limits``: as the pass already read them)."""
    params = thresholds.anomaly_params(limits if limits is not None else thresholds.load(conn))
    first = _hour(eval_from)
    last = math.ceil(eval_to.timestamp() / 3600)      # the hour holding eval_to counts
    oldest = first - int(MAX_REJUDGE.total_seconds()) // 3600
    # Every stored episode that can matter: for exclusion from the baselines, or to be re-judged.
    stored = conn.execute(
        "SELECT system_id, labels ->> 'metric', labels ->> 'kind', "
        "extract(epoch FROM triggered_at)::bigint / 3600, "
        "ceil(extract(epoch FROM resolved_at) / 3600)::bigint "
        "FROM alert_logs WHERE labels ->> 'source' = 'sru-optimizer' AND triggered_at < %s "
        "AND triggered_at >= %s AND coalesce(resolved_at, 'infinity') > %s",
        (eval_to, eval_from - MAX_REJUDGE - HISTORY, eval_from - MAX_REJUDGE - HISTORY)).fetchall()
    spans: dict[tuple[Any, str], list[tuple[int, float]]] = {}  # (system id, metric) -> hours
    ours: dict[tuple[Any, str], list[tuple[int, int | None]]] = {}
    for sid, metric, kind, h0, h1 in stored:      # h1: the hour after the episode, None while open
        spans.setdefault((sid, metric), []).append((int(h0), math.inf if h1 is None else float(h1)))
        if kind in core.KINDS:
            ours.setdefault((sid, metric), []).append((int(h0), None if h1 is None else int(h1) - 1))
    default_from = core.resume_from(first, [])
    judge_from = {key: max(core.resume_from(first, eps), oldest) for key, eps in ours.items()}
    start_hour = min([default_from, *judge_from.values()]) - int(HISTORY.total_seconds()) // 3600
    start = datetime.fromtimestamp(start_hour * 3600, UTC)
    ids, hours, data_all = _hourly_rows(conn, start, eval_to)
    if len(ids) == 0:
        return []
    n = last - start_hour
    pos_all = hours - start_hour
    # Rows come ordered by host: one run of rows per host.
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    runs = {uuid.UUID(bytes=bytes(ids[a])): (a, b - 1)
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(ids)], strict=True)}
    phase = (start_hour + 72) % core.WEEK       # epoch hour 0 was a Thursday; index 0's hour of week
    found = []
    for sid, (lo, hi) in runs.items():
        pos = pos_all[lo:hi + 1]
        data = data_all[lo:hi + 1]
        for k, metric in enumerate(METRICS):
            mean = np.full(n, np.nan)
            peak = np.full(n, np.nan)
            mean[pos] = data[:, 2 * k]
            peak[pos] = data[:, 2 * k + 1]
            if np.all(np.isnan(mean)):
                continue
            exclude = np.zeros(n, dtype=bool)
            for h0, h1 in spans.get((sid, metric), ()):
                exclude[max(h0 - start_hour, 0):int(min(h1, last)) - start_hour] = True
            j0 = judge_from.get((sid, metric), default_from) - start_hour
            for ep in core.find_episodes(mean, peak, judge_from=j0, params=params, limit=params.limits[metric],
                                         exclude=exclude, cap=CAP, phase=phase):
                at = datetime.fromtimestamp((start_hour + ep.start) * 3600, UTC)
                end = None if ep.open else at + timedelta(hours=ep.end - ep.start + 1)
                found.append(FoundEpisode(sid, metric, ep, at, end))
    return found


def store(conn: psycopg.Connection, episodes: list[FoundEpisode]) -> int:
    """Write through record_anomaly_episodes(): rows inserted or changed."""
    from psycopg.types.json import Jsonb

    # Per host, metric and kind in order of start: an episode that broke out of an open one closes that
    # row first, so the new one overlaps nothing and becomes a row (an alert) of its own.
    episodes = sorted(episodes, key=lambda f: (str(f.system_id), f.metric, f.episode.kind, f.started_at))
    total = 0
    for i in range(0, len(episodes), BATCH):
        batch = [e.as_json() for e in episodes[i:i + BATCH]]
        total += scalar(conn, "SELECT record_anomaly_episodes(%s)", (Jsonb(batch),))
    return total


def recent_episodes(conn: psycopg.Connection, since: datetime,
                    limit_per_host: int = 5) -> dict[Any, list[dict[str, Any]]]:
    """The latest episodes per host that were open at some point since ``since``, newest first, for
    the evidence of recommendations."""
    rows = conn.execute(
        "SELECT system_id, metric, kind, started_at, ended_at, peak_value, baseline_value, score, flagged_hours "
        "FROM (SELECT *, row_number() OVER (PARTITION BY system_id ORDER BY started_at DESC) AS k "
        "      FROM anomaly_episodes WHERE coalesce(ended_at, 'infinity') > %s) e "
        "WHERE k <= %s ORDER BY system_id, started_at DESC", (since, limit_per_host)).fetchall()
    out: dict[Any, list[dict[str, Any]]] = {}
    for sid, metric, kind, s, e, peak, base, score, hours in rows:
        out.setdefault(sid, []).append({
            "metric": metric, "kind": kind, "started_at": s.isoformat(), "ended_at": e.isoformat() if e else None,
            "peak": None if peak is None else round(peak, 2), "baseline": None if base is None else round(base, 2),
            "score": None if score is None else round(score, 2), "hours": hours})
    return out
