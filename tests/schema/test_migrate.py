"""`sru db migrate`: tier detection, idempotence, refusal of edited migrations."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import psycopg
import pytest

from sru.db import scalar
from sru.errors import MigrationError
from sru.migrate import Migration, load_migrations, migrate
from tests.fixtures.postgres import empty_database
from tests.support.proc import sru


@pytest.fixture
def empty_db(pg_cluster):
    yield from empty_database(pg_cluster)


def _dump_schema(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "WHERE n.nspname = 'public' ORDER BY 1, 3").fetchall()


@pytest.mark.parametrize("flag, tier", [("off", "plain"), ("auto", "apache")])
def test_cli_migrates_twice_and_reports_the_tier(empty_db, flag, tier) -> None:
    first = sru("db", "migrate", "--timescaledb", flag, env={**os.environ, "SRU_DATABASE_URL": empty_db})
    assert first.returncode == 0, first.stderr
    assert f"TimescaleDB tier: {tier}" in first.stdout
    assert "002_core_tables.sql" in first.stdout
    before = _dump_schema(empty_db)
    second = sru("db", "migrate", "--database-url", empty_db, "--timescaledb", flag)
    assert second.returncode == 0, second.stderr
    assert f"TimescaleDB tier: {tier}" in second.stdout
    assert "nothing applied" in second.stdout
    assert _dump_schema(empty_db) == before


def test_cli_names_a_missing_database_url() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SRU_DATABASE_URL"}
    r = sru("db", "migrate", env=env)
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


@pytest.fixture
def empty_db_full(pg_cluster_full):
    yield from empty_database(pg_cluster_full)


def _migrate_cli(url: str, flag: str) -> subprocess.CompletedProcess[str]:
    return sru("db", "migrate", "--database-url", url, "--timescaledb", flag)


def test_community_server_fresh_database_is_full(empty_db_full) -> None:
    # The extension does not exist yet in this database, so this session has not loaded the library
    # that defines timescaledb.license: detection must still answer full.
    with psycopg.connect(empty_db_full) as conn:
        assert conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone() == (None,)
    r = _migrate_cli(empty_db_full, "auto")
    assert r.returncode == 0, r.stderr
    assert "TimescaleDB tier: full" in r.stdout
    with psycopg.connect(empty_db_full) as conn:
        # hourly_performance_stats and the usage ledger's four (063)
        assert conn.execute("SELECT count(*) FROM timescaledb_information.continuous_aggregates"
                            ).fetchone() == (5,)
    assert "TimescaleDB tier: full" in _migrate_cli(empty_db_full, "full").stdout


def test_tier_full_required_on_an_apache_server_fails_loudly(empty_db) -> None:
    r = _migrate_cli(empty_db, "full")
    assert r.returncode != 0
    assert "--timescaledb=full" in r.stderr and "'apache'" in r.stderr and "Traceback" not in r.stderr
    with psycopg.connect(empty_db) as conn:
        # Nothing was recorded: the same database can still be migrated once the server is fixed.
        assert conn.execute("SELECT to_regclass('sru_meta')").fetchone() == (None,)


def test_tier_full_required_on_a_database_migrated_as_apache(empty_db_full) -> None:
    with psycopg.connect(empty_db_full, autocommit=True) as conn:
        # What a database first migrated under license 'apache' keeps: its recorded tier.
        conn.execute("CREATE TABLE sru_meta (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute("INSERT INTO sru_meta VALUES ('timescaledb_tier', 'apache')")
    r = _migrate_cli(empty_db_full, "full")
    assert r.returncode != 0 and "migrated on tier 'apache'" in r.stderr, r.stderr


def test_server_without_the_library_is_plain() -> None:
    from scripts.pgcluster import shutdown_cluster, start_cluster

    cluster = start_cluster(license=None)
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            assert "timescaledb" not in scalar(conn, "SHOW shared_preload_libraries")
            conn.execute("CREATE DATABASE fresh")
        assert "TimescaleDB tier: plain" in _migrate_cli(cluster.url("fresh"), "auto").stdout
        r = _migrate_cli(cluster.url("fresh"), "require")
        assert r.returncode != 0 and "not in shared_preload_libraries" in r.stderr
    finally:
        shutdown_cluster(cluster)
