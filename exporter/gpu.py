"""``gpu`` collector: NVIDIA GPUs through NVML, including MIG devices and per-process memory.

Absent library, driver or GPUs yield no series at all (the families are not even announced); one
reading a GPU does not support is left out for that GPU only."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from exporter.nvml import NVML_ERROR_GPU_IS_LOST, DeviceHandle, Nvml, NvmlModule, _text, optional
from exporter.procfs import UserNames, read_process
from exporter.registry import CollectorSpec, Option, count, duration, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric

DEFAULT_PROCESSES_TOP = 5
NVML_TEMPERATURE_GPU = 0
NVML_DEVICE_MIG_ENABLE = 1

GPU_LABELS = ["index", "uuid", "model"]
MIG_LABELS = GPU_LABELS + ["mig_index", "mig_uuid", "mig_profile"]

T = TypeVar("T")


class _Read(Protocol):
    """One NVML reading, or None where the GPU does not support it or we may not see it."""

    def __call__(self, fn: Callable[[], T], /) -> T | None: ...


class _Families:
    def __init__(self) -> None:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        g, c = GaugeMetricFamily, CounterMetricFamily
        self.util = g("sru_gpu_utilization_ratio", "Fraction of the last sample period in which a kernel ran on the GPU.", labels=GPU_LABELS)
        self.mem_used = g("sru_gpu_memory_used_bytes", "GPU framebuffer memory in use, in bytes.", labels=GPU_LABELS)
        self.mem_total = g("sru_gpu_memory_total_bytes", "GPU framebuffer memory size, in bytes.", labels=GPU_LABELS)
        self.temp = g("sru_gpu_temperature_celsius", "GPU die temperature.", labels=GPU_LABELS)
        self.power = g("sru_gpu_power_watts", "GPU power draw.", labels=GPU_LABELS)
        self.power_limit = g("sru_gpu_power_limit_watts", "Enforced GPU power limit.", labels=GPU_LABELS)
        self.energy = c("sru_gpu_energy_joules", "Energy the GPU consumed since the driver was loaded.", labels=GPU_LABELS)
        self.proc_mem = g("sru_gpu_process_memory_bytes", "GPU memory used by the top processes on each GPU, in bytes.",
                          labels=["index", "uuid", "pid", "name", "user"])
        self.mig_enabled = g("sru_gpu_mig_enabled", "1 when MIG mode is enabled on the GPU.", labels=GPU_LABELS)
        self.mig_used = g("sru_gpu_mig_memory_used_bytes", "Memory in use on a MIG device, in bytes.", labels=MIG_LABELS)
        self.mig_total = g("sru_gpu_mig_memory_total_bytes", "Memory size of a MIG device, in bytes.", labels=MIG_LABELS)

    def all(self) -> list[Metric]:
        return [self.util, self.mem_used, self.mem_total, self.temp, self.power, self.power_limit, self.energy,
                self.proc_mem, self.mig_enabled, self.mig_used, self.mig_total]


class GpuCollector:
    name = "gpu"

    def __init__(self, nvml: Nvml, processes_top: int = DEFAULT_PROCESSES_TOP, proc: str = "/proc",
                 user_name: Callable[[int], str] | None = None) -> None:
        self._nvml = nvml
        self._top = processes_top
        self._proc = proc
        self._user_name = user_name or UserNames()

    def collect(self) -> Iterator[Metric]:

        nv = self._nvml.handle()
        if nv is None:
            return
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError as exc:
            self._nvml.lost(exc)
            return
        if count == 0:
            return
        f = _Families()
        for index in range(count):
            try:
                self._device(nv, f, index)
            except nv.NVMLError as exc:
                if self._nvml.lost(exc):
                    return  # NVML went away mid-scrape: report nothing rather than a partial picture
                if getattr(exc, "value", None) != NVML_ERROR_GPU_IS_LOST:
                    raise
                # A GPU fallen off the bus: skip it, report the others.
        yield from f.all()

    def _device(self, nv: NvmlModule, f: _Families, index: int) -> None:
        h = nv.nvmlDeviceGetHandleByIndex(index)
        uuid = _text(nv.nvmlDeviceGetUUID(h))
        lv = [str(index), uuid, _text(nv.nvmlDeviceGetName(h))]

        def read(fn: Callable[[], T]) -> T | None:
            return optional(nv, fn)

        mem = read(lambda: nv.nvmlDeviceGetMemoryInfo(h))
        if mem is not None:
            f.mem_used.add_metric(lv, mem.used)
            f.mem_total.add_metric(lv, mem.total)
        mig = read(lambda: nv.nvmlDeviceGetMigMode(h))
        mig_on = mig is not None and mig[0] == NVML_DEVICE_MIG_ENABLE
        if mig is not None:
            f.mig_enabled.add_metric(lv, 1.0 if mig_on else 0.0)
        # With MIG on, whole-GPU utilisation is not reported by NVML; the MIG devices carry memory.
        util = None if mig_on else read(lambda: nv.nvmlDeviceGetUtilizationRates(h))
        if util is not None:
            f.util.add_metric(lv, util.gpu / 100)
        for fam, fn, scale in ((f.temp, lambda: nv.nvmlDeviceGetTemperature(h, NVML_TEMPERATURE_GPU), 1),
                               (f.power, lambda: nv.nvmlDeviceGetPowerUsage(h), 1e-3),
                               (f.power_limit, lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h), 1e-3),
                               (f.energy, lambda: nv.nvmlDeviceGetTotalEnergyConsumption(h), 1e-3)):
            value = read(fn)
            if value is not None:
                fam.add_metric(lv, value * scale)
        if mig_on:
            self._mig(nv, f, h, lv, read)
        self._processes(nv, f, h, lv[:2], read)

    def _mig(self, nv: NvmlModule, f: _Families, h: DeviceHandle, lv: list[str], read: _Read) -> None:
        for i in range(nv.nvmlDeviceGetMaxMigDeviceCount(h)):
            try:
                m = nv.nvmlDeviceGetMigDeviceHandleByIndex(h, i)
            except nv.NVMLError as exc:
                if getattr(exc, "value", None) == nv.NVML_ERROR_NOT_FOUND:
                    continue  # an empty MIG slot
                raise
            name = _text(nv.nvmlDeviceGetName(m))
            # "NVIDIA A100-SXM4-40GB MIG 1g.5gb" → "1g.5gb"
            profile = name.rpartition(" MIG ")[2] if " MIG " in name else name
            mlv = lv + [str(i), _text(nv.nvmlDeviceGetUUID(m)), profile]
            mem = read(partial(nv.nvmlDeviceGetMemoryInfo, m))
            if mem is not None:
                f.mig_used.add_metric(mlv, mem.used)
                f.mig_total.add_metric(mlv, mem.total)

    def _processes(self, nv: NvmlModule, f: _Families, h: DeviceHandle, lv: list[str], read: _Read) -> None:
        used: dict[int, int] = {}
        # A process may appear as compute and graphics (or once per MIG instance): sum per pid.
        for fn in (nv.nvmlDeviceGetComputeRunningProcesses, nv.nvmlDeviceGetGraphicsRunningProcesses):
            for p in read(partial(fn, h)) or ():
                if p.usedGpuMemory is not None:  # None without permission to see the figure
                    used[p.pid] = used.get(p.pid, 0) + p.usedGpuMemory
        for pid, mem in heapq.nlargest(self._top, used.items(), key=lambda kv: (kv[1], -kv[0])):
            stat = read_process(self._proc, pid)
            name, user = (stat.name, self._user_name(stat.uid)) if stat else ("", "")
            f.proc_mem.add_metric(lv + [str(pid), name, user], mem)


register(CollectorSpec(
    "gpu", "NVIDIA GPUs through NVML, MIG devices, per-process GPU memory", options=(
        Option("collector.gpu.processes.top", "gpu_processes_top", DEFAULT_PROCESSES_TOP, count(0, 1000),
               "expose GPU memory of the top N processes per GPU", "N"),
        # Also the system collector's NVML session (its GPU count and models): one per exporter.
        Option("collector.gpu.retry-interval", "gpu_retry_interval", "60s", duration,
               "how often to retry NVML initialisation while it is unavailable", "DURATION")),
    build=lambda settings, host: GpuCollector(host.nvml, settings.gpu_processes_top, host.procfs, host.users)))
