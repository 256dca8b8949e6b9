"""Small, allocation-light readers for the /proc files the exporter parses itself (psutil reads
several files per process where one ``stat`` read and one ``stat()`` call suffice). Every reader
takes the procfs root, so tests point it at a fake tree."""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size


@dataclass(frozen=True, slots=True)
class DiskStats:
    device: str
    reads_completed: int
    sectors_read: int
    writes_completed: int
    sectors_written: int
    io_time_ms: int
    weighted_io_time_ms: int


def read_diskstats(proc: str) -> Iterator[DiskStats]:
    with open(os.path.join(proc, "diskstats"), encoding="ascii") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 14:
                continue
            yield DiskStats(device=parts[2], reads_completed=int(parts[3]), sectors_read=int(parts[5]),
                            writes_completed=int(parts[7]), sectors_written=int(parts[9]),
                            io_time_ms=int(parts[12]), weighted_io_time_ms=int(parts[13]))


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    name: str
    uid: int
    cpu_ticks: int       # utime + stime, in clock ticks
    start_ticks: int     # start time after boot, in clock ticks: with pid, identifies the process
    rss_pages: int


def read_process(proc: str, pid: int | str) -> ProcStat | None:
    """One process's figures, or None if it exited while we looked."""
    base = os.path.join(proc, str(pid))
    try:
        with open(base + "/stat", "rb") as f:
            raw = f.read()
        uid = os.stat(base).st_uid
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may hold spaces and parentheses: it ends at the last ')'.
    head, _, tail = raw.rpartition(b")")
    name = head.partition(b"(")[2].decode("utf-8", "replace")
    fields = tail.split()
    # fields[0] is state (field 3 of stat(5)); utime is field 14, stime 15, starttime 22, rss 24.
    rss = int(fields[21])
    # stat's rss is the kernel's approximate counter (per-CPU deltas left out: on Linux 6.18 it read
    # 8 % low for 30 idle `sleep`s, ~30 pages each); statm's resident field is VmRSS, the exact sum
    # (tests/usage/test_e2e_real_users.py found it). A procfs without statm keeps stat's figure.
    try:
        with open(base + "/statm", "rb") as f:
            rss = int(f.read().split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError, ValueError):
        pass
    return ProcStat(pid=int(pid), name=name, uid=uid, cpu_ticks=int(fields[11]) + int(fields[12]),
                    start_ticks=int(fields[19]), rss_pages=rss)


def iter_processes(proc: str) -> Iterator[ProcStat]:
    for entry in os.listdir(proc):
        if entry.isdigit():
            stat = read_process(proc, entry)
            if stat is not None:
                yield stat


class ProcessTable:
    """Every process's ``ProcStat``, read once for the collectors of one scrape (processes, users):
    reading the table is nearly all their cost. A read younger than ``max_age`` seconds is handed out
    again; that can only happen to a scrape that follows another within ``max_age`` (two Prometheus
    servers scraping one exporter), which then sees the host as it was that much earlier."""

    def __init__(self, proc: str = "/proc", max_age: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._proc = proc
        self._max_age = max_age
        self._clock = clock
        self._read_at = float("-inf")
        self._table: list[ProcStat] = []

    def __call__(self) -> list[ProcStat]:
        now = self._clock()
        if now - self._read_at > self._max_age:
            self._table = list(iter_processes(self._proc))
            self._read_at = self._clock()
        return self._table


class UserNames:
    """uid → user name, cached (a lookup may hit NSS/LDAP); the numeric uid when there is no name."""

    _MAX = 4096

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, uid: int) -> str:
        name = self._cache.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            if len(self._cache) >= self._MAX:
                self._cache.clear()
            self._cache[uid] = name
        return name
