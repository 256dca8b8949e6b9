"""The exporter's HTTP(S) server: prometheus_client's exposition behind optional TLS and basic auth.

prometheus_client's own ``start_http_server`` cannot verify client certificates or check bcrypt
basic auth, so this is a small ThreadingHTTPServer of our own. The TLS handshake runs in the
connection's thread (not in ``accept()``), so a slow or hostile client cannot stall other scrapes."""

from __future__ import annotations

import gzip
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from sru.webconfig import WebConfig

log = logging.getLogger("sru.exporter.http")

CONNECTION_TIMEOUT = 30.0  # seconds a connection may sit idle or mid-handshake


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], registry: CollectorRegistry, telemetry_path: str,
                 web: WebConfig) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.registry = registry
        self.telemetry_path = telemetry_path
        self.web = web
        self._ssl = web.ssl_context()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.settimeout(CONNECTION_TIMEOUT)
        if self._ssl is not None:
            conn = self._ssl.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed handshakes (wrong client certificate, plain HTTP to an HTTPS port) and dropped
        # connections are the client's problem: log one line at debug, not a traceback.
        log.debug("connection from %s failed", client_address[0], exc_info=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if not isinstance(host, str):  # server_bind() stores getsockname(): a str host for AF_INET(6)
            raise TypeError(f"unexpected server address {self.server_address!r}")
        scheme = "https" if self._ssl else "http"
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{port}{self.telemetry_path}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="sru-exporter-http", daemon=True)
        thread.start()
        return thread

    def serve_until_terminated(self) -> None:
        """Serve in the background until SIGTERM (or Ctrl-C), then close (the exporters' main loop)."""
        import signal

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        self.start_background()
        try:
            stop.wait()
        finally:
            self.shutdown()
            self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    server_version = "sru-exporter"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        auth = self.server.web.basic_auth
        if auth is not None and not auth.check(self.headers.get("Authorization")):
            self._reply(401, b"Unauthorized\n", "text/plain; charset=utf-8", head,
                        {"WWW-Authenticate": auth.CHALLENGE})
            return
        path = self.path.split("?", 1)[0]
        if path == self.server.telemetry_path:
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            body = encoder(self.server.registry)
            extra = {}
            if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                # Level 1: the exposition is highly repetitive, so it shrinks ~8x anyway at a
                # fraction of the CPU the default level costs.
                body = gzip.compress(body, compresslevel=1)
                extra["Content-Encoding"] = "gzip"
            self._reply(200, body, content_type, head, extra)
        elif path == "/":
            page = (f"<html><head><title>sru exporter</title></head><body><h1>sru exporter</h1>"
                    f"<p><a href=\"{self.server.telemetry_path}\">Metrics</a></p></body></html>\n")
            self._reply(200, page.encode(), "text/html; charset=utf-8", head)
        else:
            self._reply(404, b"Not Found\n", "text/plain; charset=utf-8", head)

    def _reply(self, status: int, body: bytes, content_type: str, head: bool,
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
