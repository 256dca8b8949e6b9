"""`sru db migrate`: tier detection, idempotence, refusal of edited migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from sru.errors import MigrationError
from sru.migrate import Migration, load_migrations, migrate

SRU = str(Path(sys.executable).parent / "sru")


@pytest.fixture
def empty_db(pg_cluster):
    name = f"t_empty_{os.getpid()}_{os.urandom(3).hex()}"
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_cluster.url(name)
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _dump_schema(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "WHERE n.nspname = 'public' ORDER BY 1, 3").fetchall()


@pytest.mark.parametrize("flag, tier", [("off", "plain"), ("auto", "apache")])
def test_cli_migrates_twice_and_reports_the_tier(empty_db, flag, tier) -> None:
    first = subprocess.run([SRU, "db", "migrate", "--timescaledb", flag], capture_output=True, text=True,
                           env={**os.environ, "SRU_DATABASE_URL": empty_db})
    assert first.returncode == 0, first.stderr
    assert f"TimescaleDB tier: {tier}" in first.stdout
    assert "002_core_tables.sql" in first.stdout
    before = _dump_schema(empty_db)
    second = subprocess.run([SRU, "db", "migrate", "--database-url", empty_db, "--timescaledb", flag],
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert f"TimescaleDB tier: {tier}" in second.stdout
    assert "nothing applied" in second.stdout
    assert _dump_schema(empty_db) == before


def test_cli_names_a_missing_database_url() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SRU_DATABASE_URL"}
    r = subprocess.run([SRU, "db", "migrate"], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert "--database-url" in r.stderr and "Traceback" not in r.stderr


def test_edited_migration_is_refused(empty_db) -> None:
    migrations = load_migrations()
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn, timescaledb="off", migrations=migrations)
        edited = [Migration(m.filename, m.sql + "\n-- edited", m.tiers) if m.filename.startswith("002")
                  else m for m in migrations]
        with pytest.raises(MigrationError, match="002_core_tables.sql was changed"):
            migrate(conn, timescaledb="off", migrations=edited)


def test_failed_migration_names_the_file_and_keeps_earlier_ones(empty_db) -> None:
    migrations = load_migrations() + [Migration("999_broken.sql", "SELECT no_such_function();",
                                                frozenset({"plain", "apache", "full"}))]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        with pytest.raises(MigrationError, match="999_broken.sql"):
            migrate(conn, timescaledb="off", migrations=migrations)
        applied = {r[0] for r in conn.execute("SELECT filename FROM sru_schema_migrations")}
    assert "002_core_tables.sql" in applied and "999_broken.sql" not in applied


def test_a_plain_database_stays_plain_when_timescaledb_appears(empty_db) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        assert migrate(conn, timescaledb="off").tier == "plain"
        result = migrate(conn, timescaledb="auto")
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is None
    assert result.tier == "plain" and result.applied == []
    assert any("not converted" in n for n in result.notes)
