"""A Flask application wired with the shared HTTP layer: authentication before routing, the body
limit checked (and an oversized body drained) before any view reads it, database errors mapped
once, and one error format per service (JSON for APIs, text for the adapter, HTML for pages)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from sru.http.auth import Authenticator
from sru.http.body import check_declared_length, read_body
from sru.http.errors import DEFAULT_RETRY_AFTER, HTTPError, database_error
from sru.http.status import reason, status_line

log = logging.getLogger("sru.http")

ErrorRenderer = Callable[[HTTPError], Response]


def json_error(err: HTTPError) -> Response:
    import json

    return Response(json.dumps({"status": "error", "error": err.message}), err.status,
                    mimetype="application/json")


def text_error(err: HTTPError) -> Response:
    return Response(err.message + "\n", err.status, mimetype="text/plain")


def create_app(name: str, *, max_body_bytes: int, authenticator: Authenticator | None = None,
               public_paths: frozenset[str] = frozenset({"/healthz"}), render_error: ErrorRenderer = json_error,
               retry_after: int = DEFAULT_RETRY_AFTER,
               on_database_error: Callable[[HTTPError], None] | None = None) -> Flask:
    app = Flask(name)
    app.config["MAX_BODY_BYTES"] = max_body_bytes
    # Form parsing (the console) must not read more than the limit either.
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes

    @app.before_request
    def _limits_and_auth() -> None:
        if authenticator is not None and request.path not in public_paths:
            authenticator.require(request.headers.get("Authorization"))
        check_declared_length(request.environ, app.config["MAX_BODY_BYTES"])

    @app.after_request
    def _status_text(resp: Response) -> Response:
        # Werkzeug writes its own (upper-case, RFC 7231) phrases; every sru service answers the same.
        resp.status = status_line(resp.status_code)
        return resp

    @app.errorhandler(HTTPError)
    def _http_error(err: HTTPError) -> Response:
        resp = render_error(err)
        for k, v in err.headers:
            resp.headers[k] = v
        return resp

    @app.errorhandler(HTTPException)
    def _werkzeug_error(exc: HTTPException) -> Response:
        headers: list[tuple[str, str]] = []
        allowed = (exc.valid_methods if isinstance(exc, MethodNotAllowed) else None) or []
        if allowed:
            headers.append(("Allow", ", ".join(allowed)))
        message = exc.description or reason(exc.code or 500)
        if exc.code == 404:
            message = f"no such endpoint {request.path}"
        elif exc.code == 405:
            message = f"method {request.method} not allowed; use {', '.join(allowed)}"
        elif exc.code == 413:
            message = f"body is over the limit of {app.config['MAX_BODY_BYTES']} bytes"
        return _http_error(HTTPError(exc.code or 500, message, headers))

    @app.errorhandler(Exception)
    def _other(exc: Exception) -> Response:
        err = database_error(exc, retry_after)
        if err is not None:
            if on_database_error is not None:
                on_database_error(err)
            return _http_error(err)
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _http_error(HTTPError(500, "internal error"))

    return app


def body() -> bytes:
    """The current request's body under the application's limit."""
    from flask import current_app

    return read_body(request.environ, current_app.config["MAX_BODY_BYTES"])
