"""A labelled synthetic set for the anomaly detectors, and how episodes are scored against it.

Every series is hourly, 63 days long, index 0 = Monday 00:00 UTC; the first 35 days are warm-up
(30-day baselines plus the 4 weeks the seasonal scale needs) and days 35-62 (4 weeks) are judged.
Each labelled incident says within how many hours of its start it must be reported (``max_delay``).
Also used by ``bench/anomalies``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DAYS = 63
JUDGE_FROM = 35 * 24
HOURS = DAYS * 24


@dataclass(frozen=True)
class Incident:
    start: int            # first anomalous hour
    end: int              # last anomalous hour (inclusive)
    max_delay: int        # hours from start within which an episode must be reported
    kinds: tuple[str, ...]  # detectors expected to report it (any one suffices)


@dataclass
class Series:
    name: str
    mean: np.ndarray
    peak: np.ndarray
    limit: float = 98.0
    incidents: list[Incident] = field(default_factory=list)


def _work(hours: np.ndarray) -> np.ndarray:
    """A lab's week: 0..1 from 08 to 19 on weekdays, 15 % of that at weekends."""
    hod, dow = hours % 24, (hours // 24) % 7
    bump = np.where((hod >= 8) & (hod <= 19), np.sin(np.pi * (hod - 8) / 11) ** 2, 0.0)
    return np.where(dow < 5, bump, 0.15 * bump)


def _peaks(rng: np.random.Generator, mean: np.ndarray, spread: float, cap: float = 100.0) -> np.ndarray:
    return np.clip(mean + np.abs(rng.normal(spread, spread / 2, len(mean))), 0, cap)


def synthetic_set(seed: int = 11) -> list[Series]:
    rng = np.random.default_rng(seed)
    h = np.arange(HOURS)
    out = []

    def at(day: int, hour: int) -> int:
        return day * 24 + hour

    # Weekly and daily seasonality, with a night-time incident on a Thursday (day 45 = week 7 Thu).
    mean = 20 + 50 * _work(h) + rng.normal(0, 3, HOURS)
    s, e = at(45, 1), at(45, 6)
    mean[s:e + 1] = 78 + rng.normal(0, 2, e - s + 1)
    out.append(Series("seasonal_incident", np.clip(mean, 0, 100), _peaks(rng, np.clip(mean, 0, 100), 8),
                      incidents=[Incident(s, e, 2, ("zscore", "level_shift"))]))

    # Level shift up that stays (a misconfigured job), and one down (a service that died).
    for name, base, to, day in (("level_shift_up", 30, 55, 44), ("level_shift_down", 60, 35, 47)):
        mean = base + rng.normal(0, 3, HOURS)
        s = at(day, 10)
        mean[s:] += to - base
        out.append(Series(name, mean, _peaks(rng, mean, 6),
                          incidents=[Incident(s, HOURS - 1, 4, ("level_shift", "zscore"))]))

    # Slow drift: +3 points a day from day 40 (a leak), until the end.
    mean = 40 + rng.normal(0, 2, HOURS)
    s = at(40, 0)
    mean[s:] += 3.0 * (h[s:] - s) / 24
    mean = np.clip(mean, 0, 100)
    out.append(Series("slow_drift", mean, _peaks(rng, mean, 4),
                      incidents=[Incident(s, HOURS - 1, 96, ("level_shift", "zscore", "threshold"))]))

    # A single spike: one hour whose maximum hits the cap at night on a weekly host.
    mean = 15 + 40 * _work(h) + rng.normal(0, 3, HOURS)
    peak = _peaks(rng, np.clip(mean, 0, 100), 8)
    s = at(50, 3)
    mean[s] += 12
    peak[s] = 100.0
    out.append(Series("single_spike", np.clip(mean, 0, 100), peak,
                      incidents=[Incident(s, s, 0, ("spike",))]))

    # A host living at its limit: CPU at 97-99 % all the time, maxima at 100. Not an anomaly.
    mean = np.clip(97.8 + rng.normal(0, 0.8, HOURS), 0, 100)
    out.append(Series("at_limit", mean, np.minimum(100.0, mean + np.abs(rng.normal(2.5, 1, HOURS)))))

    # The same, after three earlier incidents (12 h at 40 %, in the warm-up weeks) that pulled the old
    # detector's same-hour-of-week medians down: still nothing to report in the judged weeks.
    mean = np.clip(97.8 + rng.normal(0, 0.8, HOURS), 0, 100)
    for day, hour in ((12, 6), (19, 14), (26, 9)):
        mean[at(day, hour):at(day, hour) + 12] = 40 + rng.normal(0, 3, 12)
    out.append(Series("at_limit_after_incidents", mean,
                      np.minimum(100.0, mean + np.abs(rng.normal(2.5, 1, HOURS)))))

    # Weekly series with gaps: 3 days missing in the judged weeks and 10 % of hours scattered out.
    mean = 20 + 50 * _work(h) + rng.normal(0, 3, HOURS)
    mean[at(38, 5):at(41, 5)] = np.nan
    mean[rng.random(HOURS) < 0.10] = np.nan
    out.append(Series("gaps", mean, _peaks(rng, mean, 8)))

    # Noise only, no pattern at all, heavy-tailed (Student t, 4 degrees of freedom, sd 5) as real
    # hourly means are.
    mean = 50 + rng.standard_t(4, HOURS) * 5 / np.sqrt(2)
    out.append(Series("noise_only", mean, _peaks(rng, mean, 10)))
    return out


@dataclass
class Score:
    found: int = 0
    incidents: int = 0
    delays: list[int] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    fp_hours: int = 0
    episodes: int = 0


def score(series: list[Series], episodes: dict[str, list[Any]], judged_hours: int, kinds: tuple[str, ...] | None = None
          ) -> Score:
    """Incidents found (an episode of one of ``kinds`` overlapping it), delays (hours from the
    incident's start to the hour its first episode was reported) and false-positive hours (hours of
    episodes that overlap no incident, counted once per hour across kinds)."""
    sc = Score()
    for s in series:
        eps = [e for e in episodes[s.name] if kinds is None or e.kind in kinds]
        sc.episodes += len(eps)
        fp = np.zeros(len(s.mean), dtype=bool)
        for e in eps:
            if not any(e.start <= inc.end and e.end >= inc.start for inc in s.incidents):
                fp[e.start:e.end + 1] = True
        sc.fp_hours += int(fp.sum())
        for inc in s.incidents:
            sc.incidents += 1
            hits = [e for e in eps if e.start <= inc.end and e.end >= inc.start]
            if hits:
                sc.found += 1
                delay = max(0, min(e.opened for e in hits) - inc.start)
                sc.delays.append(delay)
                if delay > inc.max_delay:
                    sc.late.append(f"{s.name}: {delay} h > {inc.max_delay} h")
    return sc
