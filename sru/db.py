"""Database access shared by the server components (psycopg is imported lazily: the exporter
never needs it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

TIERS = ("plain", "apache", "full")


def connect(url: str, *, autocommit: bool = False, application_name: str = "sru") -> "psycopg.Connection":
    import psycopg

    return psycopg.connect(url, autocommit=autocommit, application_name=application_name)


def schema_tier(conn: "psycopg.Connection") -> str:
    """The TimescaleDB tier this database was migrated for: 'plain', 'apache' or 'full'."""
    row = conn.execute("SELECT value FROM sru_meta WHERE key = 'timescaledb_tier'").fetchone()
    if row is None:
        raise LookupError("database is not migrated: run `sru db migrate`")
    return row[0]
