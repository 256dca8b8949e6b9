"""``network`` collector: per-interface traffic, error and drop counters."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Literal, Protocol

from exporter.registry import CollectorSpec, Option, regex, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric


# Loopback, and the host ends of container veth pairs (one per container: unbounded, and their
# traffic also crosses a bridge or the physical interface).
DEFAULT_DEVICE_EXCLUDE = r"^(lo|veth.*)$"

_FIELDS = (
    ("receive_bytes", "bytes_recv", "Bytes received."),
    ("transmit_bytes", "bytes_sent", "Bytes sent."),
    ("receive_packets", "packets_recv", "Packets received."),
    ("transmit_packets", "packets_sent", "Packets sent."),
    ("receive_errors", "errin", "Receive errors."),
    ("transmit_errors", "errout", "Transmit errors."),
    ("receive_drops", "dropin", "Received packets dropped."),
    ("transmit_drops", "dropout", "Outgoing packets dropped."),
)


class NetworkSource(Protocol):
    """What the collector reads from psutil: per interface, a record with the attributes that
    _FIELDS names (psutil's ``snetio``)."""

    def net_io_counters(self, pernic: Literal[True]) -> Mapping[str, object]: ...


class NetworkCollector:
    name = "network"

    def __init__(self, source: NetworkSource, device_exclude: re.Pattern[str] | None = None) -> None:
        self._ps = source
        self._exclude = device_exclude if device_exclude is not None else re.compile(DEFAULT_DEVICE_EXCLUDE)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        families = [(CounterMetricFamily(f"sru_network_{name}", help_, labels=["device"]), attr)
                    for name, attr, help_ in _FIELDS]
        for device, counters in sorted(self._ps.net_io_counters(pernic=True).items()):
            if self._exclude.search(device):
                continue
            for family, attr in families:
                family.add_metric([device], getattr(counters, attr))
        for family, _ in families:
            yield family


register(CollectorSpec(
    "network", "network interface traffic and errors", options=(
        Option("collector.network.device-exclude", "network_device_exclude", DEFAULT_DEVICE_EXCLUDE, regex,
               "regexp of network interfaces to ignore", "REGEXP"),),
    build=lambda settings, host: NetworkCollector(host.psutil, settings.network_device_exclude)))
