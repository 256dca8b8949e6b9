"""``disk`` collector: per block device transfer, operation and busy-time counters (/proc/diskstats)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from exporter.procfs import SECTOR_BYTES, read_diskstats
from exporter.registry import CollectorSpec, Option, regex, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric

# Partitions (sda1, nvme0n1p1, mmcblk0p1), and virtual or stacked devices whose I/O is already
# counted on the physical disks below them, so that a sum over devices counts each transfer once.
DEFAULT_DEVICE_EXCLUDE = r"^(z?ram|loop|fd|sr|dm-|md)\d+$|^((h|s|v|xv)d[a-z]+|nvme\d+n\d+p|mmcblk\d+p)\d+$"


class DiskCollector:
    name = "disk"

    def __init__(self, proc: str = "/proc", device_exclude: re.Pattern[str] | None = None) -> None:
        self._proc = proc
        self._exclude = device_exclude if device_exclude is not None else re.compile(DEFAULT_DEVICE_EXCLUDE)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        labels = ["device"]
        read_bytes = CounterMetricFamily("sru_disk_read_bytes", "Bytes read from the device.", labels=labels)
        written = CounterMetricFamily("sru_disk_written_bytes", "Bytes written to the device.", labels=labels)
        reads = CounterMetricFamily("sru_disk_reads_completed", "Read operations completed.", labels=labels)
        writes = CounterMetricFamily("sru_disk_writes_completed", "Write operations completed.", labels=labels)
        io_time = CounterMetricFamily("sru_disk_io_time_seconds",
                                      "Seconds the device had I/O in flight (rate = utilisation).", labels=labels)
        weighted = CounterMetricFamily("sru_disk_io_time_weighted_seconds",
                                       "Sum of the seconds each request spent in flight (rate = average queue length).",
                                       labels=labels)
        for d in read_diskstats(self._proc):
            if self._exclude.search(d.device):
                continue
            lv = [d.device]
            read_bytes.add_metric(lv, d.sectors_read * SECTOR_BYTES)
            written.add_metric(lv, d.sectors_written * SECTOR_BYTES)
            reads.add_metric(lv, d.reads_completed)
            writes.add_metric(lv, d.writes_completed)
            io_time.add_metric(lv, d.io_time_ms / 1000)
            weighted.add_metric(lv, d.weighted_io_time_ms / 1000)
        yield from (read_bytes, written, reads, writes, io_time, weighted)


register(CollectorSpec(
    "disk", "block device IO", options=(
        Option("collector.disk.device-exclude", "disk_device_exclude", DEFAULT_DEVICE_EXCLUDE, regex,
               "regexp of block devices to ignore", "REGEXP"),),
    build=lambda settings, host: DiskCollector(host.procfs, settings.disk_device_exclude)))
