"""Shared helpers of the section modules."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row


def rows(conn: psycopg.Connection, sql: Any, params: Any = ()) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()


def has_relation(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone() == (True,)


def r1(value: float | None) -> float | None:
    """One decimal, as the digest shows percentages (and as tests compare them)."""
    return None if value is None else round(float(value), 1)
