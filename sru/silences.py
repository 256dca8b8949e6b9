"""The Alertmanager API v2 client: the silences an acknowledgement creates, and expires again when the
acknowledgement could not be recorded (sru/acknowledge.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sru.options import duration_seconds

MAX_SILENCE = timedelta(days=90)
TIMEOUT = 10.0  # s per Alertmanager request


class SilenceError(RuntimeError):
    """Alertmanager did not create the silence (unreachable or refused)."""


def parse_duration(text: str) -> timedelta:
    """A Prometheus-style duration such as ``2h``, ``1h30m`` or ``3d``; positive, at most 90 days."""
    value = timedelta(seconds=duration_seconds(text))
    if not timedelta(0) < value <= MAX_SILENCE:
        raise ValueError(f"{text!r} must be more than 0 and at most 90 days")
    return value


def create_silence(alertmanager_url: str, labels: Mapping[str, str], starts: datetime, ends: datetime, *,
                   created_by: str, comment: str, timeout: float = TIMEOUT) -> str:
    """Silence the alert with exactly these labels from ``starts`` to ``ends``; returns the silence id."""
    import requests

    body = {
        "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                     for k, v in sorted(labels.items())],
        "startsAt": starts.isoformat(),
        "endsAt": ends.isoformat(),
        "createdBy": created_by,
        "comment": comment,
    }
    url = alertmanager_url.rstrip("/") + "/api/v2/silences"
    try:
        r = requests.post(url, json=body, timeout=timeout)
    except requests.RequestException as exc:
        raise SilenceError(f"cannot reach Alertmanager at {alertmanager_url}: {exc}") from None
    if r.status_code != 200:
        raise SilenceError(f"Alertmanager refused the silence ({r.status_code}): {r.text.strip()[:200]}")
    return str(r.json()["silenceID"])


def expire_silence(alertmanager_url: str, silence_id: str, *, timeout: float = 5.0) -> bool:
    """Expire a silence; False when Alertmanager could not be asked (the silence then ends by itself
    at its end time)."""
    import requests

    try:
        r = requests.delete(f"{alertmanager_url.rstrip('/')}/api/v2/silence/{silence_id}", timeout=timeout)
    except requests.RequestException:
        return False
    return r.status_code == 200
