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

KINDS = ("zscore", "level_shift", "threshold", "spike", "stuck", "variance")

# The windows the detector reads, fixed by its design (how far back a pass must load, where a later
# pass resumes). The levels it judges against are Params, from sql/R__sru_thresholds.sql.
BASELINE_HOURS = 30 * 24        # trailing window of every baseline
WEEK = 168
SEASONAL_WEEKS = 4              # same hour of week in each of the previous 4 weeks ...
SEASONAL_NEIGHBOURS = (-1, 0, 1)  # ... ±1 h: 12 values
MAD_TO_SD = 1.4826              # MAD of a normal distribution × 1.4826 = its standard deviation
LEVEL_WINDOW = 6                # hours whose median is compared with the baseline
LEVEL_MIN_HOURS = 4             # hours with data the level window needs
OPEN_AFTER = {"zscore": 3, "level_shift": 1, "threshold": 2, "spike": 1, "stuck": 1, "variance": 3}
CLOSE_AFTER = 3                 # judged hours with data, not flagged, that close an episode
NEW_NORMAL_HOURS = 24           # a level held this long (nearly every hour on one side) is the new normal
NEW_NORMAL_MIN_HOURS = 12       # hours with data those 24 need
NEW_NORMAL_LOOKBACK = 72        # ... found within this many hours (an outage does not reset the new normal)
NEW_NORMAL_SIDE = 0.2           # at most this share of those hours on the other side of the baseline
NEW_NORMAL_NEAR = 0.5           # a level from this share of level_min_shift on is adopted if it is steady:
NEW_NORMAL_STEADY = 1.0         # ... it rose by less than this many hourly scales over the day
LEVEL_STEADINESS = 2.5          # a 6-hour median is about this much steadier than one hour (iid noise)
STUCK_HOURS = 6                 # hours with the same mean and no spread that make a stuck series
ESCALATE_AFTER = 3              # hours further out than the open episode that make a new one (zscore, level_shift)
GAP_ALSO = 1.5                  # ... and the hour-to-hour variance flag needs the gap this much above usual
GAP_RATIO = 2.0                 # the within-hour spread doubled (for 6 hours) is a variance burst too
VARIANCE_ABOVE_MOST = 1.25     # a burst also exceeds the largest 6-hour median change of 30 normal days by this
STUCK_TOLERANCE = 0.01          # points: "the same", for a metric that normally moves
STUCK_NORMAL_SHARE = 0.05       # a host whose hours are this often unchanged is flat by nature


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
    variance_ratio: float         # 6-hour median hour-to-hour change over its usual (30-day median)
    variance_min_change: float    # points that median change must also exceed its usual by
    cold_start_hours: int         # fewer hours with data than min_baseline_hours but at least these: judged ...
    cold_start_widen: float       # ... with z, level_k and the minimum deviations multiplied by this
    limits: dict[str, float] = field(default_factory=dict)  # metric → hard limit of ``threshold``

    @classmethod
    def from_values(cls, values: dict[str, float], limits: dict[str, float]) -> Params:
        """From thresholds by field name; a missing or unknown name is an error that names it."""
        names = {f.name for f in fields(cls)} - {"limits"}
        missing, unknown = sorted(names - set(values)), sorted(set(values) - names)
        if missing or unknown:
            raise ValueError(f"anomaly thresholds: missing {missing}, unknown {unknown} (sql/R__sru_thresholds.sql)")
        ints = {"min_baseline_hours", "min_seasonal_values", "cold_start_hours"}
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
    escalates: int | None = None  # start of the open episode of the same kind this one broke out of


def _severity(ep: Episode, p: Params) -> str:
    if ep.kind == "spike":
        return "info"
    return "critical" if ep.kind == "zscore" and abs(ep.score) >= p.critical_z else "warning"


# One judged hour: (index, value, baseline, score, evidence, deviation from the baseline).
_Hour = tuple[int, float, float, float, dict[str, Any], float]


@dataclass
class _State:
    start: int = -1
    run: int = 0          # consecutive flagged hours while not yet open
    calm: int = 0         # consecutive normal hours while open
    episode: Episode | None = None
    devs: list[float] = field(default_factory=list)   # deviations of the open episode's hours
    pending: list[_Hour] = field(default_factory=list)  # flagged hours that may start an escalation


def nanmedian_rows(m: np.ndarray) -> np.ndarray:
    """``np.nanmedian(m, axis=1)`` without its per-row Python loop (numpy falls back to one as soon
    as a row holds a NaN): sort each row (NaN sorts last) and average the middle valid values.
    Rows without any value give NaN, silently."""
    return _median_count_rows(m)[0]


def _median_count_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nanmedian_rows` and the number of values with data in each row, from one sort."""
    s = np.sort(m, axis=1)
    if m.shape[1] and not np.isnan(s[:, -1]).any():   # no NaN at all (it would sort last)
        k = m.shape[1]
        return (s[:, (k - 1) // 2] + s[:, k // 2]) / 2, np.full(m.shape[0], k)
    k = np.sum(~np.isnan(s), axis=1)
    rows = np.arange(m.shape[0])
    lo = np.maximum((k - 1) // 2, 0)
    hi = np.maximum(k // 2, 0)
    hi = np.where(k == 0, 0, hi)
    med: np.ndarray = (s[rows, lo] + s[rows, hi]) / 2  # fancy indexing is typed Any
    med[k == 0] = np.nan
    return med, k


def seasonal_strength(x: np.ndarray, phase: int = 0, period: int = WEEK) -> float:
    """Strength of the weekly pattern of hourly values ``x`` (NaN = none): 1 − residual variance /
    variance, where the residual is x minus its hour-of-week mean, with degrees of freedom counted
    (168 fitted means), so noise alone scores ≈ 0 and a repeated working-week pattern ≈ 1. The
    same measure as the report's weekly profile (``forecast.weekly_profile``), without statsmodels.
    ``period=24``: the daily pattern's (a young host's)."""
    ok = ~np.isnan(x)
    n = int(ok.sum())
    if n < 2 * period:
        return 0.0
    how = (np.arange(len(x)) + phase)[ok] % period
    v = x[ok]
    counts = np.bincount(how, minlength=period)
    means = np.bincount(how, weights=v, minlength=period) / np.maximum(counts, 1)
    sse = float(np.sum((v - means[how]) ** 2))
    sst = float(np.sum((v - v.mean()) ** 2))
    groups = int(np.count_nonzero(counts))
    if sst <= 0 or n - groups <= 0:
        return 0.0
    return max(0.0, 1.0 - (sse / (n - groups)) / (sst / (n - 1)))


def _daily_profile(x: np.ndarray, phase: int) -> np.ndarray:
    """Median of each hour of the day ±1 h over the days of ``x`` (24 values, NaN where none)."""
    hod = (np.arange(len(x)) + phase) % 24
    out = np.full(24, np.nan)
    for h in range(24):
        v = x[np.isin(hod, ((h - 1) % 24, h, (h + 1) % 24))]
        v = v[~np.isnan(v)]
        if len(v):
            out[h] = float(np.median(v))
    return out


def _less_daily_level(x: np.ndarray) -> np.ndarray:
    """``x`` (whole days from midnight) minus each day's median: the weekly pattern's strength is then
    judged on the shape of the days, so a lasting change of level (a new normal, the unflagged hours
    of a slow leak) does not make a weekly host look pattern-less and flip it to the all-hours
    baseline. The level itself is what the detectors judge, against the baselines."""
    days = len(x) // 24
    if days == 0:
        return x
    d = x[:days * 24].reshape(days, 24)
    level = nanmedian_rows(d)
    out = x.copy()
    out[:days * 24] = (d - level[:, None]).ravel()
    return out


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
        self.key: tuple[Any, ...] | None = None
        self.mean: tuple[np.ndarray, ...] = ()
        self.peak: tuple[np.ndarray, ...] = ()
        self.rolls: dict[tuple[Any, ...], dict[str, np.ndarray]] = {}

    def load(self, key: tuple[Any, ...], base_mean: np.ndarray, base_peak: np.ndarray) -> None:
        if key != self.key:
            idx = np.arange(self.first, len(base_mean))
            self.mean = _seasonal_median(base_mean, idx)
            self.peak = _seasonal_median(base_peak, idx)
            self.key = key

    def rolling(self, key: tuple[Any, ...], seasonal: bool, base_mean: np.ndarray, base_peak: np.ndarray,
                min_seasonal: int) -> dict[str, np.ndarray]:
        """The level and variance statistics (6-hour median of the residual, and of its hour-to-hour
        change) of every hour from ``first`` on, episodes left out: their 30-day distributions are
        what the current values are judged against. Once per version, not once per day. Without a
        seasonal baseline the residual is the value itself: both statistics' spreads ignore a constant."""
        k = (key, seasonal)
        if k not in self.rolls:
            self.rolls = {kk: v for kk, v in self.rolls.items() if kk[0] == key}
            if seasonal:
                med, _, cnt = self.mean
                r = base_mean[self.first:] - np.where(cnt >= min_seasonal, med, np.nan)
            else:
                r = base_mean[self.first:]
            self.rolls[k] = _rolling_stats(r, base_peak[self.first:] - base_mean[self.first:])
        return self.rolls[k]

    def less_daily(self, key: tuple[Any, ...], base_mean: np.ndarray, phase: int) -> np.ndarray:
        """Every hour from ``first`` on minus the median of its UTC day (see _less_daily_level)."""
        k = (key, "daily")
        if k not in self.rolls:
            start = self.first - (self.first + phase) % 24
            n = len(base_mean)
            days = -(-(n - start) // 24)
            flat = np.full(days * 24, np.nan)
            lo = max(start, 0)
            flat[lo - start:n - start] = base_mean[lo:n]
            grid = flat.reshape(days, 24)
            self.rolls[k] = {"x": (grid - nanmedian_rows(grid)[:, None]).ravel()[self.first - start:n - start]}
        return self.rolls[k]["x"]

    def at(self, which: tuple[np.ndarray, ...], a: int, b: int) -> tuple[np.ndarray, ...]:
        """Hours a .. b − 1 (views)."""
        return tuple(v[a - self.first:b - self.first] for v in which)


def _rolling_stats(r: np.ndarray, gap: np.ndarray) -> dict[str, np.ndarray]:
    """At every hour, the median of the last LEVEL_WINDOW residuals ``r`` (level), of their
    hour-to-hour changes (variance) and of the gaps between maximum and mean (``gap``: spread within
    the hour); NaN where fewer than LEVEL_MIN_HOURS have data."""
    out = {}
    for name, series in (("level", r), ("variance", np.abs(np.diff(r, prepend=np.nan))), ("gap", gap)):
        w = _trailing(series, LEVEL_WINDOW)
        stat = nanmedian_rows(w)
        stat[np.sum(~np.isnan(w), axis=1) < LEVEL_MIN_HOURS] = np.nan
        out[name] = stat
    return out


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
    return _find(mean, peak, judge_from, params, limit, exclude, cap, phase, scored=False)[0]


def find_episodes_scored(mean: np.ndarray, peak: np.ndarray | None = None, *, judge_from: int, params: Params,
                         limit: float, exclude: np.ndarray | None = None, cap: float = 100.0,
                         phase: int = 0) -> tuple[list[Episode], np.ndarray]:
    """:func:`find_episodes`, and per hour the strongest of the detectors' statistics over the bar it
    must reach (1 = at a bar; NaN where not judged): a threshold-free score, for VUS-PR in bench/."""
    return _find(mean, peak, judge_from, params, limit, exclude, cap, phase, scored=True)


def _find(mean: np.ndarray, peak: np.ndarray | None, judge_from: int, params: Params, limit: float,
          exclude: np.ndarray | None, cap: float, phase: int, scored: bool) -> tuple[list[Episode], np.ndarray]:
    mean = np.asarray(mean, dtype=float)
    peak = mean if peak is None else np.asarray(peak, dtype=float)
    n = len(mean)
    masked = np.zeros(n, dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool).copy()
    states = {k: _State() for k in KINDS}
    done: list[Episode] = []
    day = max(judge_from, 0)
    cache = _SeasonalCache(max(0, day - 24 - BASELINE_HOURS - LEVEL_WINDOW))
    hour_score = np.full(n, np.nan)
    while day < n:
        # Days are UTC days (phase aligns index 0), whatever hour a pass starts at: an hour's
        # baseline must not depend on where the pass began.
        stop = min(day + 24 - (day + phase) % 24, n)
        judged = _judge_day(mean, peak, masked, day, stop, params, limit, cap, phase, cache, scored)
        if judged is None:                      # not enough baseline: nothing judged, nothing closed
            day = stop
            continue
        flags, hour_score[day:stop] = judged
        for kind in KINDS:
            flag, score, value, base, evidence = flags[kind]
            if kind == "spike":
                # A maximum explained by an anomalous mean is part of that episode, not a spike,
                # unless it is far above that hour's own mean (a second incident inside the first).
                inside = evidence.pop("inside")
                flag = flag & (~_covered(states, done, day, stop) | inside)
            _advance(states[kind], kind, day, flag, score, value, base, evidence,
                     ~np.isnan(mean[day:stop]), done, evidence.pop("escalate", None))
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
    return sorted(done, key=lambda e: (e.start, KINDS.index(e.kind))), hour_score


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
             base: np.ndarray, evidence: dict[str, Any], has_data: np.ndarray, done: list[Episode],
             escalate: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Open, extend and close this kind's episode over one day's flags. ``escalate``: per hour, the
    deviation the kind judges (the hour's, or the 6-hour median's) and how much further from the
    baseline than the open episode's usual deviation it must be to be a second, different anomaly
    (or as far out on the other side); ESCALATE_AFTER such hours in a row end the episode and open a
    new one from the first of them (a new alert row, so it is seen, where extending would hide it)."""
    if not flag.any() and st.episode is None and st.run == 0:
        return                                  # the common case: a quiet day, nothing open
    need = OPEN_AFTER[kind]

    def hour(j: int) -> _Hour:
        return (day + j, float(value[j]), float(base[j]), float(score[j]),
                {k: (round(float(v[j]), 3) if isinstance(v, np.ndarray) else v) for k, v in evidence.items()},
                float(escalate[1][j]) if escalate is not None else float(value[j] - base[j]))

    def extend(ep: Episode, h: _Hour) -> None:
        i, v, b, sc, ev, dv = h
        ep.end = i
        ep.hours += 1
        st.devs.append(dv)
        if abs(sc) >= abs(ep.score) or not ep.evidence:
            ep.peak_index, ep.value, ep.baseline, ep.score, ep.evidence = i, v, b, sc, ev

    def flush(ep: Episode) -> None:
        for h in st.pending:
            extend(ep, h)
        st.pending = []

    for j in range(len(flag)):
        i = day + j
        if flag[j]:
            ep = st.episode
            st.calm = 0
            if ep is None:
                if st.run == 0:
                    st.start = i
                st.run += 1
                if st.run < need:
                    continue
                ep = st.episode = Episode(kind, st.start, i, i, True, i, float(value[j]), float(base[j]),
                                          float(score[j]), st.run - 1, {})
                st.run, st.devs = 0, []
                extend(ep, hour(j))
                continue
            if escalate is not None and len(st.devs) >= ESCALATE_AFTER:
                usual = float(np.median(st.devs))
                d, bar = float(escalate[1][j]), float(escalate[0][j])
                if abs(d) - abs(usual) >= bar or (d * usual < 0 and abs(d) >= bar):
                    st.pending.append(hour(j))
                    if len(st.pending) >= ESCALATE_AFTER:
                        first = st.pending[0][0]
                        ep.open = False
                        done.append(ep)
                        new = Episode(kind, first, i, i, True, first, float(value[j]), float(base[j]),
                                      float(score[j]), 0, {}, escalates=ep.start)
                        st.episode, st.devs = new, []
                        flush(new)
                    continue
            flush(ep)
            extend(ep, hour(j))
        elif has_data[j]:
            st.run = 0
            if st.episode is not None:
                flush(st.episode)
                st.calm += 1
                if st.calm >= CLOSE_AFTER:
                    st.episode.open = False
                    done.append(st.episode)
                    st.episode, st.calm = None, 0
        # An hour without data neither extends nor closes an episode, nor breaks a run.


def _row_spread(m: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median, lower and upper ``q`` quantile (0..1, nearest rank) of each row, NaN left out, and the
    number of values with data, from one sort; NaN for a row without data."""
    srt = np.sort(m, axis=1)
    if m.shape[1] and not np.isnan(srt[:, -1]).any():  # no NaN: the same positions in every row
        last = m.shape[1] - 1
        i = int(np.floor(q * last))
        return ((srt[:, last // 2] + srt[:, (last + 1) // 2]) / 2, srt[:, i], srt[:, last - i],
                np.full(m.shape[0], m.shape[1]))
    k = np.sum(~np.isnan(srt), axis=1)
    rows = np.arange(m.shape[0])
    last = np.maximum(k - 1, 0)
    med = (srt[rows, last // 2] + srt[rows, (last + 1) // 2]) / 2
    low = srt[rows, np.floor(q * last).astype(int)]
    high = srt[rows, last - np.floor(q * last).astype(int)]
    for a in (med, low, high):
        a[k == 0] = np.nan
    return med, low, high, k


def _theil_sen(m: np.ndarray, k: int) -> np.ndarray:
    """Per row, the median of the slopes between every two values (NaN left out; column = hour) of
    a matrix whose rows hold at most ``k`` values."""
    order = np.argsort(np.isnan(m), axis=1, kind="stable")[:, :k]
    v = np.take_along_axis(m, order, axis=1)
    i, j = np.triu_indices(k, 1)
    return nanmedian_rows((v[:, j] - v[:, i]) / (order[:, j] - order[:, i]))


def _in_runs(flag: np.ndarray, k: int) -> np.ndarray:
    """Positions inside a run of at least ``k`` consecutive True values."""
    full = np.convolve(flag.astype(int), np.ones(k, dtype=int))[:len(flag)] == k   # run of k ends here
    return np.convolve(full[::-1].astype(int), np.ones(k, dtype=int))[:len(flag)][::-1] > 0


def _last_with_data(m: np.ndarray, k: int) -> np.ndarray:
    """Each row of ``m`` with only its last ``k`` values with data kept (the rest NaN)."""
    ok = ~np.isnan(m)
    from_end = np.cumsum(ok[:, ::-1], axis=1)[:, ::-1]
    return np.where(ok & (from_end <= k), m, np.nan)


def _trailing(x: np.ndarray, width: int, start: int = 0) -> np.ndarray:
    """Rows of the ``width`` values ending at each position from ``start`` on (NaN before the
    beginning of ``x``). (Fancy indexing: for these small arrays faster than a strided view.)"""
    rows: np.ndarray = np.concatenate([np.full(width - 1, np.nan), x])[np.arange(start, len(x))[:, None] + np.arange(width)]
    return rows  # fancy indexing is typed Any


def _quantiles(a: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile(a, qs)`` (linear) of a 1-D array without NaN, by one partition: the per-call
    overhead of np.median and np.percentile was most of a judged day's cost."""
    n = len(a)
    pos = [q / 100 * (n - 1) for q in qs]
    kth = sorted({int(np.floor(x)) for x in pos} | {int(np.ceil(x)) for x in pos})
    part = np.partition(a, kth)
    return [float(part[int(np.floor(x))] + (x - np.floor(x)) * (part[int(np.ceil(x))] - part[int(np.floor(x))]))
            for x in pos]


def _median(a: np.ndarray) -> float:
    """The median of a 1-D array without NaN by one partition (half the cost of :func:`_quantiles`)."""
    n = len(a)
    k = (n - 1) // 2
    if n % 2:
        return float(np.partition(a, k)[k])
    part = np.partition(a, (k, k + 1))
    return float(part[k] + part[k + 1]) / 2


def _mad_scale(a: np.ndarray, centre: float | None = None) -> float:
    """1.4826 × the median absolute deviation of ``a`` (no NaN) from ``centre`` (default its median)."""
    c = _median(a) if centre is None else centre
    return MAD_TO_SD * _median(np.abs(a - c))


def _judge_day(mean: np.ndarray, peak: np.ndarray, masked: np.ndarray, day: int, stop: int, p: Params,
               limit: float, cap: float, phase: int, cache: _SeasonalCache, scored: bool = False
               ) -> tuple[dict[str, tuple[Any, ...]], np.ndarray] | None:
    """Flags, scores, values, baselines and evidence of every detector for hours day .. stop − 1
    (within one UTC day), from the BASELINE_HOURS before that day's midnight."""
    d0 = day - (day + phase) % 24          # midnight of this UTC day: the baseline ends there,
    lo = max(0, d0 - BASELINE_HOURS)       # wherever in the day the pass started judging
    window = mean[lo:d0]
    has = ~np.isnan(window)
    base_mean = np.where(masked, np.nan, mean)
    new_normal = False
    widen = 1.0
    if int((has & ~masked[lo:d0]).sum()) < p.min_baseline_hours:
        if int(has.sum()) >= p.min_baseline_hours:
            # Episodes cover more than half the window: the level they are at is the new normal.
            base_mean, new_normal = mean.copy(), True
        elif int((has & ~masked[lo:d0]).sum()) >= p.cold_start_hours:
            widen = p.cold_start_widen     # a young host: judged with what it has, with a wider margin
        elif int(has.sum()) >= p.cold_start_hours:
            base_mean, new_normal, widen = mean.copy(), True, p.cold_start_widen
        else:
            return None
    base_peak = np.where(np.isnan(base_mean), np.nan, peak)
    win = base_mean[lo:d0]
    win = win[~np.isnan(win)]
    win_peak = base_peak[lo:d0]
    win_peak = win_peak[~np.isnan(win_peak)]
    hours = np.arange(day, stop)
    x = mean[day:stop]
    pk = peak[day:stop]

    s0 = max(0, d0 - SEASONAL_WEEKS * WEEK)
    key = (int(masked.sum()), new_normal)
    if s0 >= cache.first:
        strength = seasonal_strength(cache.less_daily(key, base_mean, phase)[s0 - cache.first:d0 - cache.first],
                                     phase + s0)
    else:
        strength = seasonal_strength(_less_daily_level(base_mean[s0:d0]), phase + s0)
    all_med, p90 = _quantiles(win, (50.0, p.threshold_quantile))
    if len(win_peak):
        peak_med, spike_q = _quantiles(win_peak, (50.0, p.spike_quantile))
    else:
        peak_med, spike_q = all_med, cap
    all_scale = max(_mad_scale(win, all_med), p.scale_floor)
    seasonal = strength >= p.seasonal_strength_min
    # Hours whose residual the detectors read: the 3 days before each judged hour (new normal: its
    # last 24 hours with data, and the day before those), the level window's 6 before those, and
    # the day itself.
    ctx = np.arange(max(lo, day - NEW_NORMAL_LOOKBACK - LEVEL_WINDOW), stop)
    if seasonal:
        cache.load(key, base_mean, base_peak)
        med_h, mad_h, cnt_h = cache.at(cache.mean, day, stop)
        # 30-day all-hours MAD of the deseasonalised series floors the 12-value MAD.
        med_p, _, cnt_p = cache.at(cache.mean, lo, d0)
        resid_p = base_mean[lo:d0] - med_p
        resid_p = resid_p[~np.isnan(resid_p) & (cnt_p >= p.min_seasonal_values)]
        if len(resid_p) < p.min_baseline_hours // 2:
            seasonal = False
    if seasonal:
        floor = max(_mad_scale(resid_p), p.scale_floor)
        ok = cnt_h >= p.min_seasonal_values
        med = np.where(ok, med_h, all_med)
        scale = np.where(ok, np.maximum(MAD_TO_SD * mad_h, floor), all_scale)
        med_c, _, cnt_c = cache.at(cache.mean, int(ctx[0]), stop)
        ctx_base = np.where(cnt_c >= p.min_seasonal_values, med_c, all_med)
        hour_scale = floor
        pmed, _, pcnt = cache.at(cache.peak, day, stop)
        peak_base = np.where(pcnt >= p.min_seasonal_values, pmed, peak_med)
        method = "same hour of week ±1 h, previous 4 weeks"
    elif widen > 1 and seasonal_strength(base_mean[lo:d0], phase + lo, 24) >= p.seasonal_strength_min:
        # A young host with a daily pattern: the same hour of the day ±1 h of the days it has.
        prof = _daily_profile(base_mean[lo:d0], phase + lo)
        prof = np.where(np.isnan(prof), all_med, prof)
        ctx_base = prof[(ctx + phase) % 24]
        med = prof[(hours + phase) % 24]
        r = base_mean[lo:d0] - prof[(np.arange(lo, d0) + phase) % 24]
        r = r[~np.isnan(r)]
        hour_scale = max(_mad_scale(r), p.scale_floor)
        scale = np.full(len(hours), hour_scale)
        pprof = _daily_profile(base_peak[lo:d0], phase + lo)
        peak_base = np.where(np.isnan(pprof), peak_med, pprof)[(hours + phase) % 24]
        method = "same hour of day ±1 h"
    else:
        med = np.full(len(hours), all_med)
        scale = np.full(len(hours), all_scale)
        ctx_base = np.full(len(ctx), all_med)
        hour_scale = all_scale
        peak_base = np.full(len(hours), peak_med)
        method = "all hours, previous 30 days"
    if widen > 1:
        method += f" (young host: {int(has.sum())} hours of history, margins x{widen:g}, rises only)"
    peak_scale = max(_mad_scale(win_peak, peak_med), p.scale_floor) if len(win_peak) \
        else p.scale_floor
    if seasonal:
        # The maxima's spread around their own hour of week, not across the day's swing: on a weekly
        # host the all-hours spread alone would put 8 scales above the cap.
        pmed_p, _, pcnt_p = cache.at(cache.peak, lo, d0)
        presid = base_peak[lo:d0] - pmed_p
        presid = presid[~np.isnan(presid) & (pcnt_p >= p.min_seasonal_values)]
        if len(presid) >= p.min_baseline_hours // 2:
            peak_scale = max(_mad_scale(presid), p.scale_floor)
    c0 = int(ctx[0])
    mean_c, peak_c = mean[c0:stop], peak[c0:stop]   # views of the context (ctx is a range)
    resid = mean_c - ctx_base                    # every hour of the context, episodes included
    j0 = day - ctx[0]                            # position of the first judged hour in ctx
    if not seasonal and method.startswith("same hour of day"):    # a young host's daily profile
        past_stats = _rolling_stats(base_mean[lo:d0] - prof[(np.arange(lo, d0) + phase) % 24],
                                    base_peak[lo:d0] - base_mean[lo:d0])
    else:
        roll = cache.rolling(key, seasonal, base_mean, base_peak, p.min_seasonal_values)
        past_stats = {k: v[lo - cache.first:d0 - cache.first] for k, v in roll.items()}
    past_stats = {k: v[~np.isnan(v)] for k, v in past_stats.items()}

    # Stuck: STUCK_HOURS hours with the same mean and no spread up to the maximum, on a host whose
    # hours normally move (an exporter or sensor repeating its last value).
    same = np.zeros(len(mean_c), dtype=bool)
    same[1:] = np.abs(mean_c[1:] - mean_c[:-1]) <= STUCK_TOLERANCE
    # Pinned at 0 or at the cap is idle or saturated (level_shift, threshold), not a repeated value.
    gap_c = peak_c - mean_c
    flat = (same & (np.abs(gap_c) <= STUCK_TOLERANCE)
            & (mean_c > STUCK_TOLERANCE) & (mean_c < cap - STUCK_TOLERANCE))
    was_same = np.abs(np.diff(mean[max(lo - 1, 0):d0]))[-(d0 - lo):] <= STUCK_TOLERANCE
    counted = ~np.isnan(base_mean[lo:d0])[-len(was_same):] if len(was_same) else np.zeros(0, dtype=bool)
    normal_same = float(np.mean(was_same[counted])) if counted.any() else 1.0
    # Hours of a stuck run say nothing about the level the host lives at.
    in_stuck = _in_runs(flat, STUCK_HOURS) & (normal_same < STUCK_NORMAL_SHARE)

    # New normal: when at least 4 in 5 of the last NEW_NORMAL_HOURS hours with data (stuck hours left
    # out) sat on one side of the baseline, their median is the level the host now lives at if it is
    # a level shift's distance from the baseline, or, closer than that, if it is steady: over those
    # hours, or from one day to the next, it rose by less than the hourly scale. An hour is then judged
    # against both levels, so a lasting change stops alarming within a day and a return to the old
    # level raises nothing. A slow leak rises steadily, so it is not adopted below the minimum shift
    # (it is reported when it crosses it) and only a day after it crossed it.
    zk, min_dev = p.z * widen, p.min_deviation * widen
    lk, lmin = p.level_k * widen, p.level_min_shift * widen
    nn_resid = np.where(in_stuck, np.nan, resid)
    if j0 >= NEW_NORMAL_HOURS and not np.isnan(nn_resid[j0 - NEW_NORMAL_HOURS:]).any():
        before = _trailing(nn_resid, NEW_NORMAL_HOURS + 1, j0)[:, :-1]     # no hour missing: the last 24
    else:
        before = _last_with_data(_trailing(nn_resid, NEW_NORMAL_LOOKBACK + 1, j0)[:, :-1], NEW_NORMAL_HOURS)
    held, q_lo, q_hi, count = _row_spread(before, NEW_NORMAL_SIDE)
    enough = count >= NEW_NORMAL_MIN_HOURS
    one_sided = (q_lo > 0) | (q_hi < 0)
    shifted = enough & one_sided & (np.abs(held) >= lmin)
    near = enough & one_sided & ~shifted & (np.abs(held) >= NEW_NORMAL_NEAR * lmin)
    if near.any():
        # Over the window (a Theil-Sen slope), or hour by hour from the day before (a daily shape
        # left in the residual cancels out).
        rise = np.abs(_theil_sen(before[near], NEW_NORMAL_HOURS)) * NEW_NORMAL_HOURS
        two = _trailing(nn_resid, 2 * NEW_NORMAL_HOURS + 1, j0)[:, :-1][near]
        daily = two[:, NEW_NORMAL_HOURS:] - two[:, :NEW_NORMAL_HOURS]
        day_rise = np.abs(nanmedian_rows(daily))
        day_rise[np.sum(~np.isnan(daily), axis=1) < NEW_NORMAL_MIN_HOURS // 2] = np.inf
        shifted[near] = np.minimum(rise, day_rise) <= NEW_NORMAL_STEADY * hour_scale
    offset = np.where(shifted, held, 0.0)

    dev = x - med
    z = dev / scale
    z_new = (dev - offset) / scale
    valid = ~np.isnan(x)
    # A young host's drops are not judged: without a week of history its first weekend or quiet day
    # looks like an incident.
    up_only = widen > 1
    z_flag = (valid & (np.abs(z) >= zk) & (np.abs(dev) >= min_dev)
              & (np.abs(z_new) >= zk) & (np.abs(dev - offset) >= min_dev) & (~up_only | (dev > 0)))

    # Level: the median deviation of the last LEVEL_WINDOW hours (with data) at each judged hour,
    # against a scale that is the hourly one unless the 30-day distribution of the same 6-hour
    # median says the series wanders more slowly than hourly noise (memory-like series).
    # The three 6-hour medians the detectors read (level, hour-to-hour change, gap up to the
    # maximum), from one sort.
    step = np.full(len(resid), np.nan)
    step[1:] = np.abs(resid[1:] - resid[:-1])
    nh = len(resid) - j0
    six, six_n = _median_count_rows(np.stack([_trailing(v, LEVEL_WINDOW, j0) for v in (resid, step, gap_c)])
                                    .reshape(3 * nh, LEVEL_WINDOW))
    level, var_now, gap_now = six[:nh], six[nh:2 * nh], six[2 * nh:]
    level_n, var_n, gap_n = six_n[:nh], six_n[nh:2 * nh], six_n[2 * nh:]
    past_level = past_stats["level"]
    level_scale = hour_scale
    if len(past_level) >= p.cold_start_hours:
        level_scale = max(hour_scale, LEVEL_STEADINESS * _mad_scale(past_level))
    level_score = level / level_scale
    l_flag = (valid & (level_n >= LEVEL_MIN_HOURS) & (np.abs(level_score) >= lk) & (np.abs(level) >= lmin)
              & (np.abs(level - offset) >= lmin) & (np.abs((level - offset) / level_scale) >= lk)
              & (~up_only | (level > 0)))

    t_flag = valid & (x >= limit) & (p90 < limit - p.threshold_headroom)

    # A capped metric cannot exceed its cap: the percentile bar stops at the cap, and the jump above
    # this hour's usual maximum is what makes touching the cap at 3 a.m. a spike and at noon not.
    # The maxima move with an adopted new level: a host that now lives higher peaks higher.
    bar = np.maximum(min(spike_q + p.spike_margin, cap),
                     peak_base + np.maximum(offset, 0.0) + max(p.spike_jump, p.spike_z * peak_scale))
    s_flag = pk >= bar                           # False where no data (NaN)
    # Inside a z-score or level-shift episode the mean is already anomalous: a spike there is a
    # maximum far above that hour's own mean, by more than the usual gap plus the jump.
    excess = base_peak[lo:d0] - base_mean[lo:d0]
    excess = excess[~np.isnan(excess)]
    if len(excess):
        usual_excess, excess_q = _quantiles(excess, (50.0, p.spike_quantile))
        excess_scale = max(_mad_scale(excess, usual_excess), p.scale_floor)
    else:
        usual_excess, excess_q, excess_scale = 0.0, cap, cap
    # The same two bars on the gap between an hour's maximum and its own mean: a burst inside the
    # hour, beyond any gap of 30 normal days, whatever level the host is at (seasonal or wandering).
    gap_bar = max(excess_q + p.spike_margin, usual_excess + max(p.spike_jump, p.spike_z * excess_scale))
    gap = pk - x
    gap[np.isnan(gap)] = -np.inf
    s_flag = s_flag | (gap >= gap_bar)
    s_inside = (gap >= gap_bar) | (s_flag & (gap >= usual_excess + p.spike_jump))

    # Variance: the median hour-to-hour change of the residual over the last LEVEL_WINDOW hours,
    # against the same statistic over the 30 days (its median): noise that grew several times over.
    past_var = past_stats["variance"] if len(past_stats["variance"]) else np.full(1, p.scale_floor)
    var_usual = max(_median(past_var), p.scale_floor)
    var_most = float(np.max(past_var))       # the largest the statistic reached in 30 normal days
    var_score = var_now / var_usual
    v_flag = (valid & (var_n >= LEVEL_MIN_HOURS) & (var_score >= p.variance_ratio * widen)
              & (var_now - var_usual >= p.variance_min_change * widen) & (var_now > VARIANCE_ABOVE_MOST * var_most))
    # The same inside the hour: the 6-hour median gap between maximum and mean (5-minute samples
    # swinging) at GAP_RATIO times its usual, beyond any 6 hours of 30 normal days.
    past_gap = past_stats["gap"] if len(past_stats["gap"]) else np.full(1, np.inf)
    gap_usual = max(_median(past_gap), p.scale_floor)
    gap_most = float(np.max(past_gap))
    g_flag = (valid & (gap_n >= LEVEL_MIN_HOURS) & (gap_now >= GAP_RATIO * widen * gap_usual)
              & (gap_now - gap_usual >= p.variance_min_change * widen) & (gap_now > VARIANCE_ABOVE_MOST * gap_most))
    # Erratic from hour to hour alone is not enough: heavy-tailed noise does that now and then, and
    # real swings show inside the hour too (its gap at least half again its usual).
    v_flag = (v_flag & (gap_now >= GAP_ALSO * gap_usual)) | g_flag

    # Stuck (computed above, before the new normal):
    run = np.sum(_trailing(flat.astype(float), STUCK_HOURS, j0), axis=1)
    st_flag = valid & (run >= STUCK_HOURS) & (normal_same < STUCK_NORMAL_SHARE)

    # A second anomaly inside an open z-score or level-shift episode: this much further out than the
    # episode's usual deviation, in hourly noise (the 30-day scale, not the hour of week's: both
    # deviations are from the same medians).
    esc_bar = np.full(len(hours), max(zk * hour_scale, min_dev))
    common = {"method": method, "seasonal_strength": round(strength, 3)}
    hour_score = np.full(len(hours), np.nan)
    with np.errstate(invalid="ignore"):
        ratios = None if not scored else np.stack([np.minimum(np.abs(z), np.abs(z_new)) / zk, np.abs(level) / np.maximum(lk * level_scale, lmin),
                           x / limit, pk / bar, np.maximum(gap, 0) / gap_bar, run / STUCK_HOURS,
                           var_score / (p.variance_ratio * widen)])
        if ratios is not None:
            hour_score = np.nanmax(np.where(np.isnan(ratios), -np.inf, ratios), axis=0)
            hour_score[~np.isfinite(hour_score)] = np.nan
    return {
        "zscore": (z_flag, z, x, med, {**common, "median": med, "scale": scale, "new_normal_offset": offset, "escalate": (esc_bar, dev)}),
        "level_shift": (l_flag, level_score, x, med, {**common, "shift": level, "scale": level_scale,
                                                          "window_hours": LEVEL_WINDOW,
                                                          "new_normal_offset": offset,
                                                          "escalate": (esc_bar, level)}),
        "threshold": (t_flag, x - limit, x, np.full(len(hours), limit),
                      {"limit": limit, "p90_30d": round(p90, 2), "headroom": p.threshold_headroom}),
        "spike": (s_flag, (pk - peak_base) / peak_scale, pk, bar,
                  {**common, "usual_max": peak_base, "p99_5_max_30d": round(spike_q, 2), "bar": bar,
                   "gap_bar": round(gap_bar, 2), "inside": s_inside}),
        "stuck": (st_flag, run.astype(float), x, med, {**common, "hours_unchanged": run,
                                                        "normally_unchanged_share": round(normal_same, 3)}),
        "variance": (v_flag, var_score, var_now, np.full(len(hours), var_usual),
                     {**common, "median_change_6h": var_now, "usual_median_change": round(var_usual, 3),
                      "most_30d": round(var_most, 3),
                      "gap_6h": gap_now, "usual_gap": round(gap_usual, 3), "gap_most_30d": round(gap_most, 3)}),
    }, hour_score
