"""Synthetic lab fleets with known consolidation answers, for the planner's tests and
``bench/consolidation``. Every fleet is ``weeks`` × 168 hourly values from Monday 00:00 UTC; the
bench plans on the first three weeks and replays the fourth (:func:`split`).

* ``day_night``: pairs of a day-time host and a night-time (batch) host, each at ~45 % of its CPU
  at its peak: a pair shares one machine under 80 %, two day hosts do not. Answer: half retire.
* ``coinciding``: the same day-time hosts only: every pair peaks at ~90 %. Answer: none retire.
* ``gpu``: A100 hosts using 2, 1 and 1 (at night) of 4 GPUs fit on one A100 host; two V100 hosts
  using 2 and 1 of 2 GPUs never share; a CPU-only host's light load may go anywhere.
* ``full``: every host busy at ~60 % around the clock: nothing can go.
* ``lab``: a mixed lab (sizes, phases, weekends, a few GPU hosts, two locations) for the exact
  solver's comparison and the 500-host timing.
"""

from __future__ import annotations

import numpy as np

from optimizer.consolidate import Fleet, Host, Unit

WEEK = 168


def _hours(weeks: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(weeks * WEEK)
    return t % 24, (t // 24) % 7


def _day(hod: np.ndarray, dow: np.ndarray) -> np.ndarray:
    return ((hod >= 8) & (hod < 18) & (dow < 5)).astype(float)


def _night(hod: np.ndarray) -> np.ndarray:
    return ((hod >= 20) | (hod < 6)).astype(float)


def _series(rng: np.random.Generator, base: float, peak: float, on: np.ndarray, noise: float = 0.04) -> np.ndarray:
    x = base + (peak - base) * on
    return np.clip(x * (1 + rng.normal(0, noise, x.size)), 0, None)


def _host_unit(name: str, cores: float, ram: float, cpu_share: np.ndarray, ram_share: np.ndarray,
               gpus: np.ndarray | None = None, **kw: object) -> tuple[Host, Unit]:
    host = Host(name, cores, ram, **kw)  # type: ignore[arg-type]
    return host, Unit(name, cpu_share * cores, ram_share * ram,
                      gpus if gpus is not None else np.zeros(cpu_share.size))


def _fleet(pairs: list[tuple[Host, Unit]], hours: int) -> Fleet:
    return Fleet([h for h, _ in pairs], [u for _, u in pairs], hours)


def day_night(n_pairs: int = 4, weeks: int = 4, seed: int = 1) -> Fleet:
    rng = np.random.default_rng(seed)
    hod, dow = _hours(weeks)
    out = []
    for i in range(n_pairs):
        out.append(_host_unit(f"day-{i:02d}", 16, 64, _series(rng, 0.03, 0.45, _day(hod, dow)),
                              _series(rng, 0.05, 0.35, _day(hod, dow))))
        out.append(_host_unit(f"night-{i:02d}", 16, 64, _series(rng, 0.03, 0.45, _night(hod)),
                              _series(rng, 0.05, 0.35, _night(hod))))
    return _fleet(out, weeks * WEEK)


def coinciding(n: int = 8, weeks: int = 4, seed: int = 2) -> Fleet:
    rng = np.random.default_rng(seed)
    hod, dow = _hours(weeks)
    return _fleet([_host_unit(f"peak-{i:02d}", 16, 64, _series(rng, 0.03, 0.45, _day(hod, dow)),
                              _series(rng, 0.05, 0.45, _day(hod, dow))) for i in range(n)], weeks * WEEK)


def full(n: int = 6, weeks: int = 4, seed: int = 3) -> Fleet:
    rng = np.random.default_rng(seed)
    on = np.ones(weeks * WEEK)
    return _fleet([_host_unit(f"busy-{i:02d}", 16, 64, _series(rng, 0.6, 0.6, on), _series(rng, 0.5, 0.5, on))
                   for i in range(n)], weeks * WEEK)


def gpu(weeks: int = 4, seed: int = 4) -> Fleet:
    rng = np.random.default_rng(seed)
    hod, dow = _hours(weeks)
    day, night = _day(hod, dow), _night(hod)
    low = _series(rng, 0.05, 0.1, day)
    out = [
        _host_unit("a100-1", 32, 256, _series(rng, 0.05, 0.2, day), low, 2 * day, gpu_count=4, gpu_model="A100"),
        _host_unit("a100-2", 32, 256, _series(rng, 0.05, 0.15, day), low, 1 * day, gpu_count=4, gpu_model="A100"),
        _host_unit("a100-3", 32, 256, _series(rng, 0.05, 0.15, night), low, 1 * night, gpu_count=4, gpu_model="A100"),
        _host_unit("v100-1", 16, 128, _series(rng, 0.05, 0.2, day), low, 2 * day, gpu_count=2, gpu_model="V100"),
        _host_unit("v100-2", 16, 128, _series(rng, 0.05, 0.2, day), low, 1 * day, gpu_count=2, gpu_model="V100"),
        _host_unit("cpu-1", 8, 32, _series(rng, 0.02, 0.1, day), _series(rng, 0.1, 0.15, day)),
    ]
    return _fleet(out, weeks * WEEK)


def lab(n: int = 12, weeks: int = 4, seed: int = 5, gpu_share: float = 0.15) -> Fleet:
    """A mixed lab: 8-64 cores, RAM 4 GB per core, day, night, evening or flat users at random
    levels, weekends at 20 % of weekdays, some GPU hosts (A100 × 4 or RTX × 2), two locations."""
    rng = np.random.default_rng(seed)
    hod, dow = _hours(weeks)
    weekend = np.where(dow >= 5, 0.2, 1.0)
    shapes = {
        "day": _day(hod, dow),
        "night": _night(hod) * weekend,
        "evening": ((hod >= 16) & (hod < 23)).astype(float) * weekend,
        "flat": np.ones(hod.size),
    }
    out = []
    for i in range(n):
        cores = float(rng.choice([8, 16, 32, 64]))
        ram = cores * 4
        shape = shapes[str(rng.choice(list(shapes), p=[0.45, 0.2, 0.15, 0.2]))]
        peak = float(rng.uniform(0.05, 0.5)) if rng.random() < 0.8 else float(rng.uniform(0.5, 0.75))
        base = min(peak, float(rng.uniform(0.01, 0.08)))
        cpu = np.clip(_series(rng, base, peak, shape, 0.15), 0, 1)
        mem = np.clip(_series(rng, 0.1, min(0.7, peak + 0.1), shape, 0.05), 0, 1)
        kw: dict[str, object] = {"location": "north" if i % 2 else "south"}
        gpus = None
        if rng.random() < gpu_share:
            model, count = ("A100", 4) if rng.random() < 0.5 else ("RTX", 2)
            kw.update(gpu_count=count, gpu_model=model)
            gpus = np.round(shape * rng.integers(0, count + 1))
        out.append(_host_unit(f"lab-{i:03d}", cores, ram, cpu, mem, gpus, **kw))
    return _fleet(out, weeks * WEEK)


def split(fleet: Fleet, train_weeks: int = 3) -> tuple[Fleet, Fleet]:
    """(first ``train_weeks`` weeks, the rest) of the same hosts and units."""
    cut = train_weeks * WEEK

    def part(sl: slice, hours: int) -> Fleet:
        return Fleet(fleet.hosts, [Unit(u.host, u.cpu[sl], u.ram[sl], u.gpus[sl], u.user) for u in fleet.units],
                     hours, dict(fleet.left_out))

    return part(slice(0, cut), cut), part(slice(cut, None), fleet.hours - cut)
