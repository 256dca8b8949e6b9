"""The series → table mapping (mapping.yml shipped beside this module, overridable by the user)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from sru.columns import JSON_COLUMNS, SCALAR_COLUMNS, USER_USAGE_NAMES
from sru.config import load_yaml_file
from sru.errors import ConfigError
from sru.hosts import HOST_LABELS

OPTION = "--config.mapping"

SYSTEM_VALUE_COLUMNS = {"cpu_cores": int, "ram_total_gb": float, "gpu_count": int}
# The values the systems columns' types and CHECKs allow (integer columns: int4).
SYSTEM_VALUE_RANGES: dict[str, tuple[float, float]] = {
    "cpu_cores": (1, 2**31 - 1), "ram_total_gb": (0.0, math.inf), "gpu_count": (0, 2**31 - 1)}
SYSTEM_LABEL_COLUMNS = ("cpu_model", "gpu_model")


@dataclass(frozen=True)
class Mapping:
    host_labels: tuple[str, ...]
    fallback_instance: bool
    location_label: str | None
    # series name -> (column, key_label or None); column is a sru.columns SCALAR_COLUMNS or JSON_COLUMNS name
    usage: dict[str, tuple[str, str | None]]
    info_series: str | None
    info_labels: dict[str, str]
    system_values: dict[str, str]
    session_series: str | None
    session_labels: tuple[str, str, str]  # user, terminal, remote_host
    process_cpu: str | None
    process_memory: str | None
    process_labels: tuple[str, str, str]  # pid, name, user
    # series name -> user_usage_metrics column, and the label that names the user
    user_usage: dict[str, str] = field(default_factory=dict)
    user_usage_label: str = "user"

    def series_for_column(self) -> dict[str, tuple[str, str | None]]:
        """column -> (series name, key label): the reverse map remote read uses."""
        return {col: (name, key) for name, (col, key) in self.usage.items()}


def _default_document() -> dict[str, Any]:
    text = resources.files("remote_write_adapter").joinpath("mapping.yml").read_text()
    # safe_load is typed Any; the shipped mapping.yml is a mapping of sections (parse_mapping checks each).
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def load_mapping(path: str | None = None) -> Mapping:
    doc = _default_document()
    if path:
        user = load_yaml_file(path, OPTION) or {}
        if not isinstance(user, dict):
            raise ConfigError(OPTION, f"{path}: top level must be a mapping")
        unknown = set(user) - set(doc)
        if unknown:
            raise ConfigError(OPTION, f"{path}: unknown section(s) {sorted(unknown)}")
        doc.update(user)
    return parse_mapping(doc)


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(OPTION, f"{name}: must be a mapping")
    return value


def parse_mapping(doc: dict[str, Any]) -> Mapping:
    host = _section(doc, "host")
    labels = host.get("labels", list(HOST_LABELS))
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise ConfigError(OPTION, "host.labels: must be a list of label names")
    usage: dict[str, tuple[str, str | None]] = {}
    for series, target in _section(doc, "usage_metrics").items():
        key = None
        if isinstance(target, dict):
            key = target.get("key_label")
            target = target.get("column")
        if target in JSON_COLUMNS:
            if not key:
                raise ConfigError(OPTION, f"usage_metrics.{series}: column {target} needs key_label")
        elif target not in SCALAR_COLUMNS:
            raise ConfigError(OPTION, f"usage_metrics.{series}: unknown column {target!r} "
                                      f"(one of {', '.join(SCALAR_COLUMNS + JSON_COLUMNS)})")
        elif key:
            raise ConfigError(OPTION, f"usage_metrics.{series}: key_label only fits a JSON column")
        usage[str(series)] = (target, key)
    systems = _section(doc, "systems")
    info_labels = dict(systems.get("info_labels") or {})
    for label, col in info_labels.items():
        if col not in SYSTEM_LABEL_COLUMNS:
            raise ConfigError(OPTION, f"systems.info_labels.{label}: unknown column {col!r}")
    values = dict(systems.get("values") or {})
    for series, col in values.items():
        if col not in SYSTEM_VALUE_COLUMNS:
            raise ConfigError(OPTION, f"systems.values.{series}: unknown column {col!r}")
    sessions = _section(doc, "sessions")
    procs = _section(doc, "processes")
    per_user = _section(doc, "user_usage")
    user_label = per_user.get("user_label", "user")
    if not isinstance(user_label, str) or not user_label:
        raise ConfigError(OPTION, "user_usage.user_label: must be a label name")
    user_series = per_user.get("series") or {}
    if not isinstance(user_series, dict):
        raise ConfigError(OPTION, "user_usage.series: must be a mapping of series to columns")
    for series, col in user_series.items():
        if col not in USER_USAGE_NAMES:
            raise ConfigError(OPTION, f"user_usage.series.{series}: unknown column {col!r} "
                                      f"(one of {', '.join(USER_USAGE_NAMES)})")
    names = [*usage, systems.get("info_series"), *values, sessions.get("series"),
             procs.get("cpu_percent"), procs.get("memory_mb"), *user_series]
    names = [n for n in names if n]
    if len(names) != len(set(names)):
        raise ConfigError(OPTION, "a series is mapped twice")
    return Mapping(
        host_labels=tuple(labels),
        fallback_instance=bool(host.get("fallback_instance", True)),
        location_label=host.get("location_label") or None,
        usage=usage,
        info_series=systems.get("info_series"),
        info_labels=info_labels,
        system_values=values,
        session_series=sessions.get("series"),
        session_labels=(sessions.get("user_label", "user"), sessions.get("terminal_label", "terminal"),
                        sessions.get("remote_host_label", "remote_host")),
        process_cpu=procs.get("cpu_percent"),
        process_memory=procs.get("memory_mb"),
        process_labels=(procs.get("pid_label", "pid"), procs.get("name_label", "name"),
                        procs.get("user_label", "user")),
        user_usage={str(k): str(v) for k, v in user_series.items()},
        user_usage_label=user_label,
    )
