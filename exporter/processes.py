"""``processes`` collector: the top N processes by recent CPU use and by resident memory.

Recent CPU use is the CPU time a process used since the previous scrape (a process not seen then
counts all its CPU time), which ranks by what is busy now rather than by lifetime totals. The
state kept between scrapes is one integer per live process and is rebuilt every scrape, so it
cannot grow beyond the process table."""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from exporter.procfs import ProcStat, UserNames, iter_processes
from exporter.registry import CollectorSpec, Option, count, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric

DEFAULT_TOP = 10


class ProcessesCollector:
    name = "processes"

    def __init__(self, proc: str = "/proc", top: int = DEFAULT_TOP,
                 user_name: Callable[[int], str] | None = None,
                 clock_ticks: int | None = None, page_size: int | None = None,
                 table: Callable[[], Iterable[ProcStat]] | None = None) -> None:
        self._table = table or (lambda: iter_processes(proc))
        self._top = top
        self._user_name = user_name or UserNames()
        self._hz = clock_ticks or os.sysconf("SC_CLK_TCK")
        self._page = page_size or os.sysconf("SC_PAGE_SIZE")
        self._previous: dict[tuple[int, int], int] = {}

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        procs = list(self._table())
        previous = self._previous
        recent = {}
        current: dict[tuple[int, int], int] = {}
        for p in procs:
            key = (p.pid, p.start_ticks)
            current[key] = p.cpu_ticks
            recent[p.pid] = p.cpu_ticks - previous.get(key, 0)
        self._previous = current

        # Ties (typically many idle processes at 0) are broken by lifetime CPU and then pid, so the
        # chosen set, and therefore the series, stay stable from scrape to scrape.
        by_cpu = heapq.nlargest(self._top, procs, key=lambda p: (recent[p.pid], p.cpu_ticks, -p.pid))
        by_mem = heapq.nlargest(self._top, procs, key=lambda p: (p.rss_pages, -p.pid))
        chosen: dict[int, ProcStat] = {p.pid: p for p in by_cpu + by_mem}

        labels = ["pid", "name", "user"]
        cpu = CounterMetricFamily("sru_process_cpu_seconds",
                                  "User and system CPU seconds of the top processes by CPU and by memory.",
                                  labels=labels)
        rss = GaugeMetricFamily("sru_process_resident_memory_bytes",
                                "Resident memory of the top processes by CPU and by memory, in bytes.",
                                labels=labels)
        for pid in sorted(chosen):
            p = chosen[pid]
            lv = [str(pid), p.name, self._user_name(p.uid)]
            cpu.add_metric(lv, p.cpu_ticks / self._hz)
            rss.add_metric(lv, p.rss_pages * self._page)
        yield cpu
        yield rss
        yield GaugeMetricFamily("sru_processes", "Number of processes on the host.", value=len(procs))


register(CollectorSpec(
    "processes", "the top processes by CPU and by memory", options=(
        Option("collector.processes.top", "processes_top", DEFAULT_TOP, count(1, 1000),
               "expose the top N processes by CPU and the top N by memory", "N"),),
    build=lambda settings, host: ProcessesCollector(host.procfs, settings.processes_top, host.users,
                                                    table=host.process_table)))
