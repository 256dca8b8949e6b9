"""The usage ledger as text: a table for people, JSON (a list of objects) and CSV for scripts."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from optimizer.usage import Ledger

_KEYS = {"user": ("user", "department"), "department": ("department",), "host": ("host",),
         "user_host": ("user", "department", "host")}
_FIGURES = ("cpu_core_hours", "ram_gb_hours", "gpu_hours", "gpu_idle_held_hours")
_HOST_EXTRA = ("system_cpu_core_hours", "idle_cpu_core_hours", "idle_ram_gb_hours", "idle_gpu_hours",
               "capacity_cpu_core_hours", "capacity_ram_gb_hours", "capacity_gpu_hours")


def columns(result: Ledger) -> list[str]:
    cols = list(_KEYS[result.by])
    if result.by in ("department", "host"):
        cols.append("users")
    if result.by in ("user", "department"):
        cols.append("hosts")
    cols += _FIGURES
    if result.by == "host":
        cols += _HOST_EXTRA
    if result.prices is not None:
        cols.append("cost")
    return cols


def render(result: Ledger, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result.as_dicts(), indent=2) + "\n"
    rows = result.as_dicts()
    cols = columns(result)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*cols, "from", "to"])
        for r in rows:
            writer.writerow([_csv(r.get(c)) for c in cols] + [r["from"], r["to"]])
        return buf.getvalue()
    return _table(result, rows, cols)


def _csv(v: object) -> str:
    if v is None:
        return ""
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _table(result: Ledger, rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = (f"usage by {result.by.replace('_', ' and ')}, {result.start:%Y-%m-%d %H:%M} .. "
            f"{result.end:%Y-%m-%d %H:%M} UTC")
    if result.prices is not None:
        p = result.prices
        head += (f"; prices per core-hour {p.core_hour:g}, GB-hour {p.gb_hour:g}, GPU-hour {p.gpu_hour:g}"
                 f"{' ' + p.currency if p.currency else ''}")
    titles = [c.replace("_hours", "_h").replace("capacity_", "cap_") for c in cols]
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(t)] + [len(row[i]) for row in cells]) for i, t in enumerate(titles)]
    lines = [head, "  ".join(t.ljust(w) if i < len(_KEYS[result.by]) else t.rjust(w)
                             for i, (t, w) in enumerate(zip(titles, widths, strict=True)))]
    for row in cells:
        lines.append("  ".join(v.ljust(w) if i < len(_KEYS[result.by]) else v.rjust(w)
                               for i, (v, w) in enumerate(zip(row, widths, strict=True))))
    if not rows:
        lines.append("(no per-user usage recorded in this period)")
    return "\n".join(lines) + "\n"


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)
