"""The shipped sample Prometheus configuration (prometheus.sample.yml) as data, for tools that
generate a prometheus.yml (`make up`, tests) so they relabel exactly as the sample does."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import yaml


def sample() -> dict[str, Any]:
    # safe_load is typed Any; the shipped file is a mapping (tests/adapter read its sections).
    text = resources.files("remote_write_adapter").joinpath("prometheus.sample.yml").read_text()
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def remote_write(url: str, **queue: Any) -> dict[str, Any]:
    """The sample's remote_write entry pointed at ``url``; ``queue`` overrides queue_config keys."""
    entry: dict[str, Any] = copy.deepcopy(sample()["remote_write"][0])
    entry["url"] = url
    entry["queue_config"] = {**entry.get("queue_config", {}), **queue}
    return entry


def remote_read(url: str, read_recent: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = copy.deepcopy(sample()["remote_read"][0])
    entry.update(url=url, read_recent=read_recent)
    return entry
