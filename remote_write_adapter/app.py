"""The adapter's application: /api/v1/write, /api/v1/read, /metrics, /healthz — a Flask app on the
shared HTTP layer (sru.http). bench/http_layer measured Flask's dispatch at well under 5 % of a
write request (bench/README.md), so the write path has no lean kernel of its own.

Status codes follow what Prometheus's remote-write client does with them: 2xx only after commit;
400 (never retried) only for data that can never be stored; 503 + Retry-After whenever the
database is the problem, so Prometheus keeps the data and retries; never 429 (a default Prometheus
drops on 429)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from psycopg_pool import ConnectionPool

from remote_write_adapter import reader, telemetry
from remote_write_adapter.ha import Elector, HAConfig, connect_from, replica_of
from remote_write_adapter.mapping import Mapping
from remote_write_adapter.pivot import CACHE_MAX_BYTES, Pivoter
from remote_write_adapter.protocol import Limits, decode_read, decode_write, encode_read_response
from remote_write_adapter.wire import ProtocolError
from remote_write_adapter.writer import Writer
from sru.http.auth import Authenticator
from sru.http.errors import HTTPError
from sru.http.flaskapp import body, create_app, text_error

_ROUTES = ("/api/v1/write", "/api/v1/read", "/metrics", "/healthz")


@dataclass
class Settings:
    mapping: Mapping
    limits: Limits = field(default_factory=Limits)
    label_cache_bytes: int = CACHE_MAX_BYTES
    ha: HAConfig | None = field(default_factory=HAConfig)  # None: store every replica
    pool_timeout: float = 5.0       # seconds a request waits for a connection before answering 503
    retry_after: int = 5            # seconds, for the Retry-After header of a 503
    bearer_token: str | None = None
    basic_auth: Any = None          # sru.webconfig.BasicAuth
    writer: Writer = field(default_factory=Writer)


class AdapterApp:
    """The WSGI application (``self.flask``) on the pool its cli.py opened (in the worker)."""

    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self.s = settings
        self.pool = pool
        self._pivoter = Pivoter(settings.mapping, settings.label_cache_bytes)
        self._elector = Elector(settings.ha) if settings.ha else None
        self.flask = self._build()

    def close(self) -> None:
        self.pool.close()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.flask.wsgi_app(environ, start_response)

    def _build(self) -> Flask:
        app = create_app("sru.adapter", max_body_bytes=self.s.limits.max_body_bytes,
                         authenticator=Authenticator(self.s.basic_auth, self.s.bearer_token),
                         render_error=text_error, retry_after=self.s.retry_after,
                         on_database_error=self._count_db_error)

        @app.errorhandler(ProtocolError)
        def _protocol(exc: ProtocolError) -> Response:
            return text_error(HTTPError(exc.status, exc.reason))

        @app.after_request
        def _count(resp: Response) -> Response:
            telemetry.REQUESTS.labels(request.path if request.path in _ROUTES else "other",
                                      str(resp.status_code)).inc()
            self._pool_gauges()
            return resp

        app.add_url_rule("/api/v1/write", "write", self.write, methods=["POST"])
        app.add_url_rule("/api/v1/read", "read", self.read, methods=["POST"])
        app.add_url_rule("/metrics", "metrics", self.metrics, methods=["GET"])
        app.add_url_rule("/healthz", "healthz", self.healthz, methods=["GET"])
        return app

    @staticmethod
    def _count_db_error(err: HTTPError) -> None:
        kind = getattr(err, "kind", "error")
        if kind != "refused":
            telemetry.DB_ERRORS.labels(kind).inc()

    @staticmethod
    def _headers() -> dict[str, str]:
        return {
            "content-encoding": request.headers.get("Content-Encoding", ""),
            "content-type": request.headers.get("Content-Type", ""),
            "x-prometheus-remote-write-version": request.headers.get("X-Prometheus-Remote-Write-Version", ""),
        }

    def write(self) -> Response:
        raw = decode_write(body(), self._headers(), self.s.limits)
        if (self._elector is not None and self.s.ha is not None
                and (pair := replica_of(raw, self.s.ha)) is not None):
            if not self._elector.accept(connect_from(self.pool, self.s.pool_timeout), *pair):
                telemetry.HA_REQUESTS.labels("follower_dropped").inc()
                return Response(f"not stored: replica {pair[1][:64]!r} is not the elected one of "
                                f"cluster {pair[0][:64]!r}\n", 202, mimetype="text/plain")
            telemetry.HA_REQUESTS.labels("leader_stored").inc()
        batch = self._pivoter.pivot(raw)
        result = None
        started = time.perf_counter()
        try:
            if batch.hosts:
                with self.pool.connection(timeout=self.s.pool_timeout) as conn:
                    result = self.s.writer.write(conn, batch)
        finally:  # a failed write (503) still counts what arrived and what was dropped
            telemetry.record_write(batch, result, time.perf_counter() - started, self._pivoter.cache_bytes)
        if batch.refused:
            raise HTTPError(400, f"stored {batch.accepted} samples; refused {batch.refused_samples}: "
                            + "; ".join(batch.refused))
        return Response(status=204)

    def read(self) -> Response:
        req = decode_read(body(), self._headers(), self.s.limits)
        with self.pool.connection(timeout=self.s.pool_timeout) as conn:
            resp = reader.read(conn, req, self.s.mapping)
            conn.rollback()
        return Response(encode_read_response(resp), 200,
                        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})

    def metrics(self) -> Response:
        return Response(telemetry.exposition(), 200,
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    def healthz(self) -> Response:
        """200 when a pooled connection answers, 503 otherwise (a readiness check)."""
        with self.pool.connection(timeout=min(self.s.pool_timeout, 2.0)) as conn:
            conn.execute("SELECT 1")
            conn.rollback()
        return Response("ok\n", 200, mimetype="text/plain")

    def _pool_gauges(self) -> None:
        stats = self.pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        telemetry.POOL.labels("in_use").set(size - idle)
        telemetry.POOL.labels("idle").set(idle)
        telemetry.POOL.labels("waiting").set(stats.get("requests_waiting", 0))
