"""What a digest is made of, independent of how it is rendered: sections of facts (named numbers),
an optional table and a link to the console. Every renderer (HTML, plain text, Slack, JSON) walks
the same objects and formats every number with :func:`fmt`, so all of them say the same things."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

    from digest.schedule import Period

Cell = str | int | float | None


def fmt(value: Cell, decimals: int = 0, unit: str = "") -> str:
    """A number as every renderer writes it ("—" for none); text passes through."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    text = f"{value:,.{decimals}f}"
    return f"{text} {unit}" if unit and unit != "%" else text + unit


@dataclass
class Fact:
    key: str            # machine name, the same in the JSON webhook and the stored data
    label: str
    value: int | float | None
    unit: str = ""
    decimals: int = 0

    def text(self) -> str:
        return fmt(self.value, self.decimals, self.unit)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    decimals: list[int]            # per column, for numbers
    links: list[str | None] = field(default_factory=list)   # per row: its console page
    more: int = 0                  # rows left out (the digest shows the first ones)
    link_col: int = 0              # the column whose cell carries the row's link

    def cell(self, row: list[Cell], i: int) -> str:
        return fmt(row[i], self.decimals[i])


@dataclass
class Section:
    key: str
    title: str
    summary: str                  # one sentence, no numbers that are not also facts
    facts: list[Fact]
    table: Table | None = None
    link: str | None = None       # the console page with the details
    chart: str | None = None      # a chart's key in Digest.charts


@dataclass
class Digest:
    key: str                       # 'fleet' or 'department:NAME'
    title: str
    period: Period
    built_at: datetime
    console_url: str
    sections: list[Section]
    left_out: list[str]            # sections whose source does not exist (yet)
    charts: dict[str, bytes] = field(default_factory=dict)     # key → PNG
    chart_alt: dict[str, str] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        """The JSON the webhook posts and the database keeps: numbers as numbers."""
        return {"digest": self.key, "title": self.title,
                "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat(),
                           "time_zone": self.period.zone, "first_day": self.period.first_day.isoformat(),
                           "last_day": self.period.last_day.isoformat()},
                "built_at": self.built_at.isoformat(), "console_url": self.console_url,
                "sections": [asdict(s) for s in self.sections], "left_out": self.left_out}


@dataclass
class Context:
    """What a section builds from: the database (read-only), the period, the digest's department
    (None: the fleet), when the digest is built, and where the console is."""
    conn: psycopg.Connection
    period: Period
    department: str | None
    now: datetime
    console_url: str

    def url(self, path: str) -> str:
        return self.console_url.rstrip("/") + path


class SectionSource(Protocol):
    """A section module: KEY, TITLE, available() says whether its source exists in this database
    (a section whose source is missing is left out, never faked), build() makes the section or
    None when it has nothing to say for this digest."""
    KEY: str
    TITLE: str

    def available(self, conn: psycopg.Connection) -> bool: ...

    def build(self, ctx: Context) -> Section | None: ...
