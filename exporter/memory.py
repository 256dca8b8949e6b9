"""``memory`` collector: physical memory and swap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from exporter.registry import CollectorSpec, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric


class VirtualMemory(Protocol):
    @property
    def total(self) -> int: ...

    @property
    def available(self) -> int: ...

    @property
    def used(self) -> int: ...


class Swap(Protocol):
    @property
    def total(self) -> int: ...

    @property
    def used(self) -> int: ...

    @property
    def sin(self) -> int: ...

    @property
    def sout(self) -> int: ...


class MemorySource(Protocol):
    """What the collector reads from psutil."""

    def virtual_memory(self) -> VirtualMemory: ...

    def swap_memory(self) -> Swap: ...


class MemoryCollector:
    name = "memory"

    def __init__(self, source: MemorySource) -> None:
        self._ps = source

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        vm = self._ps.virtual_memory()
        yield GaugeMetricFamily("sru_memory_total_bytes", "Physical memory size in bytes.", value=vm.total)
        yield GaugeMetricFamily("sru_memory_available_bytes",
                                "Memory available to new processes without swapping, in bytes.",
                                value=vm.available)
        yield GaugeMetricFamily("sru_memory_used_bytes",
                                "Memory in use as free(1) reports it (total - free - buffers - cache), in bytes.",
                                value=vm.used)
        sw = self._ps.swap_memory()
        yield GaugeMetricFamily("sru_swap_total_bytes", "Swap space size in bytes.", value=sw.total)
        yield GaugeMetricFamily("sru_swap_used_bytes", "Swap space in use in bytes.", value=sw.used)
        yield CounterMetricFamily("sru_swap_in_bytes", "Bytes swapped in from disk since boot.", value=sw.sin)
        yield CounterMetricFamily("sru_swap_out_bytes", "Bytes swapped out to disk since boot.", value=sw.sout)


register(CollectorSpec("memory", "physical memory and swap",
                       build=lambda settings, host: MemoryCollector(host.psutil)))
