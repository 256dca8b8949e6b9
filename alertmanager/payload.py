"""Validation of Alertmanager's webhook payload (version 4) into the alert events the store keeps.

Pure functions, no I/O: every malformed input raises ``PayloadError`` with a reason that the receiver
returns in its 400 answer (Alertmanager logs it and does not retry a 4xx).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

SEVERITIES = ("critical", "warning", "info")
# An alert without a known severity is routed like info (webhook only), so it is logged as info.
DEFAULT_SEVERITY = "info"
MAX_LABEL_BYTES = 64 * 1024
MAX_NUMBER_DIGITS = 64  # integers in a payload (all in ignored fields): far below int()'s 4300
# RFC 3339 section 5.6 date-time, as Go's time.RFC3339Nano writes it; no leap second (Go never
# writes one and datetime cannot hold it).
_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                      r"(?:([Zz])|([+-])(\d{2}):(\d{2}))", re.ASCII)


class PayloadError(ValueError):
    """The request body is not a webhook payload this receiver can store."""


@dataclass(frozen=True)
class AlertEvent:
    """One alert of a notification: a firing or resolved state of the alert (fingerprint, starts_at)."""

    fingerprint: str
    alert_name: str
    status: str
    starts_at: datetime
    ends_at: datetime | None  # only for resolved alerts
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    metric_name: str | None
    actual_value: float | None
    threshold_value: float | None

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.fingerprint, self.starts_at)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise PayloadError(f"an integer of {len(text)} digits (at most {MAX_NUMBER_DIGITS})")
    return int(text)


def _parse_constant(name: str) -> float:
    raise PayloadError(f"{name} is not JSON")


def load_json(body: bytes) -> Any:
    """Strict JSON (RFC 8259): no NaN/Infinity, no integers past MAX_NUMBER_DIGITS digits, no
    nesting deeper than the interpreter's recursion limit (RecursionError), UTF-8 only."""
    try:
        return json.loads(body, parse_int=_parse_int, parse_constant=_parse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("body is not JSON this receiver reads: nested too deeply") from None


def parse_webhook(body: bytes) -> list[AlertEvent]:
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise PayloadError("body must be a JSON object")
    version = doc.get("version")
    if version != "4":
        raise PayloadError(f"unsupported webhook payload version {version!r} (expected \"4\")")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' must be a list")
    events = [parse_alert(a, f"alerts[{i}]") for i, a in enumerate(alerts)]
    # The same alert twice in one notification would make ON CONFLICT touch a row twice; keep the
    # resolved one if there is one (it is the later state).
    by_key: dict[tuple[str, datetime], AlertEvent] = {}
    for ev in events:
        prev = by_key.get(ev.key)
        if prev is None or (prev.status == "firing" and ev.status == "resolved"):
            by_key[ev.key] = ev
    # A stable order: concurrent deliveries lock rows in the same order and cannot deadlock.
    return sorted(by_key.values(), key=lambda e: e.key)


def parse_alert(alert: Any, where: str) -> AlertEvent:
    if not isinstance(alert, dict):
        raise PayloadError(f"{where}: must be an object")
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f"{where}.status: must be \"firing\" or \"resolved\", not {status!r}")
    labels = _string_map(alert.get("labels"), f"{where}.labels", required=True)
    annotations = _string_map(alert.get("annotations", {}), f"{where}.annotations", required=False)
    name = labels.get("alertname")
    if not name:
        raise PayloadError(f"{where}.labels.alertname: missing")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint or len(fingerprint) > 64 \
            or "\0" in fingerprint or not _is_utf8(fingerprint):
        raise PayloadError(f"{where}.fingerprint: must be a non-empty string of at most 64 characters")
    starts_at = parse_time(alert.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise PayloadError(f"{where}.startsAt: missing or zero")
    ends_at = None
    if status == "resolved":
        ends_at = parse_time(alert.get("endsAt"), f"{where}.endsAt")
        if ends_at is None:
            raise PayloadError(f"{where}.endsAt: a resolved alert needs its end time")
        # Clocks of Prometheus and Alertmanager may disagree by a little: never before the start.
        ends_at = max(ends_at, starts_at)
    severity = labels.get("severity", "")
    return AlertEvent(
        fingerprint=fingerprint, alert_name=name, status=status, starts_at=starts_at, ends_at=ends_at,
        severity=severity if severity in SEVERITIES else DEFAULT_SEVERITY,
        labels=labels, annotations=annotations,
        metric_name=annotations.get("metric") or labels.get("__name__") or None,
        actual_value=_number(annotations.get("value")),
        threshold_value=_number(annotations.get("threshold")),
    )


def parse_time(value: Any, where: str) -> datetime | None:
    """An RFC 3339 date-time (Alertmanager writes nanoseconds and Z) in UTC; None for absent or Go's
    zero time. A time whose UTC form is outside years 1-9999 is refused like any other bad time."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where}: must be an RFC 3339 string")
    m = _RFC3339.fullmatch(value)
    if m is None:
        raise PayloadError(f"{where}: {value[:64]!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second, frac, z, sign, oh, om = m.groups()
    try:
        offset = UTC if z else timezone(
            (1 if sign == "+" else -1) * timedelta(hours=int(oh), minutes=int(om)))
        t = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                     int((frac or "0")[:6].ljust(6, "0")), tzinfo=offset)
        if t.year == 1 and t.month == 1 and t.day == 1 and t.hour == 0 and t.utcoffset() == timedelta(0):
            return None  # Go's zero time.Time: "0001-01-01T00:00:00Z"
        return t.astimezone(UTC)
    except (ValueError, OverflowError):  # month 13, offset 24:00, year 10000 in UTC, …
        raise PayloadError(f"{where}: {value[:64]!r} is not a time this receiver can store") from None


def _string_map(value: Any, where: str, *, required: bool) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: must be an object of strings")
    size = 0
    for k, v in value.items():
        if not isinstance(v, str):
            raise PayloadError(f"{where}.{k}: must be a string")
        if "\0" in k or "\0" in v:  # PostgreSQL text and jsonb cannot hold NUL
            raise PayloadError(f"{where}.{k[:64]}: contains a NUL character")
        try:  # a lone surrogate escape (\\ud800) is valid JSON but not UTF-8
            size += len(k.encode()) + len(v.encode())
        except UnicodeEncodeError:
            raise PayloadError(f"{where}.{k[:64]!r}: not valid Unicode (a lone surrogate)") from None
    if size > MAX_LABEL_BYTES:
        raise PayloadError(f"{where}: larger than {MAX_LABEL_BYTES} bytes")
    return value


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _number(text: str | None) -> float | None:
    """A plain number from an annotation; anything else (templated text, NaN, ±Inf) is no value."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
