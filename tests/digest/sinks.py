"""Real sinks for the digest's deliveries: an SMTP server (aiosmtpd) that demands STARTTLS and AUTH,
and an HTTP server standing in for Slack's incoming webhooks and a generic JSON webhook."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.fixtures.net import free_port

SMTP_USER, SMTP_PASSWORD = "sru", "smtp-secret-1"


@dataclass
class Mail:
    rcpt: list[str]
    message: EmailMessage
    size: int


@dataclass
class SmtpSink:
    port: int
    mails: list[Mail] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            time.sleep(self.delay)
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.mails.append(Mail(list(envelope.rcpt_tos), msg, len(envelope.original_content)))
        return "250 OK queued"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == SMTP_USER.encode() and data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


def start_smtp(cert: Path, key: Path) -> tuple[SmtpSink, Controller]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    sink = SmtpSink(free_port())
    ctl = Controller(sink, hostname="127.0.0.1", port=sink.port, tls_context=ctx, require_starttls=True,
                     authenticator=_auth, auth_require_tls=True, auth_required=True)
    ctl.start()
    return sink, ctl


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: Any
    at: float = 0.0       # time.time() when it was accepted


@dataclass
class HttpSink:
    port: int
    posts: list[Post] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)   # path → how many more requests answer 500
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def start_http() -> tuple[HttpSink, ThreadingHTTPServer]:
    sink = HttpSink(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if sink.delay:
                time.sleep(sink.delay)
            with sink.lock:
                left = sink.fail.get(self.path, 0)
                if left:
                    sink.fail[self.path] = left - 1
                else:
                    sink.posts.append(Post(self.path, dict(self.headers), json.loads(body), time.time()))
            self.send_response(500 if left else 200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"boom" if left else b"ok")

        def log_message(self, *a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", sink.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink, server
