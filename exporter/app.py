"""Wiring: the enabled collectors for a Settings, on the real host's sources."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily

from exporter.collectors import Collector, ScrapeCollector
from exporter.config import Settings


class BuildInfoCollector:
    def collect(self):  # type: ignore[no-untyped-def]
        from sru import __version__

        info = GaugeMetricFamily("sru_exporter_build_info", "sru exporter version; always 1.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info


def build_collectors(settings: Settings) -> list[Collector]:
    import psutil

    from exporter.cpu import CpuCollector
    from exporter.disk import DiskCollector
    from exporter.filesystem import FilesystemCollector
    from exporter.gpu import GpuCollector
    from exporter.memory import MemoryCollector
    from exporter.network import NetworkCollector
    from exporter.nvml import Nvml
    from exporter.procfs import UserNames
    from exporter.processes import ProcessesCollector
    from exporter.sessions import SessionsCollector
    from exporter.system import SystemCollector

    proc = settings.procfs
    psutil.PROCFS_PATH = proc  # psutil's documented knob for a host /proc mounted elsewhere
    users = UserNames()
    enabled = set(settings.collectors)
    nvml = Nvml(retry_interval=settings.gpu_retry_interval) if {"gpu", "system"} & enabled else None
    factories = {
        "cpu": lambda: CpuCollector(psutil),
        "memory": lambda: MemoryCollector(psutil),
        "disk": lambda: DiskCollector(proc, settings.disk_device_exclude),
        "filesystem": lambda: FilesystemCollector(psutil, settings.fs_types_exclude, settings.mount_points_exclude),
        "network": lambda: NetworkCollector(psutil, settings.network_device_exclude),
        "gpu": lambda: GpuCollector(nvml, settings.gpu_processes_top, proc, users),  # type: ignore[arg-type]
        "sessions": lambda: SessionsCollector(psutil),
        "processes": lambda: ProcessesCollector(proc, settings.processes_top, users),
        "system": lambda: SystemCollector(psutil, nvml, proc),
    }
    return [factories[name]() for name in settings.collectors]


def build_registry(settings: Settings) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ScrapeCollector(build_collectors(settings)))
    registry.register(BuildInfoCollector())
    ProcessCollector(registry=registry)  # the exporter's own process_* figures; registers itself
    return registry
