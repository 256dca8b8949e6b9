"""Alertmanager webhook payload builders, for the alerting, web and HTTP-layer tests and bench/alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def make_alert(name: str = "SruMemoryHigh", *, status: str = "firing", fingerprint: str = "a1b2c3d4e5f60718",
               starts: datetime = T0, ends: datetime | None = None, instance: str = "lab01:9847",
               severity: str = "warning", value: str = "93.5", threshold: str = "90",
               extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"alertname": name, "instance": instance, "job": "sru", "severity": severity,
              **(extra_labels or {})}
    if status == "resolved" and ends is None:
        ends = starts + timedelta(minutes=7)
    return {
        "status": status, "labels": labels,
        "annotations": {"summary": f"{name} on {instance}", "description": "test", "value": value,
                        "threshold": threshold, "metric": "ram_percent",
                        "runbook_url": "https://example.org/rb"},
        "startsAt": iso(starts),
        "endsAt": iso(ends) if ends else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint,
    }


def notification(*alerts: dict[str, Any], receiver: str = "sru-webhook") -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = alerts[0]["labels"] if alerts else {}
    return {"version": "4", "groupKey": '{}:{alertname="x"}', "truncatedAlerts": 0, "status": status,
            "receiver": receiver, "groupLabels": {"alertname": common.get("alertname", "")},
            "commonLabels": common, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": list(alerts)}
