"""Status lines. http.HTTPStatus of Python 3.11 still has RFC 7231's phrases; RFC 9110 renamed a
few, and the services have always answered with the new ones."""

from __future__ import annotations

from http import HTTPStatus

_RFC9110 = {413: "Content Too Large", 422: "Unprocessable Content"}


def reason(code: int) -> str:
    if code in _RFC9110:
        return _RFC9110[code]
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def status_line(code: int) -> str:
    """``"413 Content Too Large"``: what WSGI's start_response takes."""
    return f"{code} {reason(code)}".rstrip()
