"""A small demo fleet (7 hosts, one per archetype, 42 days at 1 h) with one optimizer pass, shared by
the tests that only read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

END = datetime(2025, 3, 30, 23, 0, tzinfo=UTC)   # a Sunday night
NOW = END + timedelta(hours=1)


def optimize(db, role: str | None = None, **kw):
    """One optimizer pass on a connection of ``role`` (default: the schema owner)."""
    from optimizer.run import run_once

    with db.connect(role) as conn:
        return run_once(conn, **kw)


def load_demo(db, hosts: int = 7, days: int = 42, interval: timedelta = timedelta(hours=1), end=END):
    from optimizer.demo import generate

    with db.connect() as conn:
        return generate(conn, hosts=hosts, days=days, interval=interval, seed=3, end=end)
