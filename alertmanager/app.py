"""The webhook receiver as a WSGI application (served by gunicorn, see server.py).

Routes:
  POST /api/v1/alerts               Alertmanager webhook (payload version 4) → alert_logs
  GET  /api/v1/alerts               recent alerts as JSON (?active=true, ?host=H, ?limit=N)
  POST /api/v1/alerts/<id>/ack      {"by": NAME, "silence": "2h"?} → acknowledged (+ silence)
  GET  /metrics                     the receiver's own metrics
  GET  /healthz                     200 when the database answers, 503 otherwise (no auth)

Status codes: 200 after commit; 400 with a reason for what can never be stored (Alertmanager does
not retry 4xx); 401 without valid credentials; 413 for a body over the limit (checked before
reading it); 503 with Retry-After when the database is unavailable (Alertmanager retries 5xx).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from alertmanager.payload import PayloadError, parse_webhook
from alertmanager.silences import SilenceError, create_silence, parse_duration
from alertmanager.store import AlertNotFound, acknowledge, list_alerts, store_events

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from sru.webconfig import BasicAuth

log = logging.getLogger("sru.alert_receiver")

_ACK_RE = re.compile(r"^/api/v1/alerts/(\d{1,18})/ack$")
RETRY_AFTER_SECONDS = 10
MAX_NAME = 256
StartResponse = Callable[..., Any]


class HTTPError(Exception):
    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or []


_STATUS_TEXT = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large",
                415: "Unsupported Media Type", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable"}


class Metrics:
    def __init__(self, registry: Any) -> None:
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


class ReceiverApp:
    def __init__(self, pool: "ConnectionPool", *, max_request_bytes: int = 1 << 20,
                 basic_auth: "BasicAuth | None" = None, bearer_token: str | None = None,
                 alertmanager_url: str | None = None, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry

        self.pool = pool
        self.max_request_bytes = max_request_bytes
        self.basic_auth = basic_auth
        self.bearer_token = bearer_token.encode() if bearer_token else None
        self.alertmanager_url = alertmanager_url
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = Metrics(self.registry)

    # -- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        handler = "other"
        started = time.perf_counter()
        try:
            if path == "/healthz":
                handler = "healthz"
                status, body, ctype = self._healthz()
            else:
                self._authorize(environ)
                if path == "/api/v1/alerts":
                    handler = "webhook" if method == "POST" else "list"
                    if method == "POST":
                        status, body, ctype = self._webhook(environ)
                    elif method in ("GET", "HEAD"):
                        status, body, ctype = self._list(environ)
                    else:
                        raise HTTPError(405, "use POST or GET", [("Allow", "GET, HEAD, POST")])
                elif (m := _ACK_RE.match(path)) is not None:
                    handler = "ack"
                    if method != "POST":
                        raise HTTPError(405, "use POST", [("Allow", "POST")])
                    status, body, ctype = self._ack(int(m.group(1)), environ)
                elif path == "/metrics":
                    handler = "metrics"
                    from prometheus_client.exposition import choose_encoder

                    encoder, ctype = choose_encoder(environ.get("HTTP_ACCEPT"))
                    status, body = 200, encoder(self.registry)
                else:
                    raise HTTPError(404, f"no such endpoint {path}")
            headers: list[tuple[str, str]] = []
        except HTTPError as exc:
            status, ctype, headers = exc.status, "application/json", exc.headers
            body = json.dumps({"status": "error", "error": exc.reason}).encode()
        except Exception:  # a bug: log it, answer 500 (Alertmanager retries)
            log.exception("unexpected error on %s %s", method, path)
            status, ctype, headers = 500, "application/json", []
            body = b'{"status": "error", "error": "internal error"}'
        self.metrics.requests.labels(handler, str(status)).inc()
        if handler in ("webhook", "ack", "list"):
            self.metrics.duration.labels(handler).observe(time.perf_counter() - started)
        headers = [("Content-Type", ctype), ("Content-Length", str(len(body))), *headers]
        start_response(f"{status} {_STATUS_TEXT.get(status, '')}", headers)
        return [b"" if method == "HEAD" else body]

    # -- handlers -------------------------------------------------------------------------------
    def _webhook(self, environ: dict[str, Any]) -> tuple[int, bytes, str]:
        body = self._read_body(environ)
        try:
            events = parse_webhook(body)
        except PayloadError as exc:
            log.warning("rejected webhook: %s", exc)
            raise HTTPError(400, str(exc)) from None
        for ev in events:
            self.metrics.alerts.labels(ev.status).inc()
        with self._database() as conn:
            written = store_events(conn, events)
        self.metrics.rows.inc(written)
        return 200, json.dumps({"status": "success", "alerts": len(events), "written": written}).encode(), \
            "application/json"

    def _ack(self, alert_id: int, environ: dict[str, Any]) -> tuple[int, bytes, str]:
        try:
            doc = json.loads(self._read_body(environ) or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(400, f"body is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise HTTPError(400, "body must be a JSON object")
        by = doc.get("by")
        if not isinstance(by, str) or not by.strip() or len(by) > MAX_NAME or "\0" in by:
            raise HTTPError(400, f"'by' must name who acknowledges (1 to {MAX_NAME} characters)")
        silence = doc.get("silence")
        duration = None
        if silence is not None:
            if not self.alertmanager_url:
                raise HTTPError(400, "'silence' needs the receiver to run with --alertmanager.url")
            try:
                duration = parse_duration(silence) if isinstance(silence, str) else parse_duration("")
            except ValueError as exc:
                raise HTTPError(400, f"silence: {exc}") from None
        silence_id = None
        with self._database() as conn:
            try:
                row, changed = acknowledge(conn, alert_id, by.strip())
            except AlertNotFound:
                raise HTTPError(404, f"no alert with id {alert_id}") from None
            if duration is not None:
                try:  # before commit: a failed silence leaves the alert unacknowledged, retry is safe
                    silence_id = create_silence(self.alertmanager_url, row.labels, duration,
                                                created_by=by.strip(),
                                                comment=f"sru alert {alert_id} acknowledged by {by.strip()}")
                except SilenceError as exc:
                    raise HTTPError(502, str(exc)) from None
        if changed:
            self.metrics.acks.inc()
        return 200, json.dumps({"status": "success", "alert": row.as_json(), "changed": changed,
                                "silence_id": silence_id}).encode(), "application/json"

    def _list(self, environ: dict[str, Any]) -> tuple[int, bytes, str]:
        from urllib.parse import parse_qs

        q = parse_qs(environ.get("QUERY_STRING", ""))
        active = q.get("active", ["false"])[-1].lower() in ("1", "true", "yes")
        host = q.get("host", [None])[-1]
        try:
            limit = int(q.get("limit", ["100"])[-1])
            if not 1 <= limit <= 10000:
                raise ValueError
        except ValueError:
            raise HTTPError(400, "limit must be an integer from 1 to 10000") from None
        with self._database() as conn:
            rows = list_alerts(conn, active=active, host=host, limit=limit)
        return 200, json.dumps({"status": "success", "alerts": [r.as_json() for r in rows]}).encode(), \
            "application/json"

    def _healthz(self) -> tuple[int, bytes, str]:
        try:
            with self._database() as conn:
                conn.execute("SELECT 1")
        except HTTPError:
            return 503, b"database unavailable\n", "text/plain; charset=utf-8"
        return 200, b"ok\n", "text/plain; charset=utf-8"

    # -- helpers --------------------------------------------------------------------------------
    def _authorize(self, environ: dict[str, Any]) -> None:
        if self.basic_auth is None and self.bearer_token is None:
            return
        header = environ.get("HTTP_AUTHORIZATION", "")
        if self.bearer_token is not None and header[:7].lower() == "bearer ":
            if hmac.compare_digest(header[7:].strip().encode(), self.bearer_token):
                return
        elif self.basic_auth is not None and self.basic_auth.check(header):
            return
        challenge = self.basic_auth.CHALLENGE if self.basic_auth is not None else 'Bearer realm="sru"'
        raise HTTPError(401, "valid credentials required", [("WWW-Authenticate", challenge)])

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if ctype and ctype != "application/json":
            raise HTTPError(415, f"Content-Type must be application/json, not {ctype}")
        length_text = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise HTTPError(400, "invalid Content-Length") from None
            if length > self.max_request_bytes:
                raise HTTPError(413, f"body of {length} bytes is over the limit of "
                                     f"{self.max_request_bytes} bytes")
            return stream.read(length) if length > 0 else b""
        # No length (chunked): read at most one byte past the limit to tell.
        body = stream.read(self.max_request_bytes + 1)
        if len(body) > self.max_request_bytes:
            raise HTTPError(413, f"body is over the limit of {self.max_request_bytes} bytes")
        return body

    def _database(self) -> "_Transaction":
        return _Transaction(self)


class _Transaction:
    """``with app._database() as conn``: a pooled connection in a transaction committed on exit;
    an unavailable database becomes HTTPError 503, data PostgreSQL refuses becomes 400."""

    def __init__(self, app: ReceiverApp) -> None:
        self.app = app
        self._cm: Any = None

    def __enter__(self) -> Any:
        import psycopg
        from psycopg_pool import PoolTimeout

        self._cm = self.app.pool.connection()
        try:
            return self._cm.__enter__()
        except (PoolTimeout, psycopg.OperationalError) as exc:
            self.app.metrics.db_errors.inc()
            raise _unavailable(exc) from None

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> bool:
        import psycopg

        try:
            self._cm.__exit__(typ, exc, tb)
        except psycopg.OperationalError as commit_exc:  # the commit itself failed
            self.app.metrics.db_errors.inc()
            raise _unavailable(commit_exc) from None
        if isinstance(exc, psycopg.OperationalError):
            self.app.metrics.db_errors.inc()
            raise _unavailable(exc) from None
        if isinstance(exc, (psycopg.DataError, psycopg.IntegrityError)):
            raise HTTPError(400, f"the database refused the data: {exc.diag.message_primary or exc}") \
                from None
        return False


def _unavailable(exc: Exception) -> HTTPError:
    log.warning("database unavailable: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
    return HTTPError(503, "database unavailable, retry later", [("Retry-After", str(RETRY_AFTER_SECONDS))])
