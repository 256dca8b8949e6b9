"""The host page's charts as inline SVG: a time axis with tick labels that fit the range (hours,
weekdays, dates, months; UTC like every time on the console), a 0–100 % value axis with labelled
gridlines, and forecasts drawn beyond the history with their 95 % band and the limit.

No JavaScript and no style attribute (the pages' CSP allows neither): colours are SVG presentation
attributes, the rest comes from style.css classes. Only numbers and escaped text go into the markup.
Drawing is a few string joins per point (a 24-hour chart is 4 × 288 points), so it costs far less
than the queries behind it."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from markupsafe import Markup, escape

from web.sparkline import runs

PERCENT_TICKS = (0, 25, 50, 75, 100)
CHAR_PX = 6.2        # rough width of one character of an 11 px label: labels that would overlap are left out
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Frame:
    """Plot geometry: the SVG's size, the margins the axis labels live in, and the time span."""
    width: int
    height: int
    t0: datetime
    t1: datetime
    left: int = 44
    right: int = 14
    top: int = 10
    bottom: int = 24

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def x(self, t: datetime) -> float:
        return self.left + (t - self.t0) / (self.t1 - self.t0) * self.plot_w

    def y(self, v: float) -> float:
        return self.top + self.plot_h * (1 - min(max(v, 0.0), 100.0) / 100.0)


def time_ticks(t0: datetime, t1: datetime) -> list[tuple[datetime, str]]:
    """Tick times in [t0, t1] and their labels, spaced for the span: every 3 hours (24 h), every
    midnight (a week), every Monday (a month), the 1st and 15th (a quarter), every 1st (a year)."""
    span = t1 - t0
    day0 = datetime.combine(t0.date(), time(), tzinfo=UTC)
    ticks: list[tuple[datetime, str]] = []
    if span <= timedelta(days=2):
        t = day0
        while t <= t1:
            if t >= t0:
                ticks.append((t, f"{t:%a} {t.day}" if t.hour == 0 else f"{t:%H:%M}"))
            t += timedelta(hours=3)
        return ticks
    days = [(day0 + DAY * i) for i in range((t1 - day0).days + 1)]
    days = [d for d in days if t0 <= d <= t1]
    if span <= timedelta(days=10):
        return [(d, f"{d:%a} {d.day}") for d in days]
    if span <= timedelta(days=45):
        return [(d, f"{d:%b} {d.day}") for d in days if d.weekday() == 0]
    if span <= timedelta(days=180):
        return [(d, f"{d:%b} {d.day}") for d in days if d.day in (1, 15)]
    return [(d, f"{d:%b %Y}" if d.month == 1 else f"{d:%b}") for d in days if d.day == 1]


def _axes(fr: Frame, now: datetime | None = None) -> str:
    """Gridlines and labels of both axes; with ``now``, a 'today' line (where the forecast starts)."""
    parts = ['<g class="grid">']
    for g in PERCENT_TICKS:
        y = fr.y(g)
        parts.append(f'<line x1="{fr.left}" x2="{fr.width - fr.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="ylab" x="{fr.left - 5}" y="{y + 4:.1f}">{g} %</text>')
    base = fr.height - fr.bottom
    right_edge = 0.0
    for t, label in time_ticks(fr.t0, fr.t1):
        x = fr.x(t)
        half = len(label) * CHAR_PX / 2
        if x - half < right_edge or x + half > fr.width:
            continue  # would overlap the previous label or run off the chart
        right_edge = x + half + 6
        parts.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{fr.top}" y2="{base + 4}"/>'
                     f'<text class="xlab" x="{x:.1f}" y="{base + 16}">{escape(label)}</text>')
    if now is not None:
        x = fr.x(now)
        parts.append(f'<line class="now" x1="{x:.1f}" x2="{x:.1f}" y1="{fr.top}" y2="{base}"/>'
                     f'<text class="nowlab" x="{x + 3:.1f}" y="{base - 4}">today</text>')
    parts.append("</g>")
    return "".join(parts)


def _svg(fr: Frame, ident: str, title: str, body: str) -> Markup:
    t = escape(title)
    return Markup(f'<svg class="chart" id="{escape(ident)}" width="{fr.width}" height="{fr.height}" '
                  f'viewBox="0 0 {fr.width} {fr.height}" role="img" aria-labelledby="{escape(ident)}-title">'
                  f'<title id="{escape(ident)}-title">{t}</title>{body}</svg>')


def bridge(values: Sequence[float | None]) -> int:
    """How many empty slots a line may cross: twice the data's usual spacing, so hourly samples in
    5-minute slots still draw a line while a real outage (a longer gap) still breaks it."""
    known = [i for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return 1
    return max(1, 2 * int(statistics.median(b - a for a, b in pairwise(known))))


def summary(values: Sequence[float | None]) -> dict[str, float] | None:
    """min, mean and max of the known values (the legend's numbers), or None without data."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    return {"min": min(known), "avg": sum(known) / len(known), "max": max(known)}


def history_chart(series: Mapping[str, Sequence[float | None]], colors: dict[str, str], *, since: datetime,
                  step: timedelta, title: str, width: int = 960, height: int = 240) -> Markup:
    """Several percentage series, one value per ``step`` from ``since`` (slot i starts at since + i·step)."""
    slots = max((len(v) for v in series.values()), default=0)
    fr = Frame(width, height, since, since + step * max(slots, 1))
    # Per-point arithmetic in locals, not Frame's properties: a 30-day chart is 2,880 points.
    span = step / (fr.t1 - fr.t0) * fr.plot_w  # pixels per slot
    x0, y0, k = fr.left + span / 2, fr.top + fr.plot_h, fr.plot_h / 100.0

    def x(i: int) -> float:
        return x0 + i * span

    def y(v: float) -> float:
        return y0 - k * (0.0 if v < 0 else 100.0 if v > 100 else v)

    lines = "".join(f'<polyline points="{p}" fill="none" stroke="{colors.get(name, "#333")}" stroke-width="1.5" '
                    f'data-series="{escape(name)}"/>'
                    for name, values in series.items()
                    for p in runs(values, x, y, bridge(values)))
    if not lines:
        lines = (f'<text class="empty" x="{fr.left + fr.plot_w / 2:.0f}" y="{fr.top + fr.plot_h / 2:.0f}">'
                 f'no data in this range</text>')
    return _svg(fr, "history", title, _axes(fr) + lines)


def forecast_chart(fc: Mapping[str, Any], history: Sequence[tuple[date, float | None]], color: str, *,
                   now: datetime, width: int = 460, height: int = 200) -> Markup:
    """One metric's daily history, then its forecast (dashed) inside the 95 % band, the limit, and
    where the forecast crosses it ("full in N days"), or where that lies beyond the chart."""
    ahead = fc.get("line") or []
    end = max([date.fromisoformat(d[0]) for d in ahead] + [now.date() + DAY])
    line = ahead[:visible_days(ahead)]
    days = [date.fromisoformat(d[0]) for d in line]
    start = min([d for d, _ in history] + [now.date()])
    fr = Frame(width, height, _midnight(start), _midnight(end) + DAY, left=44, right=14)

    def x(d: date) -> float:
        return fr.x(_midnight(d) + DAY / 2)

    parts = [_axes(fr, now if line else None)]  # 'today' only where a forecast follows it
    if line:
        upper = " ".join(f"{x(d):.1f},{fr.y(u):.1f}" for d, (_, _, _, u) in zip(days, line, strict=True))
        lower = " ".join(f"{x(d):.1f},{fr.y(lo):.1f}"
                         for d, (_, _, lo, _) in reversed(list(zip(days, line, strict=True))))
        parts.append(f'<polygon class="band" points="{upper} {lower}" fill="{color}"/>')
    limit = fc.get("limit")
    if limit is not None:
        y = fr.y(limit)
        parts.append(f'<line class="limit" x1="{fr.left}" x2="{fr.width - fr.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="limitlab" x="{fr.left + 4}" y="{y - 4:.1f}">limit {limit:g} %</text>')
    values = [v for _, v in history]
    hx = [x(d) for d, _ in history]
    parts += [f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="1.6"/>'
              for p in runs(values, lambda i: hx[i], fr.y, bridge(values))]
    if line:
        # The forecast starts where the history ends, so the two read as one line.
        lead = next(((hx[i], fr.y(v)) for i, v in reversed(list(enumerate(values))) if v is not None), None)
        pts = ([f"{lead[0]:.1f},{lead[1]:.1f}"] if lead else []) + \
            [f"{x(d):.1f},{fr.y(m):.1f}" for d, (_, m, _, _) in zip(days, line, strict=True)]
        parts.append(f'<polyline class="forecast" points="{" ".join(pts)}" fill="none" stroke="{color}"/>')
    parts.append(_crossing(fc, fr, x, days))
    return _svg(fr, f"forecast-{fc['metric']}", forecast_title(fc, len(history), len(ahead)), "".join(parts))


def _crossing(fc: Mapping[str, Any], fr: Frame, x: Any, days: list[date]) -> str:
    """The 'full in N days' mark: a dot where the forecast crosses the limit when that is on the
    chart, a note at the right edge when it is later."""
    crossing = fc.get("crossing_date")
    if not crossing:
        return ""
    when = date.fromisoformat(crossing[:10])
    text = full_in(fc.get("full_in_days"))
    if days and when <= days[-1]:
        cx, cy = x(when), fr.y(fc["limit"])
        anchor = "end" if cx > fr.left + fr.plot_w * 0.6 else "start"
        return (f'<circle class="cross" cx="{cx:.1f}" cy="{cy:.1f}" r="4"/>'
                f'<text class="crosslab" text-anchor="{anchor}" x="{cx:.1f}" y="{cy - 8:.1f}">{escape(text)}</text>')
    y = fr.y(fc["limit"]) - 8
    return (f'<text class="crosslab" text-anchor="end" x="{fr.width - fr.right - 2}" y="{y:.1f}">'
            f'{escape(text)} ({when:%b} {when.day}) →</text>')


def visible_days(line: Sequence[Sequence[Any]]) -> int:
    """How many days of a forecast to draw: up to the first whose mean reaches 100 % (a share cannot
    grow beyond it; clamped there it would read as a second limit)."""
    return next((i + 1 for i, p in enumerate(line) if p[1] >= 100), len(line))


def full_in(days: int | None) -> str:
    if days is None:
        return "full"
    return "full today" if days == 0 else "full in 1 day" if days == 1 else f"full in {days} days"


def forecast_title(fc: Mapping[str, Any], history_days: int, ahead_days: int) -> str:
    name = fc["metric"].replace("_percent", "").replace("_", " ")
    text = f"{name} %: daily means of the last {history_days} days"
    if ahead_days:
        text += f" and the {ahead_days}-day forecast with its 95 % band"
    if fc.get("limit") is not None:
        text += f"; limit {fc['limit']:g} %"
    if fc.get("crossing_date"):
        text += f"; {full_in(fc.get('full_in_days'))} ({fc['crossing_date'][:10]})"
    elif fc.get("status") == "no_crossing":
        text += "; not full within a year"
    return text


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)
