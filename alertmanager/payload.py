"""Validation of Alertmanager's webhook payload (version 4) into the alert events the store keeps.

Pure functions, no I/O: every malformed input raises ``PayloadError`` with a reason that the receiver
returns in its 400 answer (Alertmanager logs it and does not retry a 4xx).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

SEVERITIES = ("critical", "warning", "info")
# An alert without a known severity is routed like info (webhook only), so it is logged as info.
DEFAULT_SEVERITY = "info"
MAX_LABEL_BYTES = 64 * 1024


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


def parse_webhook(body: bytes) -> list[AlertEvent]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
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
            or "\0" in fingerprint:
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
    """RFC 3339 as Alertmanager writes it (nanoseconds, Z); None for absent or Go's zero time."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where}: must be an RFC 3339 string")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"{where}: {value!r} is not an RFC 3339 time") from None
    if t.tzinfo is None:
        raise PayloadError(f"{where}: {value!r} has no time zone")
    if t.year <= 1:  # Go's zero time.Time: "0001-01-01T00:00:00Z"
        return None
    return t.astimezone(timezone.utc)


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
            raise PayloadError(f"{where}.{k}: contains a NUL character")
        size += len(k) + len(v)
    if size > MAX_LABEL_BYTES:
        raise PayloadError(f"{where}: larger than {MAX_LABEL_BYTES} bytes")
    return value


def _number(text: str | None) -> float | None:
    """A plain number from an annotation; anything else (templated text, NaN, ±Inf) is no value."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
