"""``filesystem`` collector: size and available space per mount point."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from exporter.registry import CollectorSpec, Option, regex, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric


log = logging.getLogger("sru.exporter.filesystem")

# node_exporter's defaults: kernel and container pseudo filesystems, and mount points under them.
DEFAULT_FS_TYPES_EXCLUDE = (r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|"
                            r"hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|"
                            r"selinuxfs|squashfs|erofs|sysfs|tracefs)$")
DEFAULT_MOUNT_POINTS_EXCLUDE = r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"


class Partition(Protocol):
    @property
    def device(self) -> str: ...

    @property
    def mountpoint(self) -> str: ...

    @property
    def fstype(self) -> str: ...


class Usage(Protocol):
    @property
    def total(self) -> int: ...

    @property
    def free(self) -> int: ...


class FilesystemSource(Protocol):
    """What the collector reads from psutil."""

    def disk_partitions(self, all: bool) -> Sequence[Partition]: ...

    def disk_usage(self, path: str) -> Usage: ...


class FilesystemCollector:
    name = "filesystem"

    def __init__(self, source: FilesystemSource, fs_types_exclude: re.Pattern[str] | None = None,
                 mount_points_exclude: re.Pattern[str] | None = None) -> None:
        self._ps = source
        self._fs_exclude = fs_types_exclude or re.compile(DEFAULT_FS_TYPES_EXCLUDE)
        self._mp_exclude = mount_points_exclude or re.compile(DEFAULT_MOUNT_POINTS_EXCLUDE)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        labels = ["device", "mountpoint", "fstype"]
        size = GaugeMetricFamily("sru_filesystem_size_bytes", "Filesystem size in bytes.", labels=labels)
        avail = GaugeMetricFamily("sru_filesystem_available_bytes",
                                  "Filesystem space available to unprivileged users, in bytes.", labels=labels)
        # A later mount over the same point hides the earlier one: keep the last, as the kernel does.
        mounts = {p.mountpoint: p for p in self._ps.disk_partitions(all=True)
                  if not self._fs_exclude.search(p.fstype) and not self._mp_exclude.search(p.mountpoint)}
        for mountpoint, part in mounts.items():
            try:
                usage = self._ps.disk_usage(mountpoint)
            except OSError as exc:  # unreadable or vanished mount: skip it, keep the others
                log.debug("statfs %s: %s", mountpoint, exc)
                continue
            lv = [part.device, mountpoint, part.fstype]
            size.add_metric(lv, usage.total)
            avail.add_metric(lv, usage.free)  # psutil's free is f_bavail: what users can still write
        yield size
        yield avail


register(CollectorSpec(
    "filesystem", "filesystem sizes and free space", options=(
        Option("collector.filesystem.fs-types-exclude", "fs_types_exclude", DEFAULT_FS_TYPES_EXCLUDE, regex,
               "regexp of filesystem types to ignore", "REGEXP"),
        Option("collector.filesystem.mount-points-exclude", "mount_points_exclude", DEFAULT_MOUNT_POINTS_EXCLUDE,
               regex, "regexp of mount points to ignore", "REGEXP")),
    build=lambda settings, host: FilesystemCollector(host.psutil, settings.fs_types_exclude,
                                                     settings.mount_points_exclude)))
