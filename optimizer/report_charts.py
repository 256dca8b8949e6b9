"""The inline SVG charts of the HTML report: drawn here, so the page needs no JavaScript and no
CDN and opens on a machine without internet."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from optimizer.report_model import ForecastPoint

# Resource → line colour, in drawing order (the page's legend uses the same).
SERIES = (("cpu", "#1f77b4"), ("ram", "#d62728"), ("gpu", "#2ca02c"), ("io_wait", "#9467bd"))


def daily_lines(days: Sequence[str], series: Mapping[str, Sequence[float | None]],
                forecast_line: Sequence[ForecastPoint] | None = None,
               width: int = 640, height: int = 180) -> str:
    """Daily means per resource (0-100 %), plus the RAM forecast and its 95 % band when present."""
    n_hist = len(days)
    n_fc = len(forecast_line) if forecast_line else 0
    n = max(n_hist + n_fc, 2)
    pad_l, pad_b, pad_t = 34, 18, 8
    w, h = width - pad_l - 8, height - pad_b - pad_t

    def xy(i: int, v: float) -> str:
        return f"{pad_l + w * i / (n - 1):.1f},{pad_t + h * (1 - max(0.0, min(v, 100.0)) / 100):.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="daily usage">',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>']
    for g in (0, 25, 50, 75, 100):
        y = pad_t + h * (1 - g / 100)
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{pad_l - 4}" y="{y + 3:.1f}" font-size="9" text-anchor="end">{g}</text>')
    if forecast_line:
        upper = [xy(n_hist + i, p[3]) for i, p in enumerate(forecast_line)]
        lower = [xy(n_hist + i, p[2]) for i, p in reversed(list(enumerate(forecast_line)))]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="#d62728" fill-opacity="0.12"/>')
        mean = [xy(n_hist + i, p[1]) for i, p in enumerate(forecast_line)]
        parts.append(f'<polyline points="{" ".join(mean)}" fill="none" stroke="#d62728" stroke-dasharray="4 3"/>')
        y90 = pad_t + h * 0.1
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{y90:.1f}" y2="{y90:.1f}" stroke="#d62728" '
                     f'stroke-width="0.6" stroke-dasharray="1 2"/>')
    for name, color in SERIES:
        pts = [xy(i, v) for i, v in enumerate(series.get(name) or []) if v is not None]
        if len(pts) > 1:
            parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="1.5">'
                         f'<title>{name}</title></polyline>')
    if days:
        parts.append(f'<text x="{pad_l}" y="{height - 4}" font-size="9">{html.escape(days[0])}</text>')
        end = forecast_line[-1][0] if forecast_line else days[-1]
        parts.append(f'<text x="{pad_l + w}" y="{height - 4}" font-size="9" text-anchor="end">{html.escape(end)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def weekly_profile(profile: Sequence[float], width: int = 640, height: int = 110) -> str:
    pad_l, pad_b, pad_t = 34, 16, 6
    w, h = width - pad_l - 8, height - pad_b - pad_t
    top = max(max(profile), 1.0)
    pts = " ".join(f"{pad_l + w * i / 167:.1f},{pad_t + h * (1 - max(v, 0) / top):.1f}" for i, v in enumerate(profile))
    labels = "".join(f'<text x="{pad_l + w * d * 24 / 167:.1f}" y="{height - 3}" font-size="9">{name}</text>'
                     for d, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="weekly CPU pattern"><rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafafa" '
            f'stroke="#ccc"/><text x="{pad_l - 4}" y="{pad_t + 8}" font-size="9" text-anchor="end">{top:.0f}</text>'
            f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>{labels}</svg>')
