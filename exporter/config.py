"""Exporter settings: node_exporter-style flags and a YAML file whose keys are the same names.

Precedence: a flag on the command line, then ``--config.file``, then the default. Every value is
validated here, before anything starts, and a bad one raises ConfigError naming where it came from
(``--collector.processes.top: …`` or ``--config.file: collector.processes.top: …``).

The collector flags are not listed here: each collector module declares its own
(``exporter/registry.py``). Only the standard library (and PyYAML, imported when a file is given)
is used, so ``sru --help`` works on a minimal install."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.registry import Option, boolean, collectors, string
from sru.config import load_yaml_file
from sru.errors import ConfigError
from sru.options import parse_listen_address

# Chosen from the exporter range 9100-9999 (now fully allocated on the Prometheus wiki's list);
# 9847 is what the lab fleet's firewalls open for sru. See exporter/README.md.
DEFAULT_PORT = 9847


@dataclass(frozen=True)
class Settings:
    listen_host: str
    listen_port: int
    telemetry_path: str
    web_config_file: str | None
    procfs: str
    collectors: tuple[str, ...]
    # Each collector's own settings, by the field its module declares (``settings.processes_top``).
    options: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"no exporter setting {name!r}")


def _listen(value: Any, where: str) -> tuple[str, int]:
    return parse_listen_address(string(value, where), where)


def _telemetry_path(value: Any, where: str) -> str:
    path = string(value, where)
    if not path.startswith("/") or path == "/" or any(c.isspace() for c in path):
        raise ConfigError(where, f"{path!r} must be a path starting with '/' (and not '/' itself)")
    return path


def _optional_file(value: Any, where: str) -> str | None:
    return string(value, where) or None if value is not None else None


CORE_OPTIONS: tuple[Option, ...] = (
    Option("web.listen-address", "listen", f":{DEFAULT_PORT}", _listen,
           "address to listen on for scrapes", "HOST:PORT"),
    Option("web.telemetry-path", "telemetry_path", "/metrics", _telemetry_path,
           "path under which to expose metrics", "PATH"),
    Option("web.config.file", "web_config_file", None, _optional_file,
           "exporter-toolkit web config file enabling TLS and/or basic auth", "FILE"),
    Option("path.procfs", "procfs", "/proc", string, "procfs mount point", "PATH"),
)
COLLECTORS: tuple[str, ...] = tuple(spec.name for spec in collectors())
# Each collector's enable flag, then its own options, as its module declares them.
OPTIONS: tuple[Option, ...] = CORE_OPTIONS + tuple(
    opt for spec in collectors() for opt in (spec.enable_option, *spec.options))
_CORE_FIELDS = frozenset(opt.field for opt in CORE_OPTIONS)
_ENABLE_KEYS = frozenset(f"collector.{name}" for name in COLLECTORS)



def _default(key: str) -> Any:
    return next(opt.default for opt in OPTIONS if opt.key == key)


# The defaults live with their collectors now; these names stay for whoever read them here.
DISK_DEVICE_EXCLUDE = _default("collector.disk.device-exclude")
NETWORK_DEVICE_EXCLUDE = _default("collector.network.device-exclude")
FS_TYPES_EXCLUDE = _default("collector.filesystem.fs-types-exclude")
MOUNT_POINTS_EXCLUDE = _default("collector.filesystem.mount-points-exclude")

CONFIG_FILE_OPTION = "--config.file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(CONFIG_FILE_OPTION, dest="config_file", metavar="FILE",
                        help="YAML file of settings keyed by flag name without '--' "
                             "(e.g. 'collector.processes.top: 20'); flags override it")
    for opt in OPTIONS:
        if opt.parse is boolean:
            parser.add_argument(f"--{opt.key}", dest=opt.dest, default=None, action=argparse.BooleanOptionalAction,
                                help=f"{opt.help} (default: {'enabled' if opt.default else 'disabled'})")
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
    options: dict[str, Any] = {}
    enabled: list[str] = []
    for opt in OPTIONS:
        flag_value = getattr(args, opt.dest, None)
        if flag_value is not None:
            value = opt.parse(flag_value, f"--{opt.key}")
        elif opt.key in from_file:
            value = _from_file(opt, from_file[opt.key])
        else:
            value = opt.parse(opt.default, f"--{opt.key}")
        if opt.key in _ENABLE_KEYS:
            if value:
                enabled.append(opt.field)
        elif opt.field in _CORE_FIELDS:
            values[opt.field] = value
        else:
            options[opt.field] = value
    host, port = values.pop("listen")
    return Settings(listen_host=host, listen_port=port, collectors=tuple(enabled), options=options, **values)


def _from_file(opt: Option, value: Any) -> Any:
    try:
        return opt.parse(value, opt.key)
    except ConfigError as exc:
        raise ConfigError(CONFIG_FILE_OPTION, str(exc)) from None
