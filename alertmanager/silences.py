"""Silences in Alertmanager through its API v2, for acknowledged alerts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Mapping

from sru.options import duration_seconds

MAX_SILENCE = timedelta(days=90)


class SilenceError(RuntimeError):
    """Alertmanager did not create the silence (unreachable or refused)."""


def parse_duration(text: str) -> timedelta:
    """A Prometheus-style duration such as ``2h``, ``1h30m`` or ``3d``; positive, at most 90 days."""
    value = timedelta(seconds=duration_seconds(text))
    if not timedelta(0) < value <= MAX_SILENCE:
        raise ValueError(f"{text!r} must be more than 0 and at most 90 days")
    return value


def create_silence(alertmanager_url: str, labels: Mapping[str, str], duration: timedelta, *,
                   created_by: str, comment: str, timeout: float = 10.0) -> str:
    """Silence the alert with exactly these labels for ``duration``; returns the silence id."""
    import requests

    now = datetime.now(timezone.utc)
    body = {
        "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                     for k, v in sorted(labels.items())],
        "startsAt": now.isoformat(),
        "endsAt": (now + duration).isoformat(),
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
    return r.json()["silenceID"]
