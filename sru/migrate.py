"""Ordered SQL migrations with TimescaleDB tier detection.

Files in ``sql/`` are named ``NNN_name.sql`` and applied in name order, each in its own transaction,
and recorded with a checksum in ``sru_schema_migrations``. A first line ``-- tiers: plain apache
full`` limits a file to some tiers; the same number may appear in several files that cover
different tiers. Files named ``R__name.sql`` are *repeatable* (as Flyway's): each holds the current definition of
one function or view (``CREATE OR REPLACE``), and is re-applied, after the numbered files, whenever
its checksum differs from the one recorded. A numbered file that defined the same object earlier is
history; the ``R__`` file is the body in force. The tier is detected on the first run and kept in
``sru_meta``:

* ``plain``  — no TimescaleDB: ordinary tables;
* ``apache`` — TimescaleDB Apache edition: hypertables;
* ``full``   — TimescaleDB community edition: also compression, retention, continuous aggregates.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from sru.db import scalar
from sru.errors import MigrationError

if TYPE_CHECKING:
    import psycopg

TIER_NAMES = ("plain", "apache", "full")
_TIERS_LINE = re.compile(r"^--\s*tiers:\s*(?P<tiers>[a-z ]+)$")
_LOCK_KEY = 0x5352554D  # "SRUM": serialises concurrent `sru db migrate` runs


@dataclass(frozen=True)
class Migration:
    filename: str
    sql: str
    tiers: frozenset[str]

    @property
    def repeatable(self) -> bool:
        return self.filename.startswith("R__")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass
class MigrateResult:
    tier: str
    applied: list[str]
    notes: list[str]


def load_migrations() -> list[Migration]:
    """Numbered files in name order, then the repeatable ``R__`` files in name order."""
    out = []
    files = resources.files("sru.sql")
    names = sorted(e.name for e in files.iterdir())
    numbered = [n for n in names if re.match(r"^\d{3}_[a-z0-9_]+\.sql$", n)]
    repeatable = [n for n in names if re.match(r"^R__[a-z0-9_]+\.sql$", n)]
    for name in numbered + repeatable:
        entry = files / name
        sql = entry.read_text(encoding="utf-8")
        first = sql.splitlines()[0].strip() if sql else ""
        m = _TIERS_LINE.match(first)
        tiers = frozenset(m.group("tiers").split()) if m else frozenset(TIER_NAMES)
        unknown = tiers - set(TIER_NAMES)
        if unknown:
            raise MigrationError(f"{entry.name}: unknown tiers {sorted(unknown)}")
        out.append(Migration(entry.name, sql, tiers))
    return out


def detect_tier(conn: psycopg.Connection, timescaledb: str) -> str:
    """What the server offers. ``timescaledb`` is 'auto', 'off', 'require' or 'full'."""
    if timescaledb == "off":
        return "plain"
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    preload = scalar(conn, "SELECT current_setting('shared_preload_libraries')")
    if not available or "timescaledb" not in preload:
        if timescaledb in ("require", "full"):
            why = "not installed" if not available else "not in shared_preload_libraries"
            raise MigrationError(f"--timescaledb={timescaledb}: the TimescaleDB extension is {why}")
        return "plain"
    license_ = scalar(conn, "SELECT current_setting('timescaledb.license', true)")
    if license_ is None:
        license_ = _probe_license(conn)
    return "full" if license_ == "timescale" else "apache"


def _probe_license(conn: psycopg.Connection) -> str | None:
    """The server's ``timescaledb.license`` where this session has not loaded TimescaleDB yet.

    Only the preloaded loader runs before ``CREATE EXTENSION``; the versioned library that defines
    ``timescaledb.license`` (and its default, 'timescale' in the community edition) is loaded by the
    extension. So a second session creates it inside a transaction, reads the setting and rolls
    back: the database is left as it was, and this session stays free to create the extension (one
    backend cannot create it again after a rolled-back creation)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    params = conn.info.get_parameters()
    password = conn.pgconn.password
    if password:
        params["password"] = password.decode()
    params["application_name"] = "sru-migrate-probe"
    with psycopg.connect(make_conninfo(**params), autocommit=True) as probe:
        value: str | None = None
        with probe.transaction():
            probe.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            value = scalar(probe, "SELECT current_setting('timescaledb.license', true)")
            raise psycopg.Rollback()
        return value


def _bootstrap(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS sru_schema_migrations (
          filename   text PRIMARY KEY,
          checksum   text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS sru_meta (
          key   text PRIMARY KEY,
          value text NOT NULL
        );
        """
    )


def migrate(conn: psycopg.Connection, *, timescaledb: str = "auto",
            migrations: Iterable[Migration] | None = None) -> MigrateResult:
    """Bring the schema up to date. ``conn`` must be in autocommit mode; each file gets its own
    transaction so a failure leaves every earlier file applied and recorded."""
    if not conn.autocommit:
        raise MigrationError("migrate() needs an autocommit connection")
    migrations = list(migrations if migrations is not None else load_migrations())
    notes: list[str] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        with conn.transaction():
            _bootstrap(conn)
            row = conn.execute("SELECT value FROM sru_meta WHERE key = 'timescaledb_tier'").fetchone()
            offered = detect_tier(conn, timescaledb)
            if row is None:
                tier = offered
                if tier != "plain":
                    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                conn.execute("INSERT INTO sru_meta (key, value) VALUES ('timescaledb_tier', %s)", (tier,))
            else:
                tier = row[0]
                if tier == "plain" and offered != "plain":
                    notes.append(
                        f"database was migrated on tier 'plain'; the server now offers '{offered}', "
                        "but existing tables are not converted"
                    )
                elif TIER_NAMES.index(offered) < TIER_NAMES.index(tier):
                    raise MigrationError(
                        f"database was migrated on tier '{tier}' but the server offers only '{offered}'"
                    )
            if timescaledb == "full" and tier != "full":
                why = (f"the server offers only tier '{offered}' (timescaledb.license = 'apache', or an "
                       "Apache-only build)" if offered != "full"
                       else f"this database was migrated on tier '{tier}' before")
                raise MigrationError(f"--timescaledb=full: {why}; compression, continuous aggregates "
                                     "and retention policies need the community edition")
            done: dict[str, str] = dict(conn.execute("SELECT filename, checksum FROM sru_schema_migrations").fetchall())
        applied = []
        for mig in migrations:
            if mig.filename in done and mig.repeatable and done[mig.filename] == mig.checksum:
                continue
            if mig.filename in done and not mig.repeatable:
                if done[mig.filename] != mig.checksum:
                    raise MigrationError(
                        f"{mig.filename} was changed after it was applied; add a new migration instead"
                    )
                continue
            if tier not in mig.tiers:
                continue
            try:
                with conn.transaction():
                    conn.execute(mig.sql)
                    conn.execute(
                        "INSERT INTO sru_schema_migrations (filename, checksum) VALUES (%s, %s) "
                        "ON CONFLICT (filename) DO UPDATE SET checksum = EXCLUDED.checksum, "
                        "applied_at = now()",
                        (mig.filename, mig.checksum),
                    )
            except Exception as exc:  # psycopg.Error: report which file failed
                raise MigrationError(f"{mig.filename}: {exc}".strip()) from exc
            applied.append(mig.filename)
        with conn.transaction():
            conn.execute("GRANT SELECT ON sru_meta, sru_schema_migrations TO admin, data_collector, "
                         "dashboard_readonly, analyst")
        return MigrateResult(tier=tier, applied=applied, notes=notes)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
