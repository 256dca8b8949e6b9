"""`sru report`: fleet overview, ranked recommendations and per-host sections, as table, json, csv,
md or html. :mod:`optimizer.report_queries` reads the database into one
:class:`~optimizer.report_model.Report` (TypedDicts: a missing key is a mypy error); the renderers
(:mod:`optimizer.report_text`, :mod:`optimizer.report_html` with :mod:`optimizer.report_charts`)
format it. Standard library only at import time: the CLI reads ``FORMATS`` when it builds its parser."""

from __future__ import annotations

from collections.abc import Callable

from optimizer.report_html import as_html
from optimizer.report_model import Report
from optimizer.report_queries import build_report
from optimizer.report_text import as_csv, as_json, as_markdown, as_table

_RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": as_table, "json": as_json, "csv": as_csv, "md": as_markdown, "html": as_html}
FORMATS = tuple(_RENDERERS)

__all__ = ["FORMATS", "build_report", "render"]


def render(report: Report, fmt: str) -> str:
    """``report`` (from :func:`build_report`) as text in format ``fmt``, one of ``FORMATS``."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}") from None
    return renderer(report)
