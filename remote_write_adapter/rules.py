"""Render the shipped recording rules with another evaluation interval. The files use 5m for the
group interval and every rate window; each row then averages the interval since the previous one,
so the windows follow the interval."""

from __future__ import annotations

import re
from importlib import resources

FILES = {"sru": "recording.yml", "node_exporter": "recording-node_exporter.yml"}
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def rules_text(variant: str) -> str:
    return resources.files("sru.rules").joinpath(FILES[variant]).read_text()


def render_rules(variant: str, interval: str) -> str:
    from sru.errors import ConfigError

    if not _DURATION.match(interval):
        raise ConfigError("--interval", f"{interval!r} is not a Prometheus duration such as 30s or 5m")
    text = rules_text(variant)
    text = re.sub(r"(?m)^(\s*interval:\s*)5m\s*$", rf"\g<1>{interval}", text)
    return text.replace("[5m]", f"[{interval}]")
