"""A small demo fleet (7 hosts, one per archetype, 42 days at 1 h) with one optimizer pass, shared by
the tests that only read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fixtures.postgres import Database, filled_from_template

END = datetime(2025, 3, 30, 23, 0, tzinfo=UTC)   # a Sunday night
NOW = END + timedelta(hours=1)


def optimize(db, role: str | None = None, **kw):
    """One optimizer pass on a connection of ``role`` (default: the schema owner)."""
    from optimizer.run import run_once

    with db.connect(role) as conn:
        return run_once(conn, **kw)


def load_demo(db, hosts: int = 7, days: int = 42, interval: timedelta = timedelta(hours=1), end=END):
    """The demo fleet on a fresh ``db`` (before anything else touches it): generated once per tier
    and arguments in the session, then copied (tests/fixtures/postgres.py filled_from_template).
    ``end=None`` ends at now: generated anew, as the hour moves on."""
    from optimizer.demo import DemoResult, generate

    def fill(target: Database) -> DemoResult:
        with target.connect() as conn:
            return generate(conn, hosts=hosts, days=days, interval=interval, seed=3, end=end)

    if end is None:
        return fill(db)
    return filled_from_template(db, ("demo", hosts, days, interval, end), fill)
