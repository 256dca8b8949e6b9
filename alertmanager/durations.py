"""Prometheus duration strings (``1h30m``, ``5m``, ``2d``, ``500ms``) as timedeltas."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_duration(text: str) -> timedelta:
    """Parse like Prometheus's model.ParseDuration; ValueError names the text."""
    m = _RE.match(text.strip()) if isinstance(text, str) else None
    if not m or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h30m or 2d")
    seconds = sum(int(g) * mult for g, mult in zip(m.groups(), _UNITS.values()) if g)
    return timedelta(seconds=seconds)
