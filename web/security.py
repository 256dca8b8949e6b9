"""Who is asking and may they: the signed session cookie for people (with a CSRF token per
session), basic auth or a bearer token for the JSON API (no cookie: a cross-site request carries
no credentials there, so the API needs no CSRF token), and the operator role for every action."""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING

from flask import current_app, g, request, session

from sru.http.auth import bearer_token, parse_basic
from sru.http.errors import HTTPError

if TYPE_CHECKING:
    from web.accounts import Account, Accounts
    from web.ratelimit import LoginLimiter


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPError(400, "the form's CSRF token is missing or wrong: reload the page and try again")


def client_key() -> str:
    return "ip:" + (request.remote_addr or "?")


def login(accounts: Accounts, limiter: LoginLimiter, name: str, password: str) -> Account:
    keys = (client_key(), "name:" + name)
    wait = limiter.retry_after(*keys)
    if wait:
        raise HTTPError(429, f"too many failed log-ins: try again in {wait} s", [("Retry-After", str(wait))])
    account = accounts.verify(name, password.encode())
    if account is None:
        limiter.failed(*keys)
        raise HTTPError(401, "wrong name or password")
    limiter.succeeded("name:" + name)
    session.clear()
    session.permanent = True
    session["account"] = account.name
    csrf_token()
    return account


def session_account(accounts: Accounts) -> Account | None:
    name = session.get("account")
    return accounts.get(name) if isinstance(name, str) else None


def api_account(accounts: Accounts, limiter: LoginLimiter) -> Account:
    header = request.headers.get("Authorization")
    token = bearer_token(header)
    if token is not None:
        account = accounts.by_token(token)
        if account is None:
            raise HTTPError(401, "unknown API token", [("WWW-Authenticate", 'Bearer realm="sru web"')])
        return account
    credentials = parse_basic(header)
    if credentials is None:
        raise HTTPError(401, "basic auth or a bearer token required",
                        [("WWW-Authenticate", 'Basic realm="sru web", charset="UTF-8"')])
    name, password = credentials
    keys = (client_key(), "name:" + name)
    wait = limiter.retry_after(*keys)
    if wait:
        raise HTTPError(429, f"too many failed log-ins: try again in {wait} s", [("Retry-After", str(wait))])
    account = accounts.verify(name, password, cache=True)
    if account is None:
        limiter.failed(*keys)
        raise HTTPError(401, "wrong name or password", [("WWW-Authenticate", 'Basic realm="sru web", charset="UTF-8"')])
    return account


def require_operator() -> Account:
    account: Account = g.account
    if not account.can_act:
        raise HTTPError(403, f"{account.name} is a viewer: only operators may do this")
    return account


def app_accounts() -> Accounts:
    accounts: Accounts = current_app.config["SRU_ACCOUNTS"]  # Flask's config is a dict of Any; create_web_app sets it
    return accounts
