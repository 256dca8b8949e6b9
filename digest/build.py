"""Build one digest: every section whose source exists, for a period and the fleet or a
department, and the chart."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from digest import png
from digest.model import Context, Digest, Section
from digest.sections import SECTIONS

if TYPE_CHECKING:
    import psycopg

    from digest.schedule import Period

log = logging.getLogger("sru.digest")
FLEET = "fleet"
COLORS = {"cpu": (31, 119, 180), "ram": (214, 39, 40), "gpu": (44, 160, 44)}


def department_of(key: str) -> str | None:
    return key.split(":", 1)[1] if key.startswith("department:") else None


def build_digest(conn: psycopg.Connection, period: Period, key: str, *, now: datetime,
                 console_url: str) -> Digest:
    department = department_of(key)
    ctx = Context(conn, period, department, now, console_url)
    sections: list[Section] = []
    left_out: list[str] = []
    for module in SECTIONS:
        if not module.available(conn):
            left_out.append(module.TITLE)
            continue
        section = module.build(ctx)
        if section is not None:
            if department is not None and not getattr(module, "DEPARTMENT", False):
                section.summary = "Fleet-wide. " + section.summary   # a department's digest says so
            sections.append(section)
    title = "Fleet digest" if department is None else f"Digest for {department}"
    digest = Digest(key, title, period, now, console_url, sections, left_out)
    overview = next((s for s in sections if s.key == "overview"), None)
    if overview is not None and overview.table is not None:
        groups = [row[1:4] for row in overview.table.rows]
        digest.charts["overview"] = png.bar_chart([[v if isinstance(v, (int, float)) else None for v in g]
                                                   for g in groups], list(COLORS.values()))
        digest.chart_alt["overview"] = ("Bar chart: mean CPU (blue), RAM (red) and GPU (green) in % per day, "
                                        "the numbers are in the table below")
    return digest


def subject(digest: Digest) -> str:
    return f"sru {digest.title.lower()}: {digest.period.label()}"
