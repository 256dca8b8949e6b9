"""The console's routing, validation and status codes in-process (Flask's test client over a real
database on every tier): fast, and next to the real-server tests of tests/web for the wire."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import bcrypt
import pytest
from flask.testing import FlaskClient

from sru.db import open_pool
from web.accounts import parse_accounts
from web.app import WebSettings, create_web_app

TOKEN = "routes-token"


@pytest.fixture
def client(database) -> Iterator[FlaskClient]:
    accounts = parse_accounts({"accounts": {
        "olga": {"password_hash": bcrypt.hashpw(b"olga-pw", bcrypt.gensalt(4)).decode(), "role": "operator",
                 "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest()},
        "vera": {"password_hash": bcrypt.hashpw(b"vera-pw", bcrypt.gensalt(4)).decode(), "role": "viewer"},
    }})
    pool = open_pool(database.url, name="sru-web-test", max_size=2, timeout=5.0)
    try:
        yield create_web_app(pool, WebSettings(accounts=accounts, secret_key=b"k" * 32)).test_client()
    finally:
        pool.close()


def _basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


def test_routing_validation_and_status_codes(client: FlaskClient) -> None:
    # Without credentials: pages send to the log-in page, the API answers 401 with its challenge.
    r = client.get("/alerts?state=all")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    r = client.get("/api/v1/hosts")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/api/v1/hosts", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200

    # With them: JSON, and every bad argument a 400 or 404 with a message, never a 500.
    r = client.get("/api/v1/hosts", headers=OPERATOR)
    assert r.status_code == 200 and r.get_json() == {"status": "success", "hosts": []}
    for path, status in [("/api/v1/hosts/nohost", 404), ("/api/v1/hosts/nohost?range=7y", 400),
                         ("/api/v1/alerts?state=bogus", 400), ("/api/v1/alerts?severity=loud", 400),
                         ("/api/v1/recommendations?status=maybe", 400),
                         ("/api/v1/recommendations/not-a-uuid", 404),
                         ("/api/v1/recommendations/00000000-0000-0000-0000-000000000000", 404),
                         ("/api/v1/reports/fleet.exe", 404), ("/api/v1/nothing-here", 404)]:
        r = client.get(path, headers=OPERATOR)
        assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True))
        assert r.is_json and r.get_json()["error"], path
    assert client.get("/api/v1/alerts/1/ack", headers=OPERATOR).status_code == 405

    # Actions: a viewer may not act; an unknown alert is a 404; a silence without Alertmanager a 400.
    assert client.post("/api/v1/alerts/1/ack", json={}, headers=_basic("vera", "vera-pw")).status_code == 403
    assert client.post("/api/v1/alerts/1/ack", json={}, headers=_basic("vera", "wrong")).status_code == 401
    r = client.post("/api/v1/alerts/424242/ack", json={"note": "x"}, headers=OPERATOR)
    assert r.status_code == 404, r.get_data(as_text=True)
    r = client.post("/api/v1/alerts/424242/ack", json={"silence": "2h"}, headers=OPERATOR)
    assert r.status_code == 400 and "--alertmanager.url" in r.get_json()["error"]
    r = client.post("/api/v1/recommendations/00000000-0000-0000-0000-000000000000/promote", json={},
                    headers=OPERATOR)
    assert r.status_code == 404


def _csrf(page: str) -> str:
    import re

    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, "no CSRF token in the page"
    return m.group(1)


def test_pages_log_in_and_form_actions(client: FlaskClient) -> None:
    csrf = _csrf(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"name": "olga", "password": "wrong", "csrf_token": csrf, "next": "/alerts"})
    assert r.status_code == 401 and "wrong name or password" in r.get_data(as_text=True)
    assert client.post("/login", data={"name": "olga", "password": "olga-pw", "next": "/alerts"}).status_code == 400
    r = client.post("/login", data={"name": "olga", "password": "olga-pw", "csrf_token": csrf, "next": "//evil"})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    for path in ("/", "/alerts?state=all", "/recommendations?status=all", "/reports"):
        assert client.get(path).status_code == 200, path
    r = client.get("/hosts/nohost")
    assert r.status_code == 404 and r.mimetype == "text/html"
    # Logging in starts a new session, with a new token.
    csrf = _csrf(client.get("/").get_data(as_text=True))
    # Form posts need the CSRF token; an unknown alert or action is a 404 page.
    assert client.post("/alerts/424242/ack", data={"note": "x"}).status_code == 400
    assert client.post("/alerts/424242/ack", data={"note": "x", "csrf_token": csrf}).status_code == 404
    uuid = "00000000-0000-0000-0000-000000000000"
    assert client.post(f"/recommendations/{uuid}/promote", data={"csrf_token": csrf}).status_code == 404
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
