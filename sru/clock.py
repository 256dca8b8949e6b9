"""The one "now" of sru: every decision that depends on the date (which days a forecast uses, the
range a page shows, where demo history ends) reads :func:`now`, never ``datetime.now`` directly, so
tests can move it.

The clock is the real UTC clock plus an offset, not a frozen instant: time keeps running (sessions
expire, a test that waits sees it pass), and every process started with the same
``SRU_CLOCK_OFFSET_S`` in its environment (the console under gunicorn, the optimizer) reads the same
moved "now" as the test that started it. ``tests/conftest.py`` sets it from ``--sru-now`` (the sweep,
``scripts/clock-sweep``).

What stays on the real clock, by design: anything compared with another program's clock (the
silences sent to Alertmanager, the adapter's "too far in the future" check against Prometheus'
sample times) and PostgreSQL's ``now()`` (row stamps, retention); queries whose answer depends on
"now" take it as a parameter."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

ENV = "SRU_CLOCK_OFFSET_S"   # seconds added to the real clock (a float; may be negative)

_offset: timedelta | None = None


def _from_env() -> timedelta:
    text = os.environ.get(ENV, "").strip()
    if not text:
        return timedelta(0)
    try:
        return timedelta(seconds=float(text))
    except (ValueError, OverflowError):
        raise ValueError(f"{ENV}={text!r} is not a number of seconds") from None


def offset() -> timedelta:
    global _offset
    if _offset is None:
        _offset = _from_env()
    return _offset


def now() -> datetime:
    """The current instant in UTC (timezone-aware), moved by the offset when one is set."""
    return datetime.now(UTC) + offset()


def move_to(instant: datetime) -> timedelta:
    """Make :func:`now` read ``instant`` from this moment on (and run on from there), here and in
    every process started later from this one's environment. Returns the offset."""
    if instant.tzinfo is None:
        raise ValueError("the instant needs a time zone")
    global _offset
    _offset = instant - datetime.now(UTC)
    os.environ[ENV] = repr(_offset.total_seconds())
    return _offset


def reset() -> None:
    """Back to the real clock."""
    global _offset
    _offset = timedelta(0)
    os.environ.pop(ENV, None)
