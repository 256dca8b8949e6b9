"""Render the shipped recording rules with another evaluation interval. The files use 5m for the
group interval and every rate window; each row then averages the interval since the previous one,
so the windows follow the interval."""

from __future__ import annotations

import re
from importlib import resources

FILES = {"sru": "recording.yml", "node_exporter": "recording-node_exporter.yml"}


def rules_text(variant: str) -> str:
    return resources.files("sru.rules").joinpath(FILES[variant]).read_text()


def render_rules(variant: str, interval: str) -> str:
    from sru.options import parse_duration

    parse_duration(interval, "--interval")
    text = rules_text(variant)
    text = re.sub(r"(?m)^(\s*interval:\s*)5m\s*$", rf"\g<1>{interval}", text)
    return text.replace("[5m]", f"[{interval}]")
