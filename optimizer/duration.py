"""Prometheus-style durations ("5m", "1h30m", "7d", "2w"), standard library only."""

from __future__ import annotations

import re
from datetime import timedelta

from sru.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str, option: str) -> timedelta:
    """Parse ``text`` the way Prometheus parses durations; errors name ``option``."""
    value = text.strip()
    pos, seconds = 0, 0.0
    for m in _PART.finditer(value):
        if m.start() != pos:
            break
        seconds += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not value or pos != len(value):
        raise ConfigError(option, f"{text!r} is not a duration like 30s, 5m, 1h30m, 7d")
    if seconds <= 0:
        raise ConfigError(option, f"{text!r} must be greater than zero")
    return timedelta(seconds=seconds)
