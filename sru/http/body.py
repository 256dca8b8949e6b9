"""Request bodies under a size limit that is checked before the body is read.

Refusing a body unread is not enough: clients such as Prometheus, Alertmanager and ``requests``
write the whole body before they read the answer, so a server that answers 413 and closes the
socket leaves them with a broken pipe (or a reset) instead of the 413. The refused body is therefore
drained, up to ``DRAIN_MAX_BYTES`` and ``DRAIN_SECONDS``, before the answer goes out; past those
bounds the server discards or closes, so an oversized upload costs at most that much work."""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from sru.http.errors import HTTPError

DRAIN_MAX_BYTES = 64 << 20
DRAIN_SECONDS = 10.0
_CHUNK = 64 << 10


def content_length(environ: dict[str, Any]) -> int | None:
    text = environ.get("CONTENT_LENGTH") or ""
    if not text:
        return None
    try:
        length = int(text)
    except ValueError:
        raise HTTPError(400, f"invalid Content-Length {text[:40]!r}") from None
    if length < 0:
        raise HTTPError(400, f"invalid Content-Length {text[:40]!r}")
    return length


def drain(stream: BinaryIO, length: int | None) -> int:
    """Read and discard what is left of a body (``length`` bytes, or to its end when chunked),
    within the drain bounds. Returns the bytes discarded."""
    budget = DRAIN_MAX_BYTES if length is None else min(length, DRAIN_MAX_BYTES)
    deadline = time.monotonic() + DRAIN_SECONDS
    done = 0
    try:
        while done < budget and time.monotonic() < deadline:
            chunk = stream.read(min(_CHUNK, budget - done))
            if not chunk:
                break
            done += len(chunk)
    except OSError:  # the client gave up: nothing left to be polite to
        pass
    return done


def too_large(message: str) -> HTTPError:
    # No "Connection: close" (a hop-by-hop header a WSGI application may not send): what the drain
    # left unread is discarded by the server (gunicorn reads past an unread body before the next
    # request on a kept-alive connection; wsgiref closes after every request).
    return HTTPError(413, message)


def check_declared_length(environ: dict[str, Any], limit: int) -> int | None:
    """Refuse (after draining) a body whose Content-Length is over ``limit``; returns the length."""
    length = content_length(environ)
    if length is not None and length > limit:
        drain(environ["wsgi.input"], length)
        raise too_large(f"body of {length} bytes is over the limit of {limit} bytes")
    return length


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; HTTPError 413 (body drained) when it is larger."""
    length = check_declared_length(environ, limit)
    stream: BinaryIO = environ["wsgi.input"]  # the WSGI environ is a dict of Any (PEP 3333 says what each key holds)
    if length is not None:
        return stream.read(length) if length else b""
    # Chunked, or no length at all: read one byte past the limit to tell.
    body = stream.read(limit + 1)
    if len(body) > limit:
        drain(stream, None)
        raise too_large(f"body is over the limit of {limit} bytes")
    return body
