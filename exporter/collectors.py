"""Skeleton collectors: CPU seconds by mode and memory. Data source injected (psutil or a fake)."""

from __future__ import annotations

from typing import Any, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class CpuCollector:
    def __init__(self, source: Any) -> None:
        self._ps = source

    def collect(self) -> Iterator[Metric]:
        fam = CounterMetricFamily("sru_cpu_seconds", "Seconds the CPUs spent in each mode.",
                                  labels=["cpu", "mode"])
        for i, times in enumerate(self._ps.cpu_times(percpu=True)):
            for mode, value in times._asdict().items():
                fam.add_metric([str(i), mode], value)
        yield fam


class MemoryCollector:
    def __init__(self, source: Any) -> None:
        self._ps = source

    def collect(self) -> Iterator[Metric]:
        vm = self._ps.virtual_memory()
        yield GaugeMetricFamily("sru_memory_total_bytes", "Physical memory size in bytes.", value=vm.total)
        yield GaugeMetricFamily("sru_memory_available_bytes",
                                "Memory available to new processes without swapping, in bytes.",
                                value=vm.available)
