"""HTTPError and the one place that decides what a database error means to a client.

Both the adapter (Prometheus remote write) and the receiver (Alertmanager webhooks) are fed by
senders that retry 5xx and drop 4xx, so the rule is: 503 + Retry-After whenever retrying can
succeed (the database is down, busy, misconfigured, or a referenced row vanished concurrently);
400 only for data PostgreSQL will refuse every time."""

from __future__ import annotations

import logging

log = logging.getLogger("sru.http")

DEFAULT_RETRY_AFTER = 5  # seconds


class HTTPError(Exception):
    """An answer other than success: status, a message for the client, extra headers."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None,
                 kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers or [])
        self.kind = kind  # what database_error() made of a database exception, for error counters


def database_error(exc: BaseException, retry_after: int = DEFAULT_RETRY_AFTER) -> HTTPError | None:
    """The HTTPError a database exception maps to, or None when ``exc`` is not a database error.

    ``kind`` is left on the result (``unavailable`` / ``error`` / ``refused``) for the services'
    error counters."""
    import psycopg
    from psycopg_pool import PoolTimeout

    retry = [("Retry-After", str(retry_after))]
    if isinstance(exc, (PoolTimeout, psycopg.OperationalError)):
        log.warning("database unavailable: %s", _first_line(exc))
        return HTTPError(503, "database unavailable, retry later", retry, kind="unavailable")
    if not isinstance(exc, psycopg.Error):
        return None
    primary = getattr(getattr(exc, "diag", None), "message_primary", None) or _first_line(exc)
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):
        # A referenced row (a systems row) deleted while the request ran: the data is fine and the
        # next try recreates the row, so the sender must keep it and retry.
        log.error("database error: %s", primary)
        return HTTPError(503, f"database error: {primary}", retry, kind="error")
    if isinstance(exc, (psycopg.DataError, psycopg.IntegrityError)):
        log.warning("refused by the database: %s", primary)
        return HTTPError(400, f"refused by the database: {primary}", kind="refused")
    # Privileges, a missing migration, a raised exception in a SQL function we did not map: not the
    # data's fault, so retrying after an operator fixes it succeeds.
    log.error("database error: %s", primary)
    return HTTPError(503, f"database error: {primary}", retry, kind="error")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
