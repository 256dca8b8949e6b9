"""Fixtures for the alerting tests: the receiver's WSGI app served in-process on a free loopback port
(real HTTP, real database as data_collector), and webhook payload builders."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from alertmanager.app import ReceiverApp
from alertmanager.server import ReceiverSettings, build_app
from tests.fixtures.net import free_port
from tests.fixtures.postgres import Database

T0 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # the concurrency test connects many clients at once


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Receiver:
    url: str
    app: ReceiverApp
    db: Database

    def post(self, payload: Any, path: str = "/api/v1/alerts", **kw: Any) -> requests.Response:
        return requests.post(self.url + path, json=payload, timeout=30, **kw)

    def rows(self) -> list[dict[str, Any]]:
        import psycopg.rows

        with self.db.connect(row_factory=psycopg.rows.dict_row) as conn:
            return conn.execute("SELECT * FROM alert_logs ORDER BY triggered_at, fingerprint").fetchall()


@pytest.fixture
def receiver_factory(database: Database) -> Iterator[Callable[..., Receiver]]:
    started: list[tuple[_ThreadingServer, ReceiverApp]] = []

    def start(db: Database = database, *, db_port: int | None = None, **settings: Any) -> Receiver:
        """``db_port``: reach the database through another port (a proxy's)."""
        port = free_port()
        web_config = settings.pop("web_config", None)
        s = ReceiverSettings(database_url=db.role_url("data_collector", db_port), host="127.0.0.1", port=port,
                             pool_timeout=settings.pop("pool_timeout", 3.0), **settings)
        app = build_app(s, web_config)
        server = make_server("127.0.0.1", port, app, server_class=_ThreadingServer,
                             handler_class=_QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((server, app))
        return Receiver(f"http://127.0.0.1:{port}", app, db)

    yield start
    for server, app in started:
        server.shutdown()
        server.server_close()
        app.pool.close()


@pytest.fixture
def receiver(receiver_factory: Callable[..., Receiver]) -> Receiver:
    return receiver_factory()


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
