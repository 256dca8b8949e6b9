"""A throwaway PostgreSQL cluster for the benchmarks (the test suite's fixture code, reused)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sru.migrate import migrate  # noqa: E402
from tests.fixtures.postgres import PgCluster, start_cluster  # noqa: E402


def cluster(license: str | None = "apache") -> PgCluster:
    """``license``: the server's timescaledb.license ('apache' or 'timescale'), None for no TimescaleDB."""
    return start_cluster(license)


def new_database(c: PgCluster, name: str, timescaledb: str) -> str:
    with psycopg.connect(c.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'sru_bench'").fetchone():
            conn.execute("DO $$BEGIN CREATE ROLE data_collector NOLOGIN; EXCEPTION WHEN duplicate_object THEN END$$")
    with psycopg.connect(c.url(name), autocommit=True) as conn:
        migrate(conn, timescaledb=timescaledb)
    with psycopg.connect(c.url(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'sru_bench'").fetchone():
            conn.execute("CREATE ROLE sru_bench LOGIN IN ROLE data_collector")
    return c.url(name)


def shutdown(c: PgCluster) -> None:
    if c.is_running():
        c.stop("immediate")
    shutil.rmtree(c.datadir.parent, ignore_errors=True)
