"""Throwaway or kept PostgreSQL clusters for the benchmarks: scripts/pgcluster.py (the code the
test fixtures and `make up` run), plus a migrated database with a ``sru_bench`` login per benchmark."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.pgcluster import (  # noqa: E402
    FAST,
    PgCluster,
    open_cluster,
    shutdown_cluster,
    start_cluster,
    timescaledb_settings,
)
from sru.db import scalar  # noqa: E402
from sru.migrate import migrate  # noqa: E402


def cluster(license: str | None = "apache") -> PgCluster:
    """``license``: the server's timescaledb.license ('apache' or 'timescale'), None for no TimescaleDB."""
    return start_cluster(license)


def kept_cluster(base: Path, tier: str) -> PgCluster:
    """A cluster in ``base`` that outlives the run (the test clusters' settings), started if stopped:
    BASE/data serves plain and apache (license apache), BASE/full/data the full tier. Stop it with
    ``pg_ctl -D BASE/data stop`` (as postgres when root); remove BASE to start over."""
    if tier == "full":
        return open_cluster(base / "full" / "data", {**FAST, **timescaledb_settings("timescale")})
    return open_cluster(base / "data", {**FAST, **timescaledb_settings("apache")})


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


def backend_cpu_s(conn: psycopg.Connection) -> float | None:
    """CPU seconds the server process of ``conn`` has used so far (user + system, from /proc: the
    cluster runs on this machine), None when /proc cannot tell. Unlike wall time, it does not grow
    with the load of other jobs on the machine."""
    pid = scalar(conn, "SELECT pg_backend_pid()")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shutdown(c: PgCluster) -> None:
    shutdown_cluster(c)
