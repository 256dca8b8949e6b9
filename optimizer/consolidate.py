"""The consolidation planner's core: which hosts could go, and where their load moves, from each
host's *time-aligned* hourly demand (CPU cores, RAM GB, GPUs busy). Pure numpy, no database: the
readers (:mod:`optimizer.plan_data`) build a :class:`Fleet`, :func:`plan` answers with a
:class:`Plan`, :func:`replay` judges a plan on other hours (the held-out week of bench/consolidation).

Why time-aligned: summing each host's p95 (what first-fit-decreasing on percentiles does) overstates
the need when peaks do not coincide (a day-time and a night-time host share one machine) and
understates it when they do (Bashir et al., EuroSys 2021). Here a receiving host's load is the sum of
the hourly series, and the headroom is checked on that sum.

The algorithm (``method="aligned"``): a unit of load (a whole host's, or a user's on a host) is an
array of hours. Hosts are tried in turn, least loaded first, and a host is retired when *every* unit
it holds (its own and any it received) finds another kept host where

* the receiving host's CPU and RAM stay at or under ``headroom`` of its capacity in all but
  ``100 - quantile`` % of the hours (p99 ≤ 80 % by default; counted, not interpolated),
* its GPUs are never oversubscribed: busy GPUs are whole devices, summed hour by hour, and go only to
  a host with the same GPU model,
* it is active (not in maintenance, retired or offline: those are left out), and in the same location
  when ``same_location`` is set.

Each unit goes to the feasible host that is busiest on average after the move (best fit keeps the
emptier hosts free for the next candidate). Pinned hosts stay. A retirement moves units already placed
on the candidate again, so a host that received load can still go if its whole load fits elsewhere.
Several orders of candidates (least loaded, smallest, then random shuffles of the least-loaded order
within ``time_budget_s``) are tried, and the plan retiring the most hosts (then the most capacity)
wins. Two baselines on the same data and constraints: :func:`plan` with ``method="ffd_p95"`` (first-
fit-decreasing on each unit's p95, sums of percentiles) and ``method="ff_mean"`` (OpenStack Watcher's
consolidation: first fit on mean usage under a 0.8 target).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

METHODS = ("aligned", "ffd_p95", "ff_mean")
RES = ("cpu", "ram")
UNAVAILABLE = {"maintenance": "in maintenance", "retired": "retired", "offline": "offline"}
GPU_BUSY_PERCENT = 5.0
STALE_TRIES = 25         # random orders in a row without a better plan end the search
MAX_TRIES = 400   # a GPU counts as busy in an hour where its use or memory peaked above this


@dataclass(frozen=True)
class Host:
    name: str
    cpu_cores: float
    ram_gb: float
    gpu_count: int = 0
    gpu_model: str | None = None
    location: str | None = None
    status: str = "active"


@dataclass(frozen=True)
class Unit:
    """A load that moves as one: a whole host's (``user`` None) or one user's on ``host``. Arrays
    have one value per hour of the fleet's window; NaN = no data (filled before planning)."""
    host: str
    cpu: Array          # cores in use, hourly mean
    ram: Array          # GB in use, hourly mean
    gpus: Array         # GPUs busy (whole numbers)
    user: str | None = None

    @property
    def name(self) -> str:
        return self.host if self.user is None else f"{self.host}/{self.user}"


@dataclass
class Fleet:
    hosts: list[Host]
    units: list[Unit]
    hours: int
    left_out: dict[str, str] = field(default_factory=dict)   # host → why it is not planned


@dataclass(frozen=True)
class Options:
    headroom: float = 0.8          # of CPU and RAM capacity, at the quantile below
    quantile: float = 99.0         # percent of a receiving host's hours that must stay under headroom
    pins: frozenset[str] = frozenset()
    same_location: bool = False
    method: str = "aligned"
    time_budget_s: float = 10.0
    target: float = 0.8            # ff_mean's capacity target (Watcher's default)
    seed: int = 1


@dataclass
class Move:
    unit: str
    source: str
    target: str
    user: str | None
    cpu_cores_p95: float
    ram_gb_p95: float
    gpus: int


@dataclass
class Receiver:
    host: str
    before: dict[str, float]    # cpu_p95, cpu_p99, ram_p95, ram_p99 (percent of capacity), gpus_peak
    after: dict[str, float]
    gpu_count: int
    units: list[str]


@dataclass
class Plan:
    method: str
    options: Options
    hours: int
    retire: list[str]
    moves: list[Move]
    receivers: list[Receiver]
    saving: dict[str, float]
    kept: list[str]
    left_out: dict[str, str]
    assignment: dict[str, str]   # unit name → host it runs on after the plan
    seconds: float
    tries: int = 1

    def as_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "method": self.method, "hours": self.hours, "seconds": round(self.seconds, 3), "tries": self.tries,
            "options": {"headroom": o.headroom, "quantile": o.quantile, "pins": sorted(o.pins),
                        "same_location": o.same_location},
            "retire": self.retire, "kept": self.kept, "left_out": self.left_out, "saving": self.saving,
            "moves": [vars(m) for m in self.moves],
            "receivers": [vars(r) for r in self.receivers],
        }


class PlanError(ValueError):
    """Options or a fleet the planner cannot work with (named in the message)."""


def check_options(o: Options, hosts: Sequence[Host] = (), left_out: Sequence[str] = ()) -> None:
    if not 0.05 <= o.headroom <= 1.0:
        raise PlanError(f"headroom must be between 0.05 and 1 (a share of capacity), not {o.headroom}")
    if not 50.0 <= o.quantile <= 100.0:
        raise PlanError(f"quantile must be between 50 and 100 (percent of hours), not {o.quantile}")
    if o.method not in METHODS:
        raise PlanError(f"method must be one of {', '.join(METHODS)}, not {o.method!r}")
    if not 0.0 <= o.time_budget_s <= 600:
        raise PlanError("time budget must be between 0 and 600 s")
    names = {h.name for h in hosts} | set(left_out)   # pinning a host that is left out anyway is fine
    unknown = sorted(p for p in o.pins if names and p not in names)
    if unknown:
        raise PlanError(f"pinned hosts not in the fleet: {', '.join(unknown[:10])}")


def gpus_busy(gpu_count: int, peak_percent: Array) -> Array:
    """Whole GPUs busy per hour from the hour's peak GPU use or memory (percent of all the host's
    GPUs): a GPU is busy above GPU_BUSY_PERCENT; NaN stays NaN."""
    busy = np.ceil(gpu_count * (peak_percent - GPU_BUSY_PERCENT) / 100.0)
    return np.where(np.isnan(peak_percent), np.nan, np.clip(busy, 0, gpu_count))


def fill_gaps(x: Array) -> Array:
    """Hours without data take the series' own p95 (a conservative stand-in); all-NaN → zeros."""
    if not np.isnan(x).any():
        return x
    ok = x[~np.isnan(x)]
    return np.where(np.isnan(x), float(np.percentile(ok, 95)) if ok.size else 0.0, x)


# -- the packing state ------------------------------------------------------------------------------

class _State:
    """Arrays of the problem: capacities and limits per host, demand per unit, load per host."""

    def __init__(self, fleet: Fleet, o: Options) -> None:
        self.hosts = fleet.hosts
        self.index = {h.name: i for i, h in enumerate(fleet.hosts)}
        H, T = len(fleet.hosts), fleet.hours
        self.T = T
        self.cap = np.array([[h.cpu_cores, h.ram_gb] for h in fleet.hosts], dtype=float).reshape(H, 2)
        self.lim = self.cap * o.headroom
        self.gcap = np.array([h.gpu_count for h in fleet.hosts], dtype=float)
        self.model = [(h.gpu_model or "").strip().lower() for h in fleet.hosts]
        self.loc = [h.location for h in fleet.hosts]
        self.units = fleet.units
        U = len(fleet.units)
        self.D = np.zeros((U, T, 2))
        self.G = np.zeros((U, T))
        for u, unit in enumerate(fleet.units):
            self.D[u, :, 0] = fill_gaps(unit.cpu)
            self.D[u, :, 1] = fill_gaps(unit.ram)
            self.G[u] = fill_gaps(unit.gpus)
        self.home = np.array([self.index[u.host] for u in fleet.units], dtype=int)
        self.allowed = math.floor((100.0 - o.quantile) / 100.0 * T + 1e-9)
        self.o = o
        # A host that is not active (if a caller passes one in) is treated as pinned: it keeps its
        # load and, below, takes none.
        self.pinned = np.array([h.name in o.pins or h.status in UNAVAILABLE for h in fleet.hosts], dtype=bool)
        self.active = np.array([h.status not in UNAVAILABLE for h in fleet.hosts], dtype=bool)
        # A unit needs GPUs of its home host's model when it ever keeps one busy.
        self.gpu_need = self.G.max(axis=1) > 0 if U else np.zeros(0, bool)
        own = np.zeros((H, T, 2))
        np.add.at(own, self.home, self.D)
        # A host already above headroom (on its own) keeps its load but takes no more.
        self.can_receive = np.array([
            bool(self.active[k]) and bool((self.exceed(own[k][None], k)[0] <= self.allowed).all())
            for k in range(H)], dtype=bool)
        self.size = np.zeros(U)
        if U:
            total = self.cap.sum(axis=0)
            total[total == 0] = 1
            self.size = (np.percentile(self.D, 95, axis=1) / total).sum(axis=1)
        # Per unit: where it may go at all, and the statistics of _place's cheap bounds.
        self.compat = np.zeros((U, H), dtype=bool)
        everyone = np.arange(H)
        for u in range(U):
            self.compat[u] = _compatible(self, u, everyone)
        self.dmean = self.D.mean(axis=1) if U else np.zeros((0, 2))
        self.dmin = self.D.min(axis=1) if U and T else np.zeros((U, 2))
        i = T - 1 - self.allowed
        self.dkth = (np.partition(self.D, i, axis=1)[:, i] if i >= 0 else self.D.max(axis=1)) if U and T \
            else np.zeros((U, 2))

    def exceed(self, load: Array, k: int | npt.NDArray[np.int_]) -> npt.NDArray[np.int_]:
        """Hours above the limit per resource: ``load`` (n, T, 2) on hosts ``k`` (n,)."""
        lim = self.lim[np.atleast_1d(k)]
        hours: npt.NDArray[np.int_] = (load > lim[:, None, :]).sum(axis=1)  # numpy types sum(axis=) as Any
        return hours


def _fresh_load(s: _State, assign: npt.NDArray[np.int_]) -> tuple[Array, Array]:
    L = np.zeros((len(s.hosts), s.T, 2))
    GL = np.zeros((len(s.hosts), s.T))
    np.add.at(L, assign, s.D)
    np.add.at(GL, assign, s.G)
    return L, GL


def _compatible(s: _State, u: int, cands: npt.NDArray[np.int_]) -> npt.NDArray[np.bool_]:
    ok = s.can_receive[cands].copy()
    h = s.home[u]
    if s.o.same_location:
        ok &= np.array([s.loc[c] == s.loc[h] for c in cands], dtype=bool)
    if s.gpu_need[u]:
        ok &= np.array([s.model[c] == s.model[h] and s.model[h] != "" for c in cands], dtype=bool)
    return ok


class _Loads:
    """The load on each host (hourly, per resource) with the few statistics the placement's cheap
    tests read: the mean, the minimum and the (allowed + 1)-th largest hour, kept up to date."""

    def __init__(self, s: _State, assign: npt.NDArray[np.int_]) -> None:
        self.s = s
        self.L, self.GL = _fresh_load(s, assign)
        H = len(s.hosts)
        self.mean = np.zeros((H, 2))
        self.min = np.zeros((H, 2))
        self.kth = np.zeros((H, 2))
        for k in range(H):
            self._stats(k)

    def _stats(self, k: int) -> None:
        x = self.L[k]
        self.mean[k] = x.mean(axis=0)
        self.min[k] = x.min(axis=0)
        i = self.s.T - 1 - self.s.allowed
        self.kth[k] = np.partition(x, i, axis=0)[i] if i >= 0 else x.max(axis=0)

    def add(self, k: int, u: int, sign: float = 1.0) -> None:
        self.L[k] += sign * self.s.D[u]
        self.GL[k] += sign * self.s.G[u]
        self._stats(k)

    def clear(self, k: int) -> None:
        self.L[k] = 0
        self.GL[k] = 0
        self._stats(k)


CHUNK = 32   # candidates checked hour by hour at a time, busiest first


def _place(s: _State, u: int, kept: npt.NDArray[np.bool_], loads: _Loads) -> int:
    """Best-fit target among kept hosts for unit ``u`` under the time-aligned checks, or -1: the
    busiest host (mean load after the move over its limit) on which the unit fits hour by hour.
    Cheap bounds first: a host fails when its own (allowed + 1)-th largest hour plus the unit's
    smallest hour, or the other way round, is already over the limit; the exact hourly check then
    runs on a few candidates at a time, busiest first, and stops at the first chunk that has one."""
    cands = np.flatnonzero(kept & s.compat[u])
    if cands.size == 0:
        return -1
    lim = s.lim[cands]
    maybe = ((loads.kth[cands] + s.dmin[u] <= lim) & (loads.min[cands] + s.dkth[u] <= lim)).all(axis=1)
    cands = cands[maybe]
    if cands.size == 0:
        return -1
    fill = ((loads.mean[cands] + s.dmean[u]) / np.maximum(s.lim[cands], 1e-9)).max(axis=1)
    cands = cands[np.argsort(-fill, kind="stable")]
    for i in range(0, cands.size, CHUNK):
        c = cands[i:i + CHUNK]
        ok = (s.exceed(loads.L[c] + s.D[u], c) <= s.allowed).all(axis=1)
        if s.gpu_need[u]:
            ok &= ((loads.GL[c] + s.G[u]) <= s.gcap[c][:, None]).all(axis=1)
        if ok.any():
            return int(c[int(np.argmax(ok))])   # the first that fits is the busiest of them
    return -1


def _empty_hosts(s: _State, order: Sequence[int], deadline: float) -> npt.NDArray[np.int_]:
    """Try to retire the hosts in ``order``: all their units must fit elsewhere; else undo."""
    assign = s.home.copy()
    loads = _Loads(s, assign)
    kept = np.ones(len(s.hosts), dtype=bool)
    for k in order:
        if time.monotonic() > deadline or not kept[k] or s.pinned[k]:
            continue
        on_k = np.flatnonzero(assign == k)
        on_k = on_k[np.argsort(-s.size[on_k], kind="stable")]
        kept[k] = False
        done: list[tuple[int, int]] = []
        for uu in on_k:
            u = int(uu)
            t = _place(s, u, kept, loads)
            if t < 0:
                break
            loads.add(t, u)
            done.append((u, t))
        else:
            loads.clear(k)
            for ud, t in done:
                assign[ud] = t
            continue
        for ud, t in done:   # undo: the host stays
            loads.add(t, ud, -1.0)
        kept[k] = True
    return assign


def _score(s: _State, assign: npt.NDArray[np.int_]) -> tuple[int, float]:
    kept = np.zeros(len(s.hosts), dtype=bool)
    kept[assign] = True
    total = s.cap.sum(axis=0)
    total[total == 0] = 1
    return int((~kept).sum()), float((s.cap[~kept] / total).sum())


def _aligned(s: _State, deadline: float) -> tuple[npt.NDArray[np.int_], int]:
    H = len(s.hosts)
    if H == 0:
        return s.home.copy(), 0
    L0, _ = _fresh_load(s, s.home)
    total = s.cap.sum(axis=0)
    total[total == 0] = 1
    load = (np.percentile(L0, 95, axis=1) / total).sum(axis=1)
    capn = (s.cap / total).sum(axis=1)
    orders = [np.lexsort((capn, load)), np.lexsort((load, capn))]
    rng = np.random.default_rng(s.o.seed)
    best = s.home.copy()
    best_score = _score(s, best)
    tries = stale = 0
    while stale < STALE_TRIES and tries < MAX_TRIES:
        if orders:   # the two deterministic orders always run to the end
            assign = _empty_hosts(s, [int(k) for k in orders.pop(0)], math.inf)
        elif time.monotonic() < deadline:
            # The least-loaded order, shuffled locally: neighbours swap places by chance.
            noise = load + rng.normal(0, max(float(np.std(load)), 1e-9) * 0.5, H)
            assign = _empty_hosts(s, [int(k) for k in np.lexsort((capn, noise))], deadline)
        else:
            break
        tries += 1
        sc = _score(s, assign)
        if sc > best_score:
            best, best_score, stale = assign, sc, 0
        elif tries > 2:
            stale += 1
    return best, tries


def _percentile_fit(s: _State, stat: str) -> Array:
    """Per unit (U, 2) size a baseline packs by: p95 or mean of the hourly demand."""
    if s.D.shape[1] == 0:   # no hour in the window (a fleet with no history yet): nothing to size
        return np.zeros((s.D.shape[0], s.D.shape[2]))
    return np.percentile(s.D, 95, axis=1) if stat == "p95" else s.D.mean(axis=1)


def _ffd_p95(s: _State) -> npt.NDArray[np.int_]:
    """First-fit-decreasing on percentiles: units by p95 size, largest first, into the first open
    host (largest capacity first) where the *sums of p95s* stay under headroom; a unit that fits
    nowhere opens its own host."""
    size = _percentile_fit(s, "p95")
    gneed = s.G.max(axis=1) if len(s.units) else np.zeros(0)
    H = len(s.hosts)
    used = np.zeros((H, 2))
    gused = np.zeros(H)
    opened = s.pinned.copy()
    assign = s.home.copy()
    for u in np.flatnonzero(s.pinned[s.home]):
        used[s.home[u]] += size[u]
        gused[s.home[u]] += gneed[u]
    order = [u for u in np.argsort(-s.size, kind="stable") if not s.pinned[s.home[u]]]
    bins = sorted(range(H), key=lambda k: -(s.cap[k] / np.maximum(s.cap.sum(axis=0), 1)).sum())
    for u in order:
        target = -1
        for k in bins:
            if not opened[k] or not s.compat[u, k]:
                continue
            if (used[k] + size[u] <= s.lim[k]).all() and gused[k] + gneed[u] <= s.gcap[k]:
                target = k
                break
        if target < 0:
            target = int(s.home[u])
            opened[target] = True
        assign[u] = target
        used[target] += size[u]
        gused[target] += gneed[u]
    return assign


def _ff_mean(s: _State) -> npt.NDArray[np.int_]:
    """OpenStack Watcher's workload consolidation: empty the least-loaded hosts first, each unit
    first-fit onto the most loaded host whose summed *mean* usage stays under ``target``."""
    size = _percentile_fit(s, "mean")
    gneed = s.G.max(axis=1) if len(s.units) else np.zeros(0)
    H = len(s.hosts)
    used = np.zeros((H, 2))
    gused = np.zeros(H)
    np.add.at(used, s.home, size)
    np.add.at(gused, s.home, gneed)
    lim = s.cap * s.o.target
    kept = np.ones(H, dtype=bool)
    assign = s.home.copy()
    rel = (used / np.maximum(s.cap, 1e-9)).max(axis=1)
    for k in np.argsort(rel, kind="stable"):
        if s.pinned[k]:
            continue
        units = np.flatnonzero(assign == k)
        kept[k] = False
        trial = used.copy()
        gtrial = gused.copy()
        moves = []
        for u in units:
            cands = [c for c in np.argsort(-(trial / np.maximum(s.cap, 1e-9)).max(axis=1), kind="stable")
                     if kept[c] and s.compat[u, c]]
            t = next((c for c in cands if (trial[c] + size[u] <= lim[c]).all()
                      and gtrial[c] + gneed[u] <= s.gcap[c]), -1)
            if t < 0:
                break
            trial[t] += size[u]
            gtrial[t] += gneed[u]
            moves.append((u, t))
        else:
            used, gused = trial, gtrial
            used[k] = 0
            gused[k] = 0
            for u, t in moves:
                assign[u] = t
            continue
        kept[k] = True
    return assign


def plan(fleet: Fleet, options: Options | None = None, *, clock: Any = time.monotonic) -> Plan:
    """The plan for ``fleet`` under ``options`` (see the module's docstring)."""
    o = options or Options()
    check_options(o, fleet.hosts, list(fleet.left_out))
    started = clock()
    s = _State(fleet, o)
    tries = 1
    if o.method == "aligned":
        assign, tries = _aligned(s, started + o.time_budget_s)
    elif o.method == "ffd_p95":
        assign = _ffd_p95(s)
    else:
        assign = _ff_mean(s)
    return _describe(s, fleet, o, assign, clock() - started, tries)


def _pct(x: Array, q: float) -> float:
    return float(np.percentile(x, q, method="inverted_cdf")) if x.size else 0.0


def _stats(s: _State, load: Array, gl: Array, k: int) -> dict[str, float]:
    cap = np.maximum(s.cap[k], 1e-9)
    return {"cpu_p95": round(100 * _pct(load[:, 0], 95) / cap[0], 1),
            "cpu_p99": round(100 * _pct(load[:, 0], 99) / cap[0], 1),
            "ram_p95": round(100 * _pct(load[:, 1], 95) / cap[1], 1),
            "ram_p99": round(100 * _pct(load[:, 1], 99) / cap[1], 1),
            "gpus_peak": int(gl.max()) if gl.size else 0}


def _describe(s: _State, fleet: Fleet, o: Options, assign: npt.NDArray[np.int_], seconds: float,
              tries: int) -> Plan:
    L0, G0 = _fresh_load(s, s.home)
    L, GL = _fresh_load(s, assign)
    kept = np.zeros(len(s.hosts), dtype=bool)
    kept[assign] = True
    retire = [h.name for k, h in enumerate(s.hosts) if not kept[k]]
    moves = []
    for u, unit in enumerate(s.units):
        if assign[u] != s.home[u]:
            moves.append(Move(unit.name, unit.host, s.hosts[assign[u]].name, unit.user,
                              round(_pct(s.D[u, :, 0], 95), 2), round(_pct(s.D[u, :, 1], 95), 2),
                              int(s.G[u].max()) if s.T else 0))
    receivers = []
    for k in sorted({int(assign[u]) for u in range(len(s.units)) if assign[u] != s.home[u]}):
        receivers.append(Receiver(s.hosts[k].name, _stats(s, L0[k], G0[k], k), _stats(s, L[k], GL[k], k),
                                  int(s.gcap[k]), [s.units[u].name for u in np.flatnonzero(assign == k)
                                                   if s.home[u] != k]))
    gone = ~kept
    saving = {"hosts": int(gone.sum()), "cpu_cores": float(s.cap[gone, 0].sum()),
              "ram_gb": round(float(s.cap[gone, 1].sum()), 1), "gpus": int(s.gcap[gone].sum())}
    return Plan(o.method, o, s.T, retire, moves, receivers, saving,
                [h.name for k, h in enumerate(s.hosts) if kept[k]], dict(fleet.left_out),
                {unit.name: s.hosts[assign[u]].name for u, unit in enumerate(s.units)}, seconds, tries)


# -- judging a plan on other hours -------------------------------------------------------------------

@dataclass
class Replay:
    host_hours: int            # kept hosts × hours
    hot_host_hours: int        # of them above ``hot`` of CPU or RAM capacity
    hot_share: float
    gpu_oversubscribed_hours: int
    receivers_hot_share: float  # the same share over receiving hosts only
    per_host: dict[str, dict[str, float]]


def replay(fleet: Fleet, assignment: dict[str, str], hot: float = 0.9) -> Replay:
    """Put each unit of ``fleet`` (other hours than the plan saw, same units) where ``assignment``
    says and count the hours each kept host runs above ``hot`` of its CPU or RAM and GPU hours
    oversubscribed. Units the assignment does not name stay home."""
    s = _State(fleet, Options(pins=frozenset()))
    assign = np.array([s.index[assignment.get(u.name, u.host)] for u in fleet.units], dtype=int)
    L, GL = _fresh_load(s, assign)
    kept = sorted({int(k) for k in assign})
    receivers = sorted({int(assign[u]) for u in range(len(assign)) if assign[u] != s.home[u]})
    hot_h = {k: int(((L[k] > s.cap[k] * hot).any(axis=1)).sum()) for k in kept}
    over_g = sum(int((GL[k] > s.gcap[k]).sum()) for k in kept)
    n = len(kept) * s.T
    rn = len(receivers) * s.T
    return Replay(n, sum(hot_h.values()), sum(hot_h.values()) / n if n else 0.0, over_g,
                  sum(hot_h[k] for k in receivers) / rn if rn else 0.0,
                  {s.hosts[k].name: {**_stats(s, L[k], GL[k], k), "hot_hours": hot_h[k]} for k in kept})
