"""The console's Flask application: pages for people (web/pages.py: session cookie, CSRF on every
form post), the same reads and actions as JSON under /api/v1/ (web/api.py: basic auth or bearer
token), log-in (web/login.py); what they share is web/console.py. This module wires them: settings,
templates, who is asking, security headers, errors, /healthz."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Flask, Response, g, redirect, render_template, request, url_for
from markupsafe import Markup

from sru.http.errors import HTTPError
from sru.http.flaskapp import create_app, json_error
from sru.http.status import reason
from web import api, digests, login, pages, plan, security, usage
from web.charts import full_in
from web.console import COLORS, MAX_BODY, SERIES_NAMES, Console, WebSettings, console

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

__all__ = ("WebSettings", "create_web_app", "new_secret_key")


def timestamp(t: datetime | None) -> Markup | str:
    """A time as <time> (style.css keeps it on one line: a table cell would break it at the hyphens);
    only the datetime's own digits go into the markup."""
    if t is None:
        return "—"
    return Markup(f'<time datetime="{t.isoformat()}">{t:%Y-%m-%d %H:%M} UTC</time>')


def duration(d: timedelta | None) -> str:
    """A time to resolve as a person says it: '45 min', '3 h 20 min', '2 d 4 h'."""
    if d is None:
        return "—"
    minutes = round(d.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}\u00a0d\u00a0{hours}\u00a0h" if hours else f"{days}\u00a0d"
    if hours:
        return f"{hours}\u00a0h\u00a0{mins}\u00a0min" if mins else f"{hours}\u00a0h"
    return f"{mins}\u00a0min"


def create_web_app(pool: ConnectionPool, settings: WebSettings) -> Flask:
    """The console on ``pool`` (opened by web/cli.py in the worker)."""
    def render_error(err: HTTPError) -> Response:
        if request.path.startswith("/api/") or request.path == "/healthz":
            return json_error(err)
        if err.status == 401 and request.method == "GET":
            return redirect(url_for("login.login_page", next=request.full_path))  # type: ignore[return-value]
        html = render_template("error.html", status=err.status, reason=reason(err.status), message=err.message)
        return Response(html, err.status, mimetype="text/html")

    app = create_app("web", max_body_bytes=MAX_BODY, render_error=render_error)
    app.config.update(
        SECRET_KEY=settings.secret_key, SRU_ACCOUNTS=settings.accounts,
        SESSION_COOKIE_NAME="sru_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
    )
    app.extensions["sru_web"] = Console(pool, settings)
    app.jinja_env.globals.update(csrf_token=security.csrf_token, grafana_url=settings.grafana_url,
                                 quote=quote, COLORS=COLORS, SERIES_NAMES=SERIES_NAMES)
    app.jinja_env.filters["ts"] = timestamp
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["full_in"] = full_in
    app.jinja_env.filters["num"] = lambda v, d=0: "—" if v is None else f"{v:.{d}f}"

    @app.before_request
    def _who() -> Any:
        if request.path == "/healthz" or request.endpoint in (*login.OPEN_ENDPOINTS, "static"):
            return None
        c = console()
        if request.path.startswith("/api/"):
            g.account = security.api_account(c.accounts, c.limiter)
            return None
        account = security.session_account(c.accounts)
        if account is None:
            if request.method == "GET":
                return redirect(url_for("login.login_page", next=request.full_path))
            raise HTTPError(401, "log in first")
        g.account = account
        if request.method == "POST":
            security.check_csrf()
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        # No script of ours runs inline or from elsewhere; nothing a user typed can run as script.
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "frame-ancestors 'none'; form-action 'self'")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path != "/healthz" and not request.path.startswith("/static/"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.get("/healthz")
    def healthz() -> Response:
        with console().db() as conn:
            conn.execute("SELECT 1")
        return Response("ok\n", 200, mimetype="text/plain")

    app.register_blueprint(login.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(usage.create_blueprint(app.extensions["sru_web"].db, pages.page))
    app.register_blueprint(plan.create_blueprint(pool))
    app.register_blueprint(digests.make_blueprint(pool))
    return app


def new_secret_key() -> bytes:
    return secrets.token_bytes(32)
