"""``users`` collector: who uses the host. Per-user totals over every process (CPU seconds as a
counter, resident memory, process count) and, per user on each NVIDIA GPU, the GPU memory held and
the GPU utilisation of the user's processes (NVML's per-process samples, where the driver gives them).

Accounts. A process belongs to the login name of its real uid (the owner of ``/proc/<pid>``), from
the host's passwd (NSS, so LDAP users too); a uid without a name is its number. Accounts below the
host's ``UID_MIN`` (login.defs(5), 1000 by default) and ``nobody`` are one account, ``system``,
unless ``--no-collector.users.group-system``. At most ``--collector.users.top`` accounts are named
per host: the most active, the rest are summed into ``other``, so the per-user values always add up
to the host's. Activity is each account's share of the host (CPU cores in use / logical CPUs +
resident memory / RAM + GPU memory / GPU memory), smoothed with a 2-minute time constant so the
named set does not flap between scrapes.

The CPU counter. Each scrape reads every process's CPU time and adds to its account what the
process used since the previous scrape (all of it for a process not seen before), keyed by pid and
start time so a reused pid is a new process. An exited process keeps what was already counted: the
counter never goes down. What is lost is the CPU a process used between its last scrape and its
exit, so processes that live entirely between two scrapes (a compiler run of ``make``) are not
counted at all: see METRICS.md. The counter of a label grows only by what was attributed to that
label: a user who moves between being named and ``other`` does not carry their history along, so
neither series jumps.
"""

from __future__ import annotations

import heapq
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from exporter.nvml import NVML_ERROR_GPU_IS_LOST, DeviceHandle, Nvml, NvmlModule, _text, optional
from exporter.procfs import ProcStat, UserNames, iter_processes
from exporter.registry import CollectorSpec, Option, boolean, count, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric

DEFAULT_TOP = 20
DEFAULT_UID_MIN = 1000                 # login.defs(5)'s default
LOGIN_DEFS = "/etc/login.defs"
SYSTEM = "system"
OTHER = "other"
NOBODY_UID = 65534                     # the kernel's overflow uid: a daemon's account, never a person's
SCORE_TIME_CONSTANT_S = 120.0          # smoothing of the activity that picks the named accounts
LABEL_RETENTION_S = 3600.0             # a label's counter is forgotten after an hour unseen

# An account: a uid, or SYSTEM (the grouped system uids), or OTHER (GPU memory of a pid not in /proc).
Account = int | str


class ProcessSource(Protocol):
    """What the collector reads about the host's processes (``Procfs`` below; a fake in the tests)."""

    def processes(self) -> Iterable[ProcStat]: ...

    def memory_total_bytes(self) -> int: ...


class Procfs:
    """The real source: every ``/proc/<pid>/stat`` (one read and one ``stat()`` per process), through
    the table the processes collector reads in the same scrape when given (``Host.process_table``)."""

    def __init__(self, proc: str = "/proc", table: Callable[[], Iterable[ProcStat]] | None = None) -> None:
        self._proc = proc
        self._table = table or (lambda: iter_processes(proc))

    def processes(self) -> Iterable[ProcStat]:
        return self._table()

    def memory_total_bytes(self) -> int:
        with open(os.path.join(self._proc, "meminfo"), encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
        return 0


def read_uid_min(path: str = LOGIN_DEFS) -> int:
    """``UID_MIN`` of login.defs(5), as shadow's tools read it (a C integer: 1000, 0x3e8); the
    default 1000 when the file or the key is missing or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "UID_MIN":
                    try:
                        return int(parts[1], 0)
                    except ValueError:
                        return DEFAULT_UID_MIN
    except OSError:
        pass
    return DEFAULT_UID_MIN


@dataclass(slots=True)
class _Usage:
    ticks: int = 0                     # CPU ticks used since the previous scrape
    rss_pages: int = 0
    processes: int = 0
    gpu_bytes: int = 0                 # over all GPUs: for the activity score


@dataclass(slots=True)
class _GpuUse:
    index: str
    uuid: str
    total_bytes: int
    per_process_utilization: bool      # False where the driver gives no per-process samples
    memory: dict[Account, int] = field(default_factory=lambda: defaultdict(int))
    utilization: dict[Account, float] = field(default_factory=lambda: defaultdict(float))   # percent


class UsersCollector:
    name = "users"

    def __init__(self, source: ProcessSource, nvml: Nvml | None = None, top: int = DEFAULT_TOP,
                 uid_min: int = DEFAULT_UID_MIN, group_system: bool = True,
                 user_name: Callable[[int], str] | None = None, clock: Callable[[], float] = time.monotonic,
                 clock_ticks: int | None = None, page_size: int | None = None, cpus: int | None = None) -> None:
        self._source = source
        self._nvml = nvml
        self._top = top
        self._uid_min = uid_min
        self._group_system = group_system
        self._user_name = user_name or UserNames()
        self._clock = clock
        self._hz = clock_ticks or os.sysconf("SC_CLK_TCK")
        self._page = page_size or os.sysconf("SC_PAGE_SIZE")
        self._cpus = cpus or os.cpu_count() or 1
        # State between scrapes, each bounded: the live processes' CPU ticks at the previous scrape
        # (rebuilt every scrape), the CPU ticks attributed to each label (the exposed counters; a
        # label unseen for an hour is dropped), the accounts' smoothed activity (dropped once ~0),
        # and the newest per-process utilisation sample seen on each GPU.
        self._seen: dict[tuple[int, int], int] = {}
        self._ticks: dict[str, int] = {}
        self._label_seen_at: dict[str, float] = {}
        self._activity: dict[Account, float] = {}
        self._last_scrape: float | None = None
        self._util_seen: dict[str, int] = {}

    def account(self, uid: int) -> Account:
        if self._group_system and (uid < self._uid_min or uid == NOBODY_UID):
            return SYSTEM
        return uid

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = self._clock()
        elapsed = None if self._last_scrape is None else max(now - self._last_scrape, 1e-3)
        self._last_scrape = now

        usage: dict[Account, _Usage] = defaultdict(_Usage)
        owner: dict[int, Account] = {}
        seen: dict[tuple[int, int], int] = {}
        previous = self._seen
        for p in self._source.processes():
            key = (p.pid, p.start_ticks)
            before = previous.get(key, 0)  # a process not seen before: all its CPU time is new
            seen[key] = max(p.cpu_ticks, before)
            acct = self.account(p.uid)
            u = usage[acct]
            u.ticks += max(p.cpu_ticks - before, 0)
            u.rss_pages += p.rss_pages
            u.processes += 1
            owner[p.pid] = acct
        self._seen = seen

        gpus = self._gpus(owner)
        for g in gpus:
            for acct, used in g.memory.items():
                usage[acct].gpu_bytes += used

        label = self._labels(usage, gpus, elapsed, now)

        cpu = CounterMetricFamily("sru_user_cpu_seconds",
                                  "User and system CPU seconds of the user's processes, counted while the exporter runs.",
                                  labels=["user"])
        rss = GaugeMetricFamily("sru_user_resident_memory_bytes",
                                "Resident memory of the user's processes (shared pages counted in each), in bytes.",
                                labels=["user"])
        nproc = GaugeMetricFamily("sru_user_processes", "Number of the user's processes.", labels=["user"])
        by_label: dict[str, _Usage] = defaultdict(_Usage)
        for acct, u in usage.items():
            if u.processes:
                t = by_label[label[acct]]
                t.ticks += u.ticks
                t.rss_pages += u.rss_pages
                t.processes += u.processes
        for name in sorted(by_label):
            t = by_label[name]
            self._ticks[name] = self._ticks.get(name, 0) + t.ticks
            self._label_seen_at[name] = now
            cpu.add_metric([name], self._ticks[name] / self._hz)
            rss.add_metric([name], t.rss_pages * self._page)
            nproc.add_metric([name], t.processes)
        for name, at in list(self._label_seen_at.items()):
            if now - at > LABEL_RETENTION_S:
                del self._label_seen_at[name]
                self._ticks.pop(name, None)
        yield cpu
        yield rss
        yield nproc
        if gpus:
            yield from self._gpu_families(gpus, label)

    def _labels(self, usage: dict[Account, _Usage], gpus: list[_GpuUse], elapsed: float | None,
                now: float) -> dict[Account, str]:
        """Each account's label this scrape: ``system``, its name if among the most active, else ``other``."""
        memory = self._source.memory_total_bytes() or 1
        gpu_memory = sum(g.total_bytes for g in gpus) or 1
        # The first scrape has no recent CPU figure (only lifetime totals): memory decides then.
        alpha = 1.0 if elapsed is None else 1.0 - math.exp(-elapsed / SCORE_TIME_CONSTANT_S)
        activity = {acct: score * (1.0 - alpha) for acct, score in self._activity.items()}
        for acct, u in usage.items():
            cores = 0.0 if elapsed is None else u.ticks / self._hz / elapsed
            share = cores / self._cpus + u.rss_pages * self._page / memory + u.gpu_bytes / gpu_memory
            activity[acct] = activity.get(acct, 0.0) + alpha * share
        self._activity = {acct: score for acct, score in activity.items() if score > 1e-9 or acct in usage}
        named = {acct for acct in heapq.nlargest(
            self._top, (a for a in usage if isinstance(a, int)),
            key=lambda a: (activity[a], -a))}  # ties: the lower uid, so the choice is stable
        return {acct: acct if isinstance(acct, str) else self._user_name(acct) if acct in named else OTHER
                for acct in usage}

    # --- GPUs --------------------------------------------------------------------------------------

    def _gpus(self, owner: dict[int, Account]) -> list[_GpuUse]:
        nv = self._nvml.handle() if self._nvml is not None else None
        if nv is None or self._nvml is None:
            return []
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError as exc:
            self._nvml.lost(exc)
            return []
        gpus = []
        for index in range(count):
            try:
                gpus.append(self._device(nv, index, owner))
            except nv.NVMLError as exc:
                if self._nvml.lost(exc):
                    return []  # NVML went away mid-scrape: no GPU figures rather than some
                if getattr(exc, "value", None) != NVML_ERROR_GPU_IS_LOST:
                    raise
        return gpus

    def _device(self, nv: NvmlModule, index: int, owner: dict[int, Account]) -> _GpuUse:
        h = nv.nvmlDeviceGetHandleByIndex(index)
        uuid = _text(nv.nvmlDeviceGetUUID(h))
        mem = optional(nv, lambda: nv.nvmlDeviceGetMemoryInfo(h))
        samples = self._samples(nv, h, uuid)
        g = _GpuUse(str(index), uuid, mem.total if mem is not None else 0, samples is not None)
        # A process may be listed as compute and as graphics: its memory is summed, it counts once.
        on_gpu: set[int] = set()
        for fn in (nv.nvmlDeviceGetComputeRunningProcesses, nv.nvmlDeviceGetGraphicsRunningProcesses):
            for p in optional(nv, partial(fn, h)) or ():
                on_gpu.add(p.pid)
                # None: not allowed to see the figure; the process still holds the GPU, amount unknown.
                g.memory[owner.get(p.pid, OTHER)] += p.usedGpuMemory or 0
        if samples is not None:
            for pid in on_gpu:
                g.utilization[owner.get(pid, OTHER)] += 0.0  # holding memory, no sample: idle
            for pid, util in samples.items():
                g.utilization[owner.get(pid, OTHER)] += util
        return g

    def _samples(self, nv: NvmlModule, h: DeviceHandle, uuid: str) -> dict[int, float] | None:
        """Each pid's mean SM utilisation (percent) over the samples newer than the previous scrape's;
        None where the device gives no per-process samples. The driver keeps samples only of periods
        in which the process ran something, so a process without a newer sample was idle."""
        since = self._util_seen.get(uuid, 0)
        try:
            raw = nv.nvmlDeviceGetProcessUtilization(h, since)
        except nv.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code in (nv.NVML_ERROR_NOT_FOUND, 0):  # 0: pynvml's way of saying "no samples"
                return {}
            if code in (nv.NVML_ERROR_NOT_SUPPORTED, nv.NVML_ERROR_NO_PERMISSION):
                return None
            raise
        sums: dict[int, list[float]] = {}
        newest = since
        for s in raw:
            if s.timeStamp > since:
                acc = sums.setdefault(s.pid, [0.0, 0.0])
                acc[0] += s.smUtil
                acc[1] += 1
                newest = max(newest, s.timeStamp)
        self._util_seen[uuid] = newest
        return {pid: total / n for pid, (total, n) in sums.items()}

    def _gpu_families(self, gpus: list[_GpuUse], label: dict[Account, str]) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        labels = ["index", "uuid", "user"]
        memory = GaugeMetricFamily("sru_user_gpu_memory_bytes",
                                   "GPU memory held by the user's processes on each GPU, in bytes.", labels=labels)
        util = GaugeMetricFamily("sru_user_gpu_utilization_ratio",
                                 "Fraction of the time a kernel of the user's processes ran on the GPU, "
                                 "from NVML's per-process samples since the previous scrape.", labels=labels)
        for g in gpus:
            mem_by: dict[str, int] = defaultdict(int)
            util_by: dict[str, float] = defaultdict(float)
            for acct, used in g.memory.items():
                mem_by[label.get(acct, OTHER)] += used
            for acct, pct in g.utilization.items():
                util_by[label.get(acct, OTHER)] += pct
            for name in sorted(mem_by.keys() | util_by.keys()):
                memory.add_metric([g.index, g.uuid, name], mem_by.get(name, 0))
                if g.per_process_utilization:
                    # Concurrent kernels (MPS) can add up past the whole GPU: one GPU is the most.
                    util.add_metric([g.index, g.uuid, name], min(util_by.get(name, 0.0), 100.0) / 100)
        yield memory
        yield util


def _uid_min(value: Any, where: str) -> int | None:
    """``auto`` (None: the host's login.defs) or a uid."""
    if value == "auto":
        return None
    return count(0, 2**32 - 1)(value, where)


register(CollectorSpec(
    "users", "per-user CPU, memory, processes and GPU use over every process", options=(
        Option("collector.users.top", "users_top", DEFAULT_TOP, count(1, 1000),
               "name the N most active users per host; the others are summed as user=\"other\"", "N"),
        Option("collector.users.group-system", "users_group_system", True, boolean,
               "sum the accounts below UID_MIN (and nobody) as user=\"system\""),
        Option("collector.users.uid-min", "users_uid_min", "auto", _uid_min,
               f"lowest uid of a person's account; auto reads UID_MIN from {LOGIN_DEFS} "
               f"({DEFAULT_UID_MIN} without it)", "UID|auto")),
    build=lambda settings, host: UsersCollector(
        Procfs(host.procfs, host.process_table), host.nvml, settings.users_top,
        read_uid_min() if settings.users_uid_min is None else settings.users_uid_min,
        settings.users_group_system, host.users)))
