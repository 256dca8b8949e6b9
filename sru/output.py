"""What every command that prints JSON shares: how database values (timestamps, UUIDs, Decimals,
intervals) become JSON."""

from __future__ import annotations

from typing import Any


def json_default(o: Any) -> str:
    """``json.dumps(..., default=json_default)``: ISO 8601 for dates and times, str() for the rest
    (UUID, Decimal, timedelta)."""
    return o.isoformat() if hasattr(o, "isoformat") else str(o)


def write_output(text: str, path: str | None) -> None:
    """A command's result to ``path`` (``--output``) or, without one, to stdout."""
    import sys

    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
