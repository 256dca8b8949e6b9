"""Anomaly episodes of one hourly series: a pure function of numpy arrays, no database.

``find_episodes(mean, peak, judge_from=..., params=..., limit=..., exclude=...)`` judges the hours from
``judge_from`` on and returns :class:`Episode` objects with start and end hour indexes. Every
constant is documented in ``optimizer/README.md`` (section "Anomaly detection"); the SQL side
(:mod:`optimizer.anomalies`) only loads arrays and stores episodes.

Baselines are computed once per judged day (24 hours) from the hours before that day, so the result
for an hour does not depend on where a pass happens to start, and days are judged in order so that
the episodes found on one day are left out of the next days' baselines.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

KINDS = ("zscore", "level_shift", "threshold", "spike")

# The windows the detector reads, fixed by its design (how far back a pass must load, where a later
# pass resumes). The levels it judges against are Params, from sql/R__sru_thresholds.sql.
BASELINE_HOURS = 30 * 24        # trailing window of every baseline
WEEK = 168
SEASONAL_WEEKS = 4              # same hour of week in each of the previous 4 weeks ...
SEASONAL_NEIGHBOURS = (-1, 0, 1)  # ... ±1 h: 12 values
MAD_TO_SD = 1.4826              # MAD of a normal distribution × 1.4826 = its standard deviation
LEVEL_WINDOW = 6                # hours whose median is compared with the baseline
LEVEL_MIN_HOURS = 4             # hours with data the level window needs
OPEN_AFTER = {"zscore": 3, "level_shift": 1, "threshold": 2, "spike": 1}
CLOSE_AFTER = 3                 # judged hours with data, not flagged, that close an episode


@dataclass(frozen=True)
class Params:
    """The detector's thresholds (``anomaly_<field>`` in sql/R__sru_thresholds.sql, which says what
    each means; optimizer/thresholds.py reads them). Passed in, so the core stays a pure function."""

    min_baseline_hours: int       # hours with data (outside episodes) a window needs to judge at all
    min_seasonal_values: int
    seasonal_strength_min: float  # weekly pattern exists: use the same-hour-of-week baseline
    scale_floor: float            # points: a flat series still has measurement noise
    z: float
    min_deviation: float          # points away from the baseline, on top of |z|
    critical_z: float
    level_k: float                # robust scales between the window's median and the baseline
    level_min_shift: float        # points
    threshold_headroom: float     # no threshold anomaly when the 30-day quantile is this close to the limit
    threshold_quantile: float
    spike_quantile: float
    spike_margin: float           # points above the 30-day quantile of hourly maxima (capped at the cap)
    spike_jump: float             # points above the usual maximum of this hour
    spike_z: float
    limits: dict[str, float] = field(default_factory=dict)  # metric → hard limit of ``threshold``

    @classmethod
    def from_values(cls, values: dict[str, float], limits: dict[str, float]) -> "Params":
        """From thresholds by field name; a missing or unknown name is an error that names it."""
        names = {f.name for f in fields(cls)} - {"limits"}
        missing, unknown = sorted(names - set(values)), sorted(set(values) - names)
        if missing or unknown:
            raise ValueError(f"anomaly thresholds: missing {missing}, unknown {unknown} (sql/R__sru_thresholds.sql)")
        ints = {"min_baseline_hours", "min_seasonal_values"}
        kwargs: dict[str, Any] = {k: int(v) if k in ints else float(v) for k, v in values.items()}
        return cls(**kwargs, limits=dict(limits))


@dataclass
class Episode:
    """Hours ``start`` .. ``end`` (inclusive indexes of the first and last flagged hour); ``open``:
    not yet closed by CLOSE_AFTER normal hours at the end of the data. ``opened`` is the hour the
    episode was reported (start + OPEN_AFTER − 1): the detection delay counts to it."""

    kind: str
    start: int
    end: int
    opened: int
    open: bool
    peak_index: int
    value: float
    baseline: float
    score: float
    hours: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str = "warning"     # set when the episode is returned: spikes info, strong z-scores critical


def _severity(ep: Episode, p: Params) -> str:
    if ep.kind == "spike":
        return "info"
    return "critical" if ep.kind == "zscore" and abs(ep.score) >= p.critical_z else "warning"


@dataclass
class _State:
    start: int = -1
    run: int = 0          # consecutive flagged hours while not yet open
    calm: int = 0         # consecutive normal hours while open
    episode: Episode | None = None


def nanmedian_rows(m: np.ndarray) -> np.ndarray:
    """``np.nanmedian(m, axis=1)`` without its per-row Python loop (numpy falls back to one as soon
    as a row holds a NaN): sort each row (NaN sorts last) and average the middle valid values.
    Rows without any value give NaN, silently."""
    s = np.sort(m, axis=1)
    k = np.sum(~np.isnan(m), axis=1)
    rows = np.arange(m.shape[0])
    lo = np.maximum((k - 1) // 2, 0)
    hi = np.maximum(k // 2, 0)
    hi = np.where(k == 0, 0, hi)
    med = (s[rows, lo] + s[rows, hi]) / 2
    med[k == 0] = np.nan
    return med


def seasonal_strength(x: np.ndarray, phase: int = 0) -> float:
    """Strength of the weekly pattern of hourly values ``x`` (NaN = none): 1 − residual variance /
    variance, where the residual is x minus its hour-of-week mean, with degrees of freedom counted
    (168 fitted means), so noise alone scores ≈ 0 and a repeated working-week pattern ≈ 1. The
    same measure as the report's weekly profile (``forecast.weekly_profile``), without statsmodels."""
    ok = ~np.isnan(x)
    n = int(ok.sum())
    if n < 2 * WEEK:
        return 0.0
    how = (np.arange(len(x)) + phase)[ok] % WEEK
    v = x[ok]
    counts = np.bincount(how, minlength=WEEK)
    means = np.bincount(how, weights=v, minlength=WEEK) / np.maximum(counts, 1)
    sse = float(np.sum((v - means[how]) ** 2))
    sst = float(np.sum((v - v.mean()) ** 2))
    groups = int(np.count_nonzero(counts))
    if sst <= 0 or n - groups <= 0:
        return 0.0
    return max(0.0, 1.0 - (sse / (n - groups)) / (sst / (n - 1)))


def _seasonal_median(base: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, MAD and count of the same hour of week ±1 h in the previous SEASONAL_WEEKS weeks of
    each hour in ``idx``, from ``base`` (NaN = no data or left out)."""
    shifts = np.array([WEEK * k + d for k in range(1, SEASONAL_WEEKS + 1) for d in SEASONAL_NEIGHBOURS])
    pos = idx[:, None] - shifts[None, :]
    vals = np.where(pos >= 0, base[np.clip(pos, 0, None)], np.nan)
    med = nanmedian_rows(vals)
    mad = nanmedian_rows(np.abs(vals - med[:, None]))
    return med, mad, np.sum(~np.isnan(vals), axis=1)


class _SeasonalCache:
    """Same-hour-of-week medians of every hour from ``first`` on, computed once per version of the
    left-out hours (they change only when an episode is found) instead of once per judged day."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.key: tuple | None = None
        self.mean: tuple[np.ndarray, ...] = ()
        self.peak: tuple[np.ndarray, ...] = ()

    def load(self, key: tuple, base_mean: np.ndarray, base_peak: np.ndarray) -> None:
        if key != self.key:
            idx = np.arange(self.first, len(base_mean))
            self.mean = _seasonal_median(base_mean, idx)
            self.peak = _seasonal_median(base_peak, idx)
            self.key = key

    def at(self, which: tuple[np.ndarray, ...], idx: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(a[idx - self.first] for a in which)


def find_episodes(mean: np.ndarray, peak: np.ndarray | None = None, *, judge_from: int, params: Params,
                  limit: float, exclude: np.ndarray | None = None, cap: float = 100.0,
                  phase: int = 0) -> list[Episode]:
    """Anomaly episodes of one metric of one host.

    ``mean``, ``peak``: hourly means and maxima over consecutive hours (NaN = no data; ``peak``
    defaults to ``mean``). Hours ``judge_from`` .. end are judged; earlier hours are baseline only
    (30 days are needed, plus 4 weeks for a seasonal scale). ``exclude``: hours inside anomaly
    episodes found earlier, left out of every baseline. ``limit``: the metric's hard limit for
    ``threshold``; ``cap``: the most the metric can reach (100 for percentages). ``phase``: hour of
    week of index 0 (Monday 00:00 UTC = 0): days and weeks are aligned to it, so that passes that
    start at different hours judge every hour against the same baseline. ``params``: the thresholds.
    Returns episodes in order of start, each with inclusive start/end hour indexes.
    """
    mean = np.asarray(mean, dtype=float)
    peak = mean if peak is None else np.asarray(peak, dtype=float)
    n = len(mean)
    masked = np.zeros(n, dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool).copy()
    states = {k: _State() for k in KINDS}
    done: list[Episode] = []
    day = max(judge_from, 0)
    cache = _SeasonalCache(max(0, day - 24 - BASELINE_HOURS - LEVEL_WINDOW))
    while day < n:
        # Days are UTC days (phase aligns index 0), whatever hour a pass starts at: an hour's
        # baseline must not depend on where the pass began.
        stop = min(day + 24 - (day + phase) % 24, n)
        flags = _judge_day(mean, peak, masked, day, stop, params, limit, cap, phase, cache)
        if flags is None:                       # not enough baseline: nothing judged, nothing closed
            day = stop
            continue
        for kind in KINDS:
            flag, score, value, base, evidence = flags[kind]
            if kind == "spike":
                # A maximum explained by an anomalous mean is part of that episode, not a spike.
                flag = flag & ~_covered(states, done, day, stop)
            _advance(states[kind], kind, day, flag, score, value, base, evidence,
                     ~np.isnan(mean[day:stop]), done)
        for st in states.values():              # this day's episode hours leave later baselines
            if st.episode is not None:
                masked[st.episode.start:st.episode.end + 1] = True
        for ep in done:
            masked[ep.start:ep.end + 1] = True
        day = stop
    for st in states.values():
        if st.episode is not None:
            st.episode.open = True
            done.append(st.episode)
    for ep in done:
        ep.severity = _severity(ep, params)
    return sorted(done, key=lambda e: (e.start, KINDS.index(e.kind)))


def resume_from(judged_to: int, stored: list[tuple[int, int | None]]) -> int:
    """Where a pass over new hours from ``judged_to`` on must start judging so that it ends where
    one pass over everything ends, given the stored episodes ``stored`` as (start, last flagged
    hour or None while open): early enough to see again a run of flagged hours that had not yet
    reached OPEN_AFTER when the previous pass stopped, and, for every stored episode that is open or
    whose calm spell reaches that far, from the hour before its start (cascading)."""
    frm = judged_to - max(OPEN_AFTER.values())
    moved = True
    while moved:
        moved = False
        for start, end in stored:
            if start - 1 < frm and (end is None or end + CLOSE_AFTER >= frm):
                frm, moved = start - 1, True
    return frm


def _covered(states: dict[str, _State], done: list[Episode], day: int, stop: int) -> np.ndarray:
    """Hours day .. stop − 1 inside a zscore or level_shift episode (open or closed)."""
    out = np.zeros(stop - day, dtype=bool)
    eps = [e for e in done if e.end >= day] + [states[k].episode for k in ("zscore", "level_shift")]
    for e in eps:
        if e is not None and e.kind in ("zscore", "level_shift"):
            out[max(e.start, day) - day:max(min(e.end + 1, stop) - day, 0)] = True
    return out


def _advance(st: _State, kind: str, day: int, flag: np.ndarray, score: np.ndarray, value: np.ndarray,
             base: np.ndarray, evidence: dict, has_data: np.ndarray, done: list[Episode]) -> None:
    if not flag.any() and st.episode is None and st.run == 0:
        return                                  # the common case: a quiet day, nothing open
    need = OPEN_AFTER[kind]
    for j in range(len(flag)):
        i = day + j
        if flag[j]:
            ep = st.episode
            if ep is None:
                if st.run == 0:
                    st.start = i
                st.run += 1
                if st.run < need:
                    continue
                ep = st.episode = Episode(kind, st.start, i, i, True, i, float(value[j]), float(base[j]),
                                          float(score[j]), st.run - 1, {})
                st.run = 0
            ep.end = i
            ep.hours += 1
            st.calm = 0
            if abs(score[j]) >= abs(ep.score) or not ep.evidence:
                ep.peak_index, ep.value, ep.baseline, ep.score = i, float(value[j]), float(base[j]), float(score[j])
                ep.evidence = {k: (round(float(v[j]), 3) if isinstance(v, np.ndarray) else v)
                               for k, v in evidence.items()}
        elif has_data[j]:
            st.run = 0
            if st.episode is not None:
                st.calm += 1
                if st.calm >= CLOSE_AFTER:
                    st.episode.open = False
                    done.append(st.episode)
                    st.episode, st.calm = None, 0
        # An hour without data neither extends nor closes an episode, nor breaks a run.


def _judge_day(mean: np.ndarray, peak: np.ndarray, masked: np.ndarray, day: int, stop: int, p: Params,
               limit: float, cap: float, phase: int, cache: _SeasonalCache) -> dict[str, tuple[Any, ...]] | None:
    """Flags, scores, values, baselines and evidence of every detector for hours day .. stop − 1
    (within one UTC day), from the BASELINE_HOURS before that day's midnight."""
    d0 = day - (day + phase) % 24          # midnight of this UTC day: the baseline ends there,
    lo = max(0, d0 - BASELINE_HOURS)       # wherever in the day the pass started judging
    window = mean[lo:d0]
    has = ~np.isnan(window)
    base_mean = np.where(masked, np.nan, mean)
    new_normal = False
    if int((has & ~masked[lo:d0]).sum()) < p.min_baseline_hours:
        if int(has.sum()) < p.min_baseline_hours:
            return None
        # Episodes cover more than half the window: the level they are at is the new normal.
        base_mean, new_normal = mean.copy(), True
    base_peak = np.where(np.isnan(base_mean), np.nan, peak)
    win = base_mean[lo:d0]
    win = win[~np.isnan(win)]
    win_peak = base_peak[lo:d0]
    win_peak = win_peak[~np.isnan(win_peak)]
    hours = np.arange(day, stop)
    x = mean[day:stop]
    pk = peak[day:stop]

    s0 = max(0, d0 - SEASONAL_WEEKS * WEEK)
    strength = seasonal_strength(base_mean[s0:d0], phase + s0)
    all_med, p90 = (float(v) for v in np.percentile(win, [50.0, p.threshold_quantile]))
    if len(win_peak):
        peak_med, spike_q = (float(v) for v in np.percentile(win_peak, [50.0, p.spike_quantile]))
    else:
        peak_med, spike_q = all_med, cap
    all_scale = max(MAD_TO_SD * float(np.median(np.abs(win - all_med))), p.scale_floor)
    seasonal = strength >= p.seasonal_strength_min
    lead = np.arange(max(0, day - LEVEL_WINDOW + 1), stop)   # hours the level window reaches back to
    if seasonal:
        cache.load((int(masked.sum()), new_normal), base_mean, base_peak)
        med_h, mad_h, cnt_h = cache.at(cache.mean, hours)
        # 30-day all-hours MAD of the deseasonalised series floors the 12-value MAD.
        past = np.arange(lo, d0)
        med_p, _, cnt_p = cache.at(cache.mean, past)
        resid_p = base_mean[past] - med_p
        resid_p = resid_p[~np.isnan(resid_p) & (cnt_p >= p.min_seasonal_values)]
        if len(resid_p) < p.min_baseline_hours // 2:
            seasonal = False
    if seasonal:
        r_med = float(np.median(resid_p))
        floor = max(MAD_TO_SD * float(np.median(np.abs(resid_p - r_med))), p.scale_floor)
        ok = cnt_h >= p.min_seasonal_values
        med = np.where(ok, med_h, all_med)
        scale = np.where(ok, np.maximum(MAD_TO_SD * mad_h, floor), all_scale)
        med_l, _, cnt_l = cache.at(cache.mean, lead)
        resid_lead = mean[lead] - np.where(cnt_l >= p.min_seasonal_values, med_l, all_med)
        level_scale = floor
        pmed, _, pcnt = cache.at(cache.peak, hours)
        peak_base = np.where(pcnt >= p.min_seasonal_values, pmed, peak_med)
        method = "same hour of week ±1 h, previous 4 weeks"
    else:
        med = np.full(len(hours), all_med)
        scale = np.full(len(hours), all_scale)
        resid_lead = mean[lead] - all_med
        level_scale = all_scale
        peak_base = np.full(len(hours), peak_med)
        method = "all hours, previous 30 days"
    peak_scale = max(MAD_TO_SD * float(np.median(np.abs(win_peak - peak_med))), p.scale_floor) if len(win_peak) \
        else p.scale_floor

    dev = x - med
    z = dev / scale
    valid = ~np.isnan(x)
    z_flag = valid & (np.abs(z) >= p.z) & (np.abs(dev) >= p.min_deviation)

    # Level: the median deviation of the last LEVEL_WINDOW hours (with data) at each judged hour.
    pad = len(lead) - len(hours)
    full_window = np.lib.stride_tricks.sliding_window_view(
        np.concatenate([np.full(LEVEL_WINDOW - 1 - pad, np.nan), resid_lead]), LEVEL_WINDOW)
    level = nanmedian_rows(full_window)
    level_n = np.sum(~np.isnan(full_window), axis=1)
    level_score = level / level_scale
    l_flag = (valid & (level_n >= LEVEL_MIN_HOURS) & (np.abs(level_score) >= p.level_k)
              & (np.abs(level) >= p.level_min_shift))

    t_flag = valid & (x >= limit) & (p90 < limit - p.threshold_headroom)

    # A capped metric cannot exceed its cap: the percentile bar stops at the cap, and the jump above
    # this hour's usual maximum is what makes touching the cap at 3 a.m. a spike and at noon not.
    bar = np.maximum(min(spike_q + p.spike_margin, cap), peak_base + max(p.spike_jump, p.spike_z * peak_scale))
    s_flag = ~np.isnan(pk) & (np.nan_to_num(pk, nan=-np.inf) >= bar)
    common = {"method": method, "seasonal_strength": round(strength, 3)}
    return {
        "zscore": (z_flag, z, x, med, {**common, "median": med, "scale": scale}),
        "level_shift": (l_flag, level_score, x, med, {**common, "shift": level, "scale": level_scale,
                                                          "window_hours": LEVEL_WINDOW}),
        "threshold": (t_flag, x - limit, x, np.full(len(hours), limit),
                      {"limit": limit, "p90_30d": round(p90, 2), "headroom": p.threshold_headroom}),
        "spike": (s_flag, (pk - peak_base) / peak_scale, pk, bar,
                  {**common, "usual_max": peak_base, "p99_5_max_30d": round(spike_q, 2), "bar": bar}),
    }
