"""``system`` collector: what the machine is (the ``systems`` row): an info series and counts."""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from exporter.nvml import Nvml, _text
from exporter.registry import CollectorSpec, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric


class SystemSource(Protocol):
    """What the collector reads from psutil."""

    def boot_time(self) -> float: ...

    def cpu_count(self, logical: bool) -> int | None: ...   # None where psutil cannot tell


class Uname(Protocol):
    @property
    def release(self) -> str: ...

    @property
    def machine(self) -> str: ...


class SystemCollector:
    name = "system"

    def __init__(self, source: SystemSource, nvml: Nvml | None, proc: str = "/proc",
                 os_release: Sequence[str] = ("/etc/os-release", "/usr/lib/os-release"),
                 hostname: Callable[[], str] = socket.gethostname,
                 uname: Callable[[], Uname] = platform.uname) -> None:
        self._ps = source
        self._hostname = hostname
        self._uname = uname
        self._nvml = nvml
        self._proc = proc
        self._os_release = os_release

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        models = self._gpu_models()
        uname = self._uname()
        info = GaugeMetricFamily("sru_system_info", "What the host is; always 1.",
                                 labels=["hostname", "os", "kernel", "arch", "cpu_model", "gpu_model"])
        info.add_metric([self._hostname(), self._os_name(), uname.release, uname.machine, self._cpu_model(),
                         ", ".join(dict.fromkeys(models))], 1)
        yield info
        yield GaugeMetricFamily("sru_system_boot_time_seconds", "When the host booted, in unix seconds.",
                                value=self._ps.boot_time())
        yield GaugeMetricFamily("sru_system_cpu_logical_cores", "Logical CPUs (hardware threads).",
                                value=self._ps.cpu_count(logical=True) or 0)
        physical = GaugeMetricFamily("sru_system_cpu_physical_cores", "Physical CPU cores.")
        cores = self._ps.cpu_count(logical=False)
        if cores:  # psutil cannot always tell (some VMs and ARM boards)
            physical.add_metric([], cores)
        yield physical
        yield GaugeMetricFamily("sru_system_gpus", "Number of NVIDIA GPUs NVML reports.", value=len(models))

    def _gpu_models(self) -> list[str]:
        nvml = self._nvml
        nv = nvml.handle() if nvml else None
        if nvml is None or nv is None:
            return []
        try:
            return [_text(nv.nvmlDeviceGetName(nv.nvmlDeviceGetHandleByIndex(i)))
                    for i in range(nv.nvmlDeviceGetCount())]
        except nv.NVMLError as exc:
            if not nvml.lost(exc):
                raise
            return []

    def _os_name(self) -> str:
        for path in self._os_release:
            try:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        key, _, value = line.strip().partition("=")
                        if key == "PRETTY_NAME":
                            return value.strip('"\'')
            except OSError:
                continue
        return f"{platform.system()}"

    def _cpu_model(self) -> str:
        try:
            with open(os.path.join(self._proc, "cpuinfo"), encoding="utf-8", errors="replace") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    # x86 says "model name"; ARM kernels say "Model", "Hardware" or "Processor".
                    if key.strip() in ("model name", "Model", "Hardware", "Processor", "cpu model"):
                        return value.strip()
        except OSError:
            pass
        return platform.processor()


register(CollectorSpec("system", "what the machine is: hostname, OS, kernel, CPU and GPU models, core counts",
                       build=lambda settings, host: SystemCollector(host.psutil, host.nvml, host.procfs)))
