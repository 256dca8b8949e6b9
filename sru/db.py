"""Database access shared by the server components (psycopg is imported lazily: the exporter
never needs it)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, LiteralString

from sru.errors import ConfigError, NotMigratedError, SruError

if TYPE_CHECKING:
    import psycopg
    from psycopg.abc import Params
    from psycopg_pool import ConnectionPool

# libpq waits forever for a host that drops packets; a command should give up and say so.
CONNECT_TIMEOUT_S = 10
# libpq's "connection to server at "h" (addr), port N failed: REASON": the reason is what a person needs.
_REASON = re.compile(r"^.*failed:\s*(?:FATAL:\s*)?(?P<reason>.*?)\s*$", re.MULTILINE)


class DatabaseUnavailable(SruError):
    """The database server could not be reached or refused the login. The message names the server
    (host and port, database, user) and never the password."""


def connect(url: str, *, autocommit: bool = False, application_name: str = "sru") -> psycopg.Connection:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # The parser's message may quote the URL, and with it a password.
        raise ConfigError("--database-url", "is not a PostgreSQL URL or key=value connection string") from None
    extra: dict[str, Any] = {}
    if "connect_timeout" not in info and not os.environ.get("PGCONNECT_TIMEOUT"):
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        return psycopg.connect(url, autocommit=autocommit, application_name=application_name, **extra)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(describe_failure(info, exc)) from None


def open_pool(url: str, *, name: str, max_size: int, timeout: float = 30.0, check: bool = True,
              configure: Callable[[psycopg.Connection], None] | None = None) -> ConnectionPool:
    """A service's connection pool, built by its cli.py and handed to its app (each gunicorn worker
    calls the app factory after the fork, so no pool crosses a fork). Opened without waiting for the
    database: the service starts, and answers 503, while it is down. ``check``: a connection broken
    by a database restart is replaced before use rather than failed on (one round trip per checkout;
    the adapter, whose requests come every few seconds per Prometheus and are retried, goes without).
    ``timeout``: how long a request waits for a connection (the adapter passes its own per call)."""
    from psycopg_pool import ConnectionPool

    pool: ConnectionPool = ConnectionPool(
        url, min_size=1, max_size=max_size, open=False, timeout=timeout, name=name, configure=configure,
        check=ConnectionPool.check_connection if check else None, kwargs={"application_name": name})
    pool.open(wait=False)
    return pool


def describe_failure(info: dict[str, Any], exc: Exception) -> str:
    """One line: which server, and libpq's reason (its last attempt's, when it tried several addresses)."""
    host = info.get("host") or os.environ.get("PGHOST") or "the local socket"
    port = info.get("port") or os.environ.get("PGPORT") or "5432"
    where = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    dbname = info.get("dbname") or os.environ.get("PGDATABASE")
    user = info.get("user") or os.environ.get("PGUSER")
    details = ", ".join(f"{k} {v}" for k, v in (("database", dbname), ("user", user)) if v)
    reasons = [m.group("reason") for m in _REASON.finditer(str(exc)) if m.group("reason")]
    reason = reasons[-1] if reasons else (str(exc).strip().splitlines() or ["unknown error"])[0]
    password = info.get("password")
    if password:  # belt and braces: libpq never quotes it, but nothing here may print it
        reason = reason.replace(str(password), "***")
    return f"cannot connect to the database at {where}" + (f" ({details})" if details else "") + f": {reason}"


def schema_tier(conn: psycopg.Connection) -> str:
    """The TimescaleDB tier this database was migrated for: 'plain', 'apache' or 'full'."""
    row = conn.execute("SELECT value FROM sru_meta WHERE key = 'timescaledb_tier'").fetchone()
    if row is None:
        raise NotMigratedError("no timescaledb_tier in sru_meta")
    tier: str = row[0]  # a text column: psycopg's default rows are tuples of Any
    return tier


def scalar(conn: psycopg.Connection, query: LiteralString, params: Params | None = None) -> Any:
    """The first column of the row a query always returns (an aggregate, ``current_setting()``)."""
    row = conn.execute(query, params).fetchone()
    if row is None:  # a programming error: the query was meant to return exactly one row
        raise LookupError(f"query returned no row: {query!r}")
    return row[0]
