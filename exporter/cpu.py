"""``cpu`` collector: CPU seconds by mode, frequency, load averages, CPU temperature sensors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from exporter.registry import CollectorSpec, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric


# hwmon/thermal drivers that measure the CPU package or cores (not the chipset, NVMe or GPU).
CPU_SENSOR_CHIPS = frozenset({"coretemp", "k10temp", "k8temp", "zenpower", "cpu_thermal", "cpu-thermal",
                              "x86_pkg_temp", "soc_thermal", "cpu0_thermal", "via_cputemp"})


class CpuTimes(Protocol):
    def _asdict(self) -> Mapping[str, float]: ...   # mode → seconds, in psutil's field order


class CpuFrequency(Protocol):
    @property
    def current(self) -> float: ...                # MHz


class Temperature(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def current(self) -> float: ...                # °C


class CpuSource(Protocol):
    """What the collector reads from psutil (``sensors_temperatures`` too where the platform has
    it: psutil offers it on Linux and FreeBSD only)."""

    def cpu_times(self, percpu: Literal[True]) -> Sequence[CpuTimes]: ...

    def cpu_freq(self, percpu: Literal[True]) -> Sequence[CpuFrequency] | None: ...

    def getloadavg(self) -> tuple[float, float, float]: ...


class CpuCollector:
    name = "cpu"

    def __init__(self, source: CpuSource, sensor_chips: frozenset[str] = CPU_SENSOR_CHIPS) -> None:
        self._ps = source
        self._chips = sensor_chips

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        seconds = CounterMetricFamily("sru_cpu_seconds", "Seconds each logical CPU spent in each mode.",
                                      labels=["cpu", "mode"])
        for i, times in enumerate(self._ps.cpu_times(percpu=True)):
            cpu = str(i)
            for mode, value in times._asdict().items():
                seconds.add_metric([cpu, mode], value)
        yield seconds

        freq = GaugeMetricFamily("sru_cpu_frequency_hertz", "Current frequency of each logical CPU.",
                                 labels=["cpu"])
        for i, f in enumerate(self._ps.cpu_freq(percpu=True) or ()):
            if f.current:
                freq.add_metric([str(i)], f.current * 1e6)  # psutil reports MHz
        yield freq

        load1, load5, load15 = self._ps.getloadavg()
        yield GaugeMetricFamily("sru_load1", "1-minute load average.", value=load1)
        yield GaugeMetricFamily("sru_load5", "5-minute load average.", value=load5)
        yield GaugeMetricFamily("sru_load15", "15-minute load average.", value=load15)

        temp = GaugeMetricFamily("sru_cpu_temperature_celsius", "Temperature of CPU sensors.",
                                 labels=["chip", "sensor"])
        sensors: Callable[[], Mapping[str, Sequence[Temperature]]] | None = getattr(
            self._ps, "sensors_temperatures", None)
        seen: set[tuple[str, str]] = set()
        for chip, readings in (sensors() if sensors else {}).items():
            if chip not in self._chips:
                continue
            for n, reading in enumerate(readings, 1):
                key = (chip, reading.label or f"temp{n}")
                if key not in seen:  # two zones of one driver may share a label
                    seen.add(key)
                    temp.add_metric(list(key), reading.current)
        yield temp


register(CollectorSpec("cpu", "CPU seconds by mode, frequency, load averages, CPU temperatures",
                       build=lambda settings, host: CpuCollector(host.psutil)))
