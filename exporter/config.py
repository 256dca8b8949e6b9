"""Exporter settings: node_exporter-style flags and a YAML file whose keys are the same names.

Precedence: a flag on the command line, then ``--config.file``, then the default. Every value is
validated here, before anything starts, and a bad one raises ConfigError naming where it came from
(``--collector.processes.top: …`` or ``--config.file: collector.processes.top: …``).

Only the standard library (and PyYAML, imported when a file is given) is used, so ``sru --help``
works on a minimal install."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any, Callable

from sru.config import load_yaml_file
from sru.errors import ConfigError
from sru.options import parse_duration, parse_listen_address

# Chosen from the exporter range 9100-9999 (now fully allocated on the Prometheus wiki's list);
# 9847 is what the lab fleet's firewalls open for sru. See exporter/README.md.
DEFAULT_PORT = 9847
COLLECTORS = ("cpu", "memory", "disk", "filesystem", "network", "gpu", "sessions", "processes", "system")
NEVER = r"(?!)"  # what an empty exclude pattern means: exclude nothing

# Defaults are imported lazily from the collector modules would pull prometheus_client in; keep
# literal copies here and let a test check they agree.
DISK_DEVICE_EXCLUDE = r"^(z?ram|loop|fd|sr|dm-|md)\d+$|^((h|s|v|xv)d[a-z]+|nvme\d+n\d+p|mmcblk\d+p)\d+$"
NETWORK_DEVICE_EXCLUDE = r"^(lo|veth.*)$"
FS_TYPES_EXCLUDE = (r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|"
                    r"hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|"
                    r"selinuxfs|squashfs|erofs|sysfs|tracefs)$")
MOUNT_POINTS_EXCLUDE = r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"


@dataclass(frozen=True)
class Settings:
    listen_host: str
    listen_port: int
    telemetry_path: str
    web_config_file: str | None
    collectors: tuple[str, ...]
    processes_top: int
    gpu_processes_top: int
    gpu_retry_interval: float
    fs_types_exclude: re.Pattern[str]
    mount_points_exclude: re.Pattern[str]
    disk_device_exclude: re.Pattern[str]
    network_device_exclude: re.Pattern[str]
    procfs: str


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(where, f"must be a string, not {value!r}")
    return value


def _listen(value: Any, where: str) -> tuple[str, int]:
    return parse_listen_address(_str(value, where), where)


def _telemetry_path(value: Any, where: str) -> str:
    value = _str(value, where)
    if not value.startswith("/") or value == "/" or any(c.isspace() for c in value):
        raise ConfigError(where, f"{value!r} must be a path starting with '/' (and not '/' itself)")
    return value


def _optional_file(value: Any, where: str) -> str | None:
    return _str(value, where) or None if value is not None else None


def _count(low: int, high: int) -> Callable[[Any, str], int]:
    def parse(value: Any, where: str) -> int:
        if isinstance(value, bool):
            raise ConfigError(where, f"must be an integer, not {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(where, f"{value!r} is not an integer") from None
        if isinstance(value, float) and value != number:
            raise ConfigError(where, f"{value!r} is not an integer")
        if not low <= number <= high:
            raise ConfigError(where, f"{number} is out of range {low}-{high}")
        return number
    return parse


def _duration(value: Any, where: str) -> float:
    """A Prometheus duration ('60s', '1m'); a bare number of seconds still works, deprecated."""
    return parse_duration(value, where, legacy_seconds=True).total_seconds()


def _regex(value: Any, where: str) -> re.Pattern[str]:
    value = _str(value, where)
    try:
        return re.compile(value or NEVER)
    except re.error as exc:
        raise ConfigError(where, f"invalid regular expression {value!r}: {exc}") from None


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, f"must be true or false, not {value!r}")
    return value


@dataclass(frozen=True)
class _Option:
    key: str                       # flag name without '--', and the YAML key
    field: str                     # Settings field (or collector name for collector.<name>)
    default: Any
    parse: Callable[[Any, str], Any]
    help: str
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.key.replace(".", "_").replace("-", "_")


OPTIONS: tuple[_Option, ...] = (
    _Option("web.listen-address", "listen", f":{DEFAULT_PORT}", _listen,
            "address to listen on for scrapes", "HOST:PORT"),
    _Option("web.telemetry-path", "telemetry_path", "/metrics", _telemetry_path,
            "path under which to expose metrics", "PATH"),
    _Option("web.config.file", "web_config_file", None, _optional_file,
            "exporter-toolkit web config file enabling TLS and/or basic auth", "FILE"),
    _Option("path.procfs", "procfs", "/proc", _str, "procfs mount point", "PATH"),
    _Option("collector.processes.top", "processes_top", 10, _count(1, 1000),
            "expose the top N processes by CPU and the top N by memory", "N"),
    _Option("collector.gpu.processes.top", "gpu_processes_top", 5, _count(0, 1000),
            "expose GPU memory of the top N processes per GPU", "N"),
    _Option("collector.gpu.retry-interval", "gpu_retry_interval", "60s", _duration,
            "how often to retry NVML initialisation while it is unavailable", "DURATION"),
    _Option("collector.filesystem.fs-types-exclude", "fs_types_exclude", FS_TYPES_EXCLUDE, _regex,
            "regexp of filesystem types to ignore", "REGEXP"),
    _Option("collector.filesystem.mount-points-exclude", "mount_points_exclude", MOUNT_POINTS_EXCLUDE, _regex,
            "regexp of mount points to ignore", "REGEXP"),
    _Option("collector.disk.device-exclude", "disk_device_exclude", DISK_DEVICE_EXCLUDE, _regex,
            "regexp of block devices to ignore", "REGEXP"),
    _Option("collector.network.device-exclude", "network_device_exclude", NETWORK_DEVICE_EXCLUDE, _regex,
            "regexp of network interfaces to ignore", "REGEXP"),
) + tuple(_Option(f"collector.{name}", name, True, _bool, f"enable the {name} collector") for name in COLLECTORS)

CONFIG_FILE_OPTION = "--config.file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(CONFIG_FILE_OPTION, dest="config_file", metavar="FILE",
                        help="YAML file of settings keyed by flag name without '--' "
                             "(e.g. 'collector.processes.top: 20'); flags override it")
    for opt in OPTIONS:
        if opt.parse is _bool:
            parser.add_argument(f"--{opt.key}", dest=opt.dest, default=None, action=argparse.BooleanOptionalAction,
                                help=f"{opt.help} (default: enabled)")
        else:
            shown = opt.default if opt.default is not None else "none"
            parser.add_argument(f"--{opt.key}", dest=opt.dest, default=None, metavar=opt.metavar,
                                help=f"{opt.help} (default: {shown})".replace("%", "%%"))


def _load_file(path: str) -> dict[str, Any]:
    data = load_yaml_file(path, CONFIG_FILE_OPTION)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(CONFIG_FILE_OPTION, f"{path} must hold a mapping of setting names to values")
    known = {opt.key for opt in OPTIONS}
    for key in data:
        if key not in known:
            hint = " (write keys without the leading '--')" if str(key).lstrip("-") in known else ""
            raise ConfigError(CONFIG_FILE_OPTION, f"{key}: unknown setting{hint}")
    return data


def resolve(args: argparse.Namespace) -> Settings:
    """Merge flags, config file and defaults into validated Settings."""
    config_file = getattr(args, "config_file", None)
    from_file = _load_file(config_file) if config_file else {}
    values: dict[str, Any] = {}
    enabled: list[str] = []
    for opt in OPTIONS:
        flag_value = getattr(args, opt.dest, None)
        if flag_value is not None:
            value = opt.parse(flag_value, f"--{opt.key}")
        elif opt.key in from_file:
            value = _from_file(opt, from_file[opt.key])
        else:
            value = opt.parse(opt.default, f"--{opt.key}")
        if opt.parse is _bool:
            if value:
                enabled.append(opt.field)
        else:
            values[opt.field] = value
    host, port = values.pop("listen")
    return Settings(listen_host=host, listen_port=port, collectors=tuple(enabled), **values)


def _from_file(opt: _Option, value: Any) -> Any:
    try:
        return opt.parse(value, opt.key)
    except ConfigError as exc:
        raise ConfigError(CONFIG_FILE_OPTION, str(exc)) from None
