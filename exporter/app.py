"""Wiring: the enabled collectors (as their modules declare them, exporter/registry.py) for a
Settings, on the real host's sources."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric

from exporter.collectors import Collector, ScrapeCollector
from exporter.config import Settings
from exporter.nvml import Nvml
from exporter.registry import collectors


class BuildInfoCollector:
    def collect(self) -> Iterator[Metric]:
        from sru import __version__

        info = GaugeMetricFamily("sru_exporter_build_info", "sru exporter version; always 1.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info


class Host:
    """What the collectors read, built once per exporter and shared between them."""

    def __init__(self, settings: Settings) -> None:
        import psutil

        from exporter.procfs import ProcessTable, UserNames

        psutil.PROCFS_PATH = settings.procfs  # psutil's documented knob for a host /proc mounted elsewhere
        self.psutil = psutil
        self.procfs = settings.procfs
        self.users = UserNames()
        self.process_table = ProcessTable(settings.procfs)  # one read per scrape for processes and users
        self._settings = settings

    @cached_property
    def nvml(self) -> Nvml:
        """One NVML session for the gpu and system collectors, opened by the first that asks."""
        return Nvml(retry_interval=self._settings.gpu_retry_interval)


def build_collectors(settings: Settings) -> list[Collector]:
    specs = {spec.name: spec for spec in collectors()}
    host = Host(settings)
    return [specs[name].build(settings, host) for name in settings.collectors]


def build_registry(settings: Settings) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ScrapeCollector(build_collectors(settings)))
    registry.register(BuildInfoCollector())
    ProcessCollector(registry=registry)  # the exporter's own process_* figures; registers itself
    return registry
