"""Digest periods and when each is due, in a configured IANA time zone (zoneinfo: DST-correct).

A weekly digest due on Monday 07:00 covers the seven local days before that Monday (Monday 00:00
to Monday 00:00 local time: 167 or 169 hours across a DST change); a daily one covers the local day
before. A due time that falls into a DST gap (02:30 on a spring-forward night) is read with the
offset before the gap, i.e. an hour later on the clock: zoneinfo's fold=0."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sru.errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY = ("weekly", "daily")


@dataclass(frozen=True)
class Schedule:
    every: str = "weekly"
    weekday: int = 0            # Monday
    at: time = time(7, 0)
    zone: ZoneInfo = ZoneInfo("UTC")

    def due_on(self, day: date) -> bool:
        return self.every == "daily" or day.weekday() == self.weekday

    def due_time(self, day: date) -> datetime:
        return datetime.combine(day, self.at, self.zone).astimezone(UTC)

    def period_ending(self, day: date) -> Period:
        """The period whose digest is due on ``day`` (a due date): the local days before it."""
        days = 7 if self.every == "weekly" else 1
        start = datetime.combine(day - timedelta(days=days), time(0), self.zone)
        end = datetime.combine(day, time(0), self.zone)
        return Period(start.astimezone(UTC), end.astimezone(UTC), self.zone.key,
                      day - timedelta(days=days), day - timedelta(days=1))

    def latest_due(self, now: datetime) -> tuple[Period, datetime]:
        """The period just ended at ``now``: the latest one whose due time is not after ``now``, and
        that due time."""
        day = now.astimezone(self.zone).date()
        for back in range(0, 15):
            d = day - timedelta(days=back)
            if self.due_on(d) and self.due_time(d) <= now:
                return self.period_ending(d), self.due_time(d)
        raise AssertionError("a due day lies within any 15 days")  # weekly: at most 13 back

    def next_due(self, now: datetime) -> datetime:
        day = now.astimezone(self.zone).date()
        for ahead in range(0, 15):
            d = day + timedelta(days=ahead)
            if self.due_on(d) and self.due_time(d) > now:
                return self.due_time(d)
        raise AssertionError("a due day lies within any 15 days")


@dataclass(frozen=True)
class Period:
    start: datetime     # UTC
    end: datetime       # UTC, exclusive
    zone: str
    first_day: date     # local dates, inclusive
    last_day: date

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def label(self) -> str:
        if self.first_day == self.last_day:
            return f"{self.first_day:%a %d %b %Y}"
        return f"{self.first_day:%a %d %b} – {self.last_day:%a %d %b %Y}"

    def previous(self) -> Period:
        """The period of as many local days just before this one (the week before: 167-169 h)."""
        zone = ZoneInfo(self.zone)
        n = (self.last_day - self.first_day).days + 1
        first = self.first_day - timedelta(days=n)
        return Period(datetime.combine(first, time(0), zone).astimezone(UTC), self.start, self.zone,
                      first, self.first_day - timedelta(days=1))

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]


def parse_schedule(doc: object, where: str) -> Schedule:
    """The ``schedule:`` mapping of the digest config; ConfigError naming the option otherwise."""
    if doc is None:
        return Schedule()
    if not isinstance(doc, dict):
        raise ConfigError(where, "must be a mapping with every, weekday, time, timezone")
    unknown = set(doc) - {"every", "weekday", "time", "timezone"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}", "unknown option (every, weekday, time, timezone)")
    every = doc.get("every", "weekly")
    if every not in EVERY:
        raise ConfigError(f"{where}.every", f"{every!r} is not one of {', '.join(EVERY)}")
    weekday = str(doc.get("weekday", "monday")).lower()
    if weekday not in WEEKDAYS:
        raise ConfigError(f"{where}.weekday", f"{doc.get('weekday')!r} is not a weekday name such as monday")
    at_text = str(doc.get("time", "07:00"))
    try:
        at = time.fromisoformat(at_text)
    except ValueError:
        raise ConfigError(f"{where}.time", f"{at_text!r} is not a time such as 07:00") from None
    if at.tzinfo is not None:
        raise ConfigError(f"{where}.time", "give the zone in timezone, not in the time")
    zone_name = doc.get("timezone", "UTC")
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}.timezone", f"{zone_name!r} is not an IANA time zone such as Europe/Berlin") from None
    return Schedule(every, WEEKDAYS.index(weekday), at, zone)
