"""The collector registry, as node_exporter's: each collector module declares its name, its flags
with their defaults, and how to build it, by calling ``register()`` at import. ``config.py`` turns
the declarations into ``--collector.<name>`` flags and config-file keys, ``app.py`` builds the
enabled collectors. A new collector is one module in ``exporter/``: nothing else lists it.

Standard library only, and so must the collector modules be at import time (they import
prometheus_client inside ``collect``): every ``sru`` command builds the exporter's flags."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sru.errors import ConfigError
from sru.options import parse_duration

if TYPE_CHECKING:
    from exporter.app import Host
    from exporter.collectors import Collector
    from exporter.config import Settings

NEVER = r"(?!)"  # what an empty exclude pattern means: exclude nothing

# Modules of the exporter package that are not collectors (they import the server libraries).
NOT_COLLECTORS = frozenset({"app", "cli", "collectors", "config", "nvml", "procfs", "registry", "server"})


# --- value parsers: (value from a flag or the config file, where it came from) -> value ----------

def string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(where, f"must be a string, not {value!r}")
    return value


def count(low: int, high: int) -> Callable[[Any, str], int]:
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


def duration(value: Any, where: str) -> float:
    """Seconds of a Prometheus duration ('60s', '1m'); a bare number of seconds still works, deprecated."""
    return parse_duration(value, where, legacy_seconds=True).total_seconds()


def regex(value: Any, where: str) -> re.Pattern[str]:
    value = string(value, where)
    try:
        return re.compile(value or NEVER)
    except re.error as exc:
        raise ConfigError(where, f"invalid regular expression {value!r}: {exc}") from None


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, f"must be true or false, not {value!r}")
    return value


@dataclass(frozen=True)
class Option:
    key: str                       # flag name without '--', and the config-file key
    field: str                     # the Settings attribute
    default: Any
    parse: Callable[[Any, str], Any]
    help: str
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.key.replace(".", "_").replace("-", "_")


@dataclass(frozen=True)
class CollectorSpec:
    name: str                                           # --collector.<name>, the collector label
    help: str
    build: Callable[[Settings, Host], Collector]
    options: tuple[Option, ...] = ()                    # keys under collector.<name>.
    enabled_by_default: bool = True

    def __post_init__(self) -> None:
        for opt in self.options:
            if not opt.key.startswith(f"collector.{self.name}."):
                raise ValueError(f"collector {self.name}: option {opt.key} must start with collector.{self.name}.")

    @property
    def enable_option(self) -> Option:
        return Option(f"collector.{self.name}", self.name, self.enabled_by_default, boolean,
                      f"enable the {self.name} collector: {self.help}")


_SPECS: dict[str, CollectorSpec] = {}


def register(spec: CollectorSpec) -> CollectorSpec:
    """Called once by each collector module at import."""
    if spec.name in _SPECS and _SPECS[spec.name] is not spec:
        raise ValueError(f"two collectors are named {spec.name!r}")
    _SPECS[spec.name] = spec
    return spec


def collectors() -> tuple[CollectorSpec, ...]:
    """Every collector of the exporter package, by name (node_exporter's order)."""
    import exporter

    for module in pkgutil.iter_modules(exporter.__path__):
        if module.name not in NOT_COLLECTORS and not module.name.startswith("_"):
            importlib.import_module(f"exporter.{module.name}")
    return tuple(_SPECS[name] for name in sorted(_SPECS))
