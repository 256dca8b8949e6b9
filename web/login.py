"""The console's log-in Blueprint: the form, the session it opens, log-out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session, url_for

from sru.http.errors import HTTPError
from web import security
from web.console import console

bp = Blueprint("login", __name__)
# Reached without a session (the app's before_request lets these through).
OPEN_ENDPOINTS = ("login.login_page", "login.login")


@bp.get("/login", endpoint="login_page")
def login_page() -> str:
    return render_template("login.html", account=None, next=request.args.get("next", "/"), error=None)


@bp.post("/login", endpoint="login")
def login() -> Any:
    security.check_csrf()
    name = request.form.get("name", "")[:64]
    nxt = request.form.get("next", "/")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"  # only our own pages: no open redirect
    c = console()
    try:
        security.login(c.accounts, c.limiter, name, request.form.get("password", "")[:1024])
    except HTTPError as err:
        if err.status == 429:
            raise
        return Response(render_template("login.html", account=None, next=nxt, error=err.message), err.status,
                        mimetype="text/html")
    return redirect(nxt)


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("login.login_page"))
