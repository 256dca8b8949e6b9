"""The webhook receiver: a Flask application on the shared HTTP layer (sru.http), served by
gunicorn (see server.py).

Routes:
  POST /api/v1/alerts               Alertmanager webhook (payload version 4) → alert_logs
  GET  /api/v1/alerts               recent alerts as JSON (?active=true, ?host=H, ?limit=N)
  POST /api/v1/alerts/<id>/ack      {"by": NAME, "silence": "2h"?} → acknowledged (+ silence)
  GET  /metrics                     the receiver's own metrics
  GET  /healthz                     200 when the database answers, 503 otherwise (no auth)

Status codes: 200 after commit; 400 with a reason for what can never be stored (Alertmanager does
not retry 4xx); 401 without valid credentials; 413 for a body over the limit (checked before
reading it, the body then drained so the sender reads the answer); 503 with Retry-After when the
database is unavailable (Alertmanager retries 5xx).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Response, g, request

from alertmanager.payload import PayloadError, parse_webhook
from alertmanager.store import get_alert, list_alerts, store_events
from sru.acknowledge import MAX_BY, AlertNotFound, acknowledge
from sru.http.auth import Authenticator
from sru.http.errors import HTTPError
from sru.http.flaskapp import body, create_app
from sru.silences import SilenceError, parse_duration

if TYPE_CHECKING:
    import psycopg
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from prometheus_client import CollectorRegistry
    from psycopg_pool import ConnectionPool

    from sru.webconfig import BasicAuth

log = logging.getLogger("sru.alert_receiver")

RETRY_AFTER_SECONDS = 10
_HANDLERS = {"webhook": "webhook", "list_": "list", "ack": "ack", "metrics": "metrics", "healthz": "healthz"}

T = TypeVar("T")


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Histogram

        self.requests = Counter("sru_alert_receiver_requests", "HTTP requests by handler and status code.",
                                ["handler", "code"], registry=registry)
        self.duration = Histogram("sru_alert_receiver_request_duration_seconds",
                                  "Time to answer a request, database commit included.", ["handler"],
                                  registry=registry)
        self.alerts = Counter("sru_alert_receiver_alerts", "Alerts received in webhook notifications.",
                              ["status"], registry=registry)
        self.rows = Counter("sru_alert_receiver_rows_written",
                            "alert_logs rows inserted or changed (redeliveries change nothing).",
                            registry=registry)
        self.db_errors = Counter("sru_alert_receiver_database_errors",
                                 "Requests answered 503 because the database was unavailable.",
                                 registry=registry)
        self.acks = Counter("sru_alert_receiver_acknowledgements", "Alerts acknowledged.",
                            registry=registry)
        for handler in ("webhook", "ack", "list"):
            self.duration.labels(handler)


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc), status, mimetype="application/json")


class ReceiverApp:
    """The WSGI application (``self.flask``) with the pool and metrics it serves from."""

    def __init__(self, pool: ConnectionPool, *, max_request_bytes: int = 1 << 20,
                 basic_auth: BasicAuth | None = None, bearer_token: str | None = None,
                 alertmanager_url: str | None = None, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry

        self.pool = pool
        self.alertmanager_url = alertmanager_url
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.flask = create_app("sru.alert_receiver", max_body_bytes=max_request_bytes,
                                authenticator=Authenticator(basic_auth, bearer_token),
                                retry_after=RETRY_AFTER_SECONDS, on_database_error=self._count_db_error)
        self._routes()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.flask.wsgi_app(environ, start_response)

    def _count_db_error(self, err: HTTPError) -> None:
        if err.kind == "unavailable":
            self.metrics.db_errors.inc()

    def _routes(self) -> None:
        app, m = self.flask, self.metrics

        @app.before_request
        def _start() -> None:
            g.started = time.perf_counter()

        @app.after_request
        def _count(resp: Response) -> Response:
            handler = _HANDLERS.get(request.endpoint or "", "other")
            m.requests.labels(handler, str(resp.status_code)).inc()
            if handler in ("webhook", "ack", "list") and "started" in g:
                m.duration.labels(handler).observe(time.perf_counter() - g.started)
            return resp

        app.add_url_rule("/healthz", "healthz", self.healthz, methods=["GET"])
        app.add_url_rule("/metrics", "metrics", self.metrics_page, methods=["GET"])
        app.add_url_rule("/api/v1/alerts", "webhook", self.webhook, methods=["POST"])
        app.add_url_rule("/api/v1/alerts", "list_", self.list_, methods=["GET"])
        app.add_url_rule("/api/v1/alerts/<int:alert_id>/ack", "ack", self.ack, methods=["POST"])

    # -- handlers -------------------------------------------------------------------------------
    def webhook(self) -> Response:
        events = self._parse(parse_webhook)
        for ev in events:
            self.metrics.alerts.labels(ev.status).inc()
        with self._transaction() as conn:
            written = store_events(conn, events)
        self.metrics.rows.inc(written)
        return _json({"status": "success", "alerts": len(events), "written": written})

    def ack(self, alert_id: int) -> Response:
        doc = self._parse(lambda raw: json.loads(raw or b"{}"))
        if not isinstance(doc, dict):
            raise HTTPError(400, "body must be a JSON object")
        by = doc.get("by")
        if not isinstance(by, str) or not by.strip() or len(by.strip()) > MAX_BY or "\0" in by:
            raise HTTPError(400, f"'by' must name who acknowledges (1 to {MAX_BY} characters)")
        by = by.strip()
        silence = self._silence(doc.get("silence"))
        with self._transaction() as conn:
            try:
                ack = acknowledge(conn, alert_id, by, silence=silence, alertmanager_url=self.alertmanager_url)
            except AlertNotFound:
                raise HTTPError(404, f"no alert with id {alert_id}") from None
            except SilenceError as exc:
                raise HTTPError(502, str(exc)) from None
            row = get_alert(conn, alert_id)
        if ack.changed:
            self.metrics.acks.inc()
        return _json({"status": "success", "alert": row.as_json(), "changed": ack.changed,
                      "silence_id": ack.silence_id})

    def _silence(self, silence: object) -> timedelta | None:
        """How long an acknowledgement asks to silence its alert, or None."""
        if silence is None:
            return None
        if not self.alertmanager_url:
            raise HTTPError(400, "'silence' needs the receiver to run with --alertmanager.url")
        try:
            return parse_duration(silence if isinstance(silence, str) else "")
        except ValueError as exc:
            raise HTTPError(400, f"silence: {exc}") from None

    def list_(self) -> Response:
        args = request.args
        active = args.get("active", "false").lower() in ("1", "true", "yes")
        host = args.get("host")
        try:
            limit = int(args.get("limit", "100"))
            if not 1 <= limit <= 10000:
                raise ValueError
        except ValueError:
            raise HTTPError(400, "limit must be an integer from 1 to 10000") from None
        with self._transaction() as conn:
            rows = list_alerts(conn, active=active, host=host, limit=limit)
        return _json({"status": "success", "alerts": [r.as_json() for r in rows]})

    def metrics_page(self) -> Response:
        from prometheus_client.exposition import choose_encoder

        encoder, ctype = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(self.registry), 200, content_type=ctype)

    def healthz(self) -> Response:
        try:
            with self._transaction() as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            from sru.http.errors import database_error

            if database_error(exc) is None:
                raise
            return Response("database unavailable\n", 503, mimetype="text/plain")
        return Response("ok\n", 200, mimetype="text/plain")

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _parse(parser: Callable[[bytes], T]) -> T:
        ctype = (request.mimetype or "").lower()
        if ctype and ctype != "application/json":
            raise HTTPError(415, f"Content-Type must be application/json, not {ctype}")
        raw = body()
        try:
            return parser(raw)
        except PayloadError as exc:
            log.warning("rejected webhook: %s", exc)
            raise HTTPError(400, str(exc)) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(400, f"body is not JSON: {exc}") from None

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction committed on exit (a failed commit is raised, and
        sru.http maps it: unavailable → 503, refused data → 400)."""
        with self.pool.connection() as conn:
            yield conn
