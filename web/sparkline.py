"""Inline SVG for small charts: no JavaScript, no chart library, values escaped by construction
(only numbers go into the markup)."""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup


def points(values: Sequence[float | None], width: float, height: float, top: float = 100.0) -> list[str]:
    """Polyline segments ("x,y x,y …"), one per run of known values; a gap breaks the line."""
    n = len(values)
    if n == 0:
        return []
    step = width / max(n - 1, 1)
    scale = height / top
    runs: list[str] = []
    cur: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            if cur:
                runs.append(" ".join(cur))
                cur = []
            continue
        v = 0.0 if v < 0 else (top if v > top else v)
        cur.append("%.1f,%.1f" % (i * step, height - v * scale))
    if cur:
        runs.append(" ".join(cur))
    return runs


def sparkline(values: Sequence[float | None], *, width: int = 120, height: int = 24, color: str = "#1f77b4",
              label: str = "") -> Markup:
    lines = "".join(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="1.2"/>'
                    for p in points(values, width, height))
    last = next((v for v in reversed(values) if v is not None), None)
    title = f"{label} last {last:.0f} %" if last is not None else f"{label} no data"
    return Markup(f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
                  f'role="img" aria-label="{Markup.escape(title)}"><title>{Markup.escape(title)}</title>'
                  f'<rect width="{width}" height="{height}" fill="#f6f8fa"/>{lines}</svg>')


def chart(series: dict[str, Sequence[float | None]], colors: dict[str, str], *, width: int = 760,
          height: int = 180, top: float = 100.0) -> Markup:
    """A larger chart of several percentage series on one time axis, with 0/50/100 gridlines."""
    grid = "".join(f'<line x1="0" x2="{width}" y1="{height - g / top * height:.1f}" y2="{height - g / top * height:.1f}" '
                   f'stroke="#ddd"/><text x="2" y="{max(10, height - g / top * height - 2):.1f}" '
                   f'font-size="10" fill="#666">{g:.0f}</text>' for g in (0, 50, 100))
    lines = "".join(f'<polyline points="{p}" fill="none" stroke="{colors.get(name, "#333")}" stroke-width="1.4" '
                    f'data-series="{Markup.escape(name)}"/>'
                    for name, values in series.items() for p in points(values, width, height, top))
    return Markup(f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
                  f'role="img">{grid}{lines}</svg>')
