"""The shared HTTP layer (sru.http) through the real services: an oversized body is answered 413 even
to a client that writes the whole body before reading (gunicorn and wsgiref), and TLS honours the web
config's min_version for every service."""

from __future__ import annotations

import socket
import ssl
import sys
from pathlib import Path

import pytest
import requests
import yaml

from sru.http.auth import Authenticator
from sru.http.errors import HTTPError, database_error
from sru.http.status import status_line
from tests.fixtures.adapter import WRITE_HEADERS
from tests.fixtures.certs import Pki
from tests.fixtures.net import free_port, wait_for
from tests.support.alerts import make_alert, notification
from tests.support.proc import start_logged, stop_process

SRU = str(Path(sys.executable).parent / "sru")


def _post_whole_body_then_read(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """What Prometheus and Alertmanager do: write the request, body and all, then read the answer.
    A server that refused the body unread and closed the socket makes sendall fail (EPIPE/ECONNRESET)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.encode() + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
            answer_head, sep, rest = answer.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":")[1]) for line in answer_head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if not length or len(rest) >= length[0]:
                    break
    return answer


def test_oversized_body_is_answered_413_by_gunicorn(adapter_factory, tsdb_database) -> None:
    a = adapter_factory(tsdb_database.role_url("data_collector"), "--write.max-body-size=64KiB")
    body = b"\x00" * (8 << 20)  # far more than the socket buffers hold: the server must read it
    answer = _post_whole_body_then_read(a.port, "/api/v1/write", body, WRITE_HEADERS)
    assert answer.startswith(b"HTTP/1.1 413 Content Too Large"), answer[:200]
    assert b"over the limit of 65536 bytes" in answer
    # And the same through requests, which raised ConnectionError before the fix.
    r = requests.post(a.url + "/api/v1/write", data=body, headers=WRITE_HEADERS, timeout=30)
    assert r.status_code == 413
    assert requests.get(a.url + "/healthz", timeout=5).status_code == 200


def test_oversized_body_is_answered_413_by_the_receiver(receiver_factory) -> None:
    receiver = receiver_factory(max_request_bytes=4096)
    port = int(receiver.url.rsplit(":", 1)[1])
    answer = _post_whole_body_then_read(port, "/api/v1/alerts", b"{" + b" " * (8 << 20) + b"}",
                                        {"Content-Type": "application/json"})
    assert answer.split(b"\r\n", 1)[0].endswith(b"413 Content Too Large"), answer[:200]
    assert receiver.post(notification(make_alert())).status_code == 200


@pytest.fixture
def tls13_web_config(pki: Pki, tmp_path: Path) -> Path:
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {
        "cert_file": str(pki.server_cert), "key_file": str(pki.server_key), "min_version": "TLS13"}}))
    return web


def _handshake(port: int, pki: Pki, version: ssl.TLSVersion) -> str:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version() or ""


@pytest.mark.parametrize("service", ["adapter", "alert-receiver"])
def test_tls12_client_refused_with_min_version_tls13(service: str, tsdb_database, pki: Pki,
                                                     tls13_web_config: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / f"{service}.log"
    args = [SRU, service, f"--web.listen-address=127.0.0.1:{port}", "--web.config.file", str(tls13_web_config),
            "--database-url", tsdb_database.role_url("data_collector")]
    proc = start_logged(args, log)
    try:
        wait_for(lambda: requests.get(f"https://127.0.0.1:{port}/healthz", verify=str(pki.ca), timeout=2).ok,
                 30, f"{service} with TLS (log {log})", process=proc, log=log)
        assert _handshake(port, pki, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        with pytest.raises(ssl.SSLError):
            _handshake(port, pki, ssl.TLSVersion.TLSv1_2)
    finally:
        stop_process(proc)


# -- parsing and mapping (unit) ------------------------------------------------------------------

def test_status_lines() -> None:
    assert status_line(413) == "413 Content Too Large"
    assert status_line(503) == "503 Service Unavailable"
    assert status_line(204) == "204 No Content"


def test_bearer_and_basic(tmp_path: Path) -> None:
    import base64

    import bcrypt

    from sru.webconfig import BasicAuth

    auth = Authenticator(BasicAuth({"u": bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()}), "tok")
    assert auth.check("Bearer tok") and not auth.check("Bearer tok2") and not auth.check(None)
    assert auth.check("Basic " + base64.b64encode(b"u:pw").decode())
    assert not auth.check("Basic " + base64.b64encode(b"u:px").decode())
    with pytest.raises(HTTPError) as e:
        auth.require("Bearer nope")
    assert e.value.status == 401 and e.value.headers[0][0] == "WWW-Authenticate"
    assert Authenticator().check(None)  # nothing configured: open


def test_database_error_mapping() -> None:
    import psycopg
    from psycopg_pool import PoolTimeout

    def status(exc: Exception) -> int:
        err = database_error(exc)
        assert err is not None, exc
        return err.status

    assert status(PoolTimeout("x")) == 503
    assert status(psycopg.OperationalError("down")) == 503
    assert status(psycopg.errors.CheckViolation("bad")) == 400
    assert status(psycopg.errors.ForeignKeyViolation("gone")) == 503
    assert status(psycopg.errors.InsufficientPrivilege("no")) == 503
    assert database_error(ValueError("x")) is None
