"""The adapter's WSGI application: /api/v1/write, /api/v1/read, /metrics, /healthz.

Status codes follow what Prometheus's remote-write client does with them: 2xx only after commit;
400 (never retried) only for data that can never be stored; 503 + Retry-After whenever the
database is the problem, so Prometheus keeps the data and retries; never 429 (a default Prometheus
drops on 429)."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from remote_write_adapter import reader, telemetry
from remote_write_adapter.ha import Elector, HAConfig, connect_from, replica_of
from remote_write_adapter.mapping import Mapping
from remote_write_adapter.pivot import CACHE_MAX_BYTES, Pivoter
from remote_write_adapter.protocol import Limits, ProtocolError, check_length, decode_read, decode_write, encode_read_response
from remote_write_adapter.writer import Writer, prepare_connection

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
_REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 415: "Unsupported Media Type",
            503: "Service Unavailable"}


@dataclass
class Settings:
    database_url: str
    mapping: Mapping
    limits: Limits = field(default_factory=Limits)
    label_cache_bytes: int = CACHE_MAX_BYTES
    ha: HAConfig | None = field(default_factory=HAConfig)  # None: store every replica
    pool_size: int = 4
    pool_timeout: float = 5.0       # seconds a request waits for a connection before answering 503
    retry_after: int = 5            # seconds, for the Retry-After header of a 503
    bearer_token: str | None = None
    basic_auth: Any = None          # sru.webconfig.BasicAuth
    writer: Writer = field(default_factory=Writer)


class Response(Exception):
    def __init__(self, status: int, body: bytes | str = b"", headers: list[tuple[str, str]] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = headers or []


class AdapterApp:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()
        self._pivoter = Pivoter(settings.mapping, settings.label_cache_bytes)
        self._elector = Elector(settings.ha) if settings.ha else None

    # The pool is created on first use, i.e. in each gunicorn worker after the fork.
    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ConnectionPool(
                        self.s.database_url, min_size=1, max_size=self.s.pool_size, open=False,
                        configure=prepare_connection, name="sru-adapter",
                        kwargs={"application_name": "sru-adapter"})
                    self._pool.open(wait=False)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        handler = {"/api/v1/write": self.write, "/api/v1/read": self.read, "/metrics": self.metrics,
                   "/healthz": self.healthz}.get(path)
        name = path if handler else "other"
        try:
            if handler is None:
                raise Response(404, "not found\n")
            if path != "/healthz":
                self._authenticate(environ)
            resp = handler(environ)
        except Response as r:
            resp = r
        except ProtocolError as exc:
            resp = Response(exc.status, exc.reason + "\n")
        except (psycopg.OperationalError, PoolTimeout) as exc:
            telemetry.DB_ERRORS.labels("unavailable").inc()
            log.warning("database unavailable: %s", exc)
            resp = Response(503, f"database unavailable: {exc}\n", [("Retry-After", str(self.s.retry_after))])
        except psycopg.errors.ForeignKeyViolation as exc:
            # A systems row deleted while its host's batch was written, even after the retry: the
            # data is fine, so let Prometheus keep it and retry (the next try recreates the row).
            telemetry.DB_ERRORS.labels("error").inc()
            log.error("database error: %s", exc)
            resp = Response(503, f"database error: {exc.diag.message_primary or exc}\n",
                            [("Retry-After", str(self.s.retry_after))])
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            # What the pivot's checks let through and the schema's constraints refuse: never storable.
            log.warning("batch refused by the database: %s", exc)
            resp = Response(400, f"refused by the database: {exc.diag.message_primary or exc}\n")
        except psycopg.Error as exc:
            # Anything else on the database side (privileges, a missing migration) is not the data's
            # fault: let Prometheus keep it and retry.
            telemetry.DB_ERRORS.labels("error").inc()
            log.error("database error: %s", exc)
            resp = Response(503, f"database error: {exc.diag.message_primary or exc}\n",
                            [("Retry-After", str(self.s.retry_after))])
        telemetry.REQUESTS.labels(name, str(resp.status)).inc()
        self._pool_gauges()
        headers = resp.headers
        if resp.body and not any(k.lower() == "content-type" for k, _ in headers):
            headers = [("Content-Type", "text/plain; charset=utf-8"), *headers]
        headers.append(("Content-Length", str(len(resp.body))))
        start_response(f"{resp.status} {_REASONS.get(resp.status, '')}", headers)
        return [resp.body]

    def _authenticate(self, environ: dict) -> None:
        if not self.s.bearer_token and not self.s.basic_auth:
            return
        header = environ.get("HTTP_AUTHORIZATION", "")
        if self.s.bearer_token and header[:7].lower() == "bearer ":
            if hmac.compare_digest(header[7:].strip().encode(), self.s.bearer_token.encode()):
                return
        elif self.s.basic_auth and header[:6].lower() == "basic ":
            if self.s.basic_auth.check(header):
                return
        challenge = 'Basic realm="sru"' if self.s.basic_auth else 'Bearer realm="sru"'
        raise Response(401, "unauthorized\n", [("WWW-Authenticate", challenge)])

    def _body(self, environ: dict) -> bytes:
        if environ.get("REQUEST_METHOD") != "POST":
            raise Response(405, "method not allowed: use POST\n", [("Allow", "POST")])
        length_text = environ.get("CONTENT_LENGTH") or ""
        limit = self.s.limits.max_body_bytes
        stream = environ["wsgi.input"]
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise Response(400, "bad Content-Length\n") from None
            check_length(length, self.s.limits)  # before reading a byte of it
            return stream.read(length)
        body = stream.read(limit + 1)  # chunked: read at most one byte past the limit
        check_length(len(body), self.s.limits)
        return body

    @staticmethod
    def _headers(environ: dict) -> dict[str, str]:
        return {
            "content-encoding": environ.get("HTTP_CONTENT_ENCODING", ""),
            "content-type": environ.get("CONTENT_TYPE", ""),
            "x-prometheus-remote-write-version": environ.get("HTTP_X_PROMETHEUS_REMOTE_WRITE_VERSION", ""),
        }

    def write(self, environ: dict) -> Response:
        body = self._body(environ)
        raw = decode_write(body, self._headers(environ), self.s.limits)
        if self._elector is not None and (pair := replica_of(raw, self.s.ha)) is not None:
            if not self._elector.accept(connect_from(self.pool, self.s.pool_timeout), *pair):
                telemetry.HA_REQUESTS.labels("follower_dropped").inc()
                return Response(202, f"not stored: replica {pair[1][:64]!r} is not the elected one of "
                                     f"cluster {pair[0][:64]!r}\n")
            telemetry.HA_REQUESTS.labels("leader_stored").inc()
        batch = self._pivoter.pivot(raw)
        telemetry.SAMPLES_RECEIVED.inc(batch.samples)
        for reason, n in batch.dropped.items():
            telemetry.SAMPLES_DROPPED.labels(reason).inc(n)
        if batch.hosts:
            started = time.perf_counter()
            with self.pool.connection(timeout=self.s.pool_timeout) as conn:
                result = self.s.writer.write(conn, batch)
            telemetry.BATCH_SECONDS.observe(time.perf_counter() - started)
            telemetry.ROWS.labels("usage_metrics").inc(result.usage_rows)
            telemetry.ROWS.labels("process_snapshots").inc(result.process_rows)
            telemetry.ROWS.labels("systems").inc(result.systems_touched)
            telemetry.ROWS.labels("user_sessions").inc(result.sessions_opened + result.sessions_closed)
        telemetry.SAMPLES_WRITTEN.inc(batch.accepted)
        telemetry.VALUES_NULL.inc(batch.nulls)
        if batch.refused:
            return Response(400, f"stored {batch.accepted} samples; refused {batch.refused_samples}: "
                            + "; ".join(batch.refused) + "\n")
        return Response(204)

    def read(self, environ: dict) -> Response:
        body = self._body(environ)
        req = decode_read(body, self._headers(environ), self.s.limits)
        with self.pool.connection(timeout=self.s.pool_timeout) as conn:
            resp = reader.read(conn, req, self.s.mapping)
            conn.rollback()
        return Response(200, encode_read_response(resp),
                        [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy")])

    def metrics(self, environ: dict) -> Response:
        return Response(200, telemetry.exposition(),
                        [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])

    def healthz(self, environ: dict) -> Response:
        """200 when a pooled connection answers, 503 otherwise (a readiness check)."""
        with self.pool.connection(timeout=min(self.s.pool_timeout, 2.0)) as conn:
            conn.execute("SELECT 1")
            conn.rollback()
        return Response(200, "ok\n")

    def _pool_gauges(self) -> None:
        if self._pool is None:
            return
        stats = self._pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        telemetry.POOL.labels("in_use").set(size - idle)
        telemetry.POOL.labels("idle").set(idle)
        telemetry.POOL.labels("waiting").set(stats.get("requests_waiting", 0))
