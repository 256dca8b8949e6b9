"""Inline SVG for small charts: no JavaScript, no chart library, values escaped by construction
(only numbers go into the markup)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup


def runs(values: Sequence[float | None], x: Callable[[int], float], y: Callable[[float], float],
         bridge: int = 1) -> list[str]:
    """Polyline segments ("x,y x,y …") of the known values at x(i), y(v); two known values more than
    ``bridge`` slots apart start a new segment (a gap in the data shows as a gap in the line)."""
    out: list[str] = []
    cur: list[str] = []
    last = 0
    for i, v in enumerate(values):
        if v is None:
            continue
        if cur and i - last > bridge:
            out.append(" ".join(cur))
            cur = []
        cur.append(f"{x(i):.1f},{y(v):.1f}")
        last = i
    if cur:
        out.append(" ".join(cur))
    return out


def points(values: Sequence[float | None], width: float, height: float, top: float = 100.0) -> list[str]:
    """Polyline segments over the whole width, one per run of known values; a gap breaks the line;
    values are clamped to 0…top."""
    step = width / max(len(values) - 1, 1)
    scale = height / top
    return runs(values, lambda i: i * step, lambda v: height - min(max(v, 0.0), top) * scale)


def sparkline(values: Sequence[float | None], *, width: int = 120, height: int = 24, color: str = "#1f77b4",
              label: str = "") -> Markup:
    lines = "".join(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="1.2"/>'
                    for p in points(values, width, height))
    last = next((v for v in reversed(values) if v is not None), None)
    title = f"{label} last {last:.0f} %" if last is not None else f"{label} no data"
    return Markup(f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
                  f'role="img" aria-label="{Markup.escape(title)}"><title>{Markup.escape(title)}</title>'
                  f'<rect width="{width}" height="{height}" fill="#f6f8fa"/>{lines}</svg>')
