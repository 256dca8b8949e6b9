"""One backed-up site per test module: a primary of the full tier (the community edition: compressed
chunks, the continuous aggregate and its policies) archiving every WAL segment into a pgBackRest
repository, a full backup, and a hot standby streaming from it synchronously. Built once (about
30 s) and shared by the module's tests, which run in file order: the last one destroys the primary.

The primary keeps the test clusters' speed settings except ``synchronous_commit``, which is on: an
acknowledged write must mean a commit that waited for its WAL (and for the synchronous standby)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from backup.config import Repository
from backup.pgbackrest import PgBackRest
from scripts.pgcluster import FAST, PgCluster, init_cluster, migrate_template, pg_bindir, timescaledb_settings
from sru.db import scalar
from tests.fixtures.adapter import AdapterProcess
from tests.fixtures.net import free_port, wait_for
from tests.fixtures.postgres import Database, _create_role_users, _need_full_tier
from tests.support.proc import run

STANDBY_NAME = "sru_standby"
ARCHIVE_TIMEOUT_S = 2  # production: 60 (docs/operations.md); short here so a test waits seconds
SEGMENT = 16 * 1024 * 1024  # wal_segment_size, initdb's default


def lsn_int(lsn: str) -> int:
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def segment_end(wal_name: str) -> int:
    """The LSN just after WAL segment ``wal_name`` (timeline, log, segment: 8 hex digits each)."""
    return (int(wal_name[8:16], 16) << 32) + (int(wal_name[16:24], 16) + 1) * SEGMENT


@dataclass
class Site:
    base: Path
    primary: PgCluster
    standby: PgCluster
    repo: Repository
    pgbr: PgBackRest
    history_end: datetime  # the fleet's demo history ends here (dashboards are compared up to it)
    decompressed_chunk: str  # compressed, then decompressed before the backups: work for the policy

    def db(self, name: str = "sru", cluster: PgCluster | None = None) -> Database:
        return Database(cluster or self.primary, name, "full")

    def start_restored(self, datadir: Path) -> PgCluster:
        """Start a restored data directory on a free port and wait until recovery ends (promoted)."""
        cluster = PgCluster(bindir=pg_bindir(), datadir=datadir, port=free_port(), timescaledb=True,
                            log_path=datadir.parent / f"{datadir.name}.log")
        cluster.start()

        def promoted() -> bool:
            with psycopg.connect(cluster.url(), autocommit=True) as conn:
                return not scalar(conn, "SELECT pg_is_in_recovery()")

        wait_for(promoted, 120, f"{datadir} to finish recovery (log {cluster.log})", interval=0.2)
        return cluster


@dataclass
class Stream:
    """A live remote-write stream through the real adapter: one batch (one sample of one host) after
    another, each remembered with the WAL position the primary had reached once it was acknowledged
    (at or past the batch's commit record)."""
    adapter: AdapterProcess
    primary_url: str
    host: str
    acked: list[tuple[int, int]] = field(default_factory=list)  # (timestamp ms, WAL position after the ack)
    failed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, first_ms: int) -> Stream:
        self._thread = threading.Thread(target=self._run, args=(first_ms,), daemon=True)
        self._thread.start()
        return self

    def _run(self, t: int) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.is_set():
            labels = {"__name__": "sru:cpu_percent", "hostname": self.host, "instance": f"{self.host}:9847",
                      "job": "sru"}
            try:
                ok = self.adapter.write([(labels, [(t, float(t // 1000 % 100))])]).status_code == 204
            except OSError:
                ok = False
            if not ok:
                self.failed += 1
                time.sleep(0.05)
                continue
            try:
                if conn is None:
                    conn = psycopg.connect(self.primary_url, autocommit=True, connect_timeout=2)
                lsn = scalar(conn, "SELECT pg_current_wal_insert_lsn()::text")
            except psycopg.OperationalError:
                return  # the primary is gone: this batch's position is unknown, and the stream ends
            self.acked.append((t, lsn_int(lsn)))
            t += 1000

    def wait_for_acks(self, n: int, timeout: float = 30) -> None:
        target = len(self.acked) + n
        wait_for(lambda: len(self.acked) >= target, timeout, f"{n} more acknowledged batches", interval=0.05)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)


def stored_stamps(db: Database, host: str) -> set[int]:
    with db.connect() as conn:
        rows = conn.execute("SELECT m.timestamp FROM usage_metrics m JOIN systems s ON s.id = m.system_id "
                            "WHERE s.hostname = %s", (host,)).fetchall()
    return {int(r[0].timestamp() * 1000) for r in rows}


def _jobs(conn: psycopg.Connection, proc: str) -> list[int]:
    return [r[0] for r in conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = %s "
                                       "ORDER BY job_id", (proc,))]


def run_jobs(conn: psycopg.Connection, proc: str) -> list[int]:
    """Run every job of ``proc`` now (the full-tier test servers have no scheduler); their ids."""
    jobs = _jobs(conn, proc)
    for job in jobs:
        conn.execute("CALL run_job(%s)", (job,))
    return jobs


def _start_standby(site_base: Path, primary: PgCluster) -> PgCluster:
    data = site_base / "standby"
    run(["pg_basebackup" if shutil.which("pg_basebackup") else str(pg_bindir() / "pg_basebackup"),
         "-h", primary.host, "-p", str(primary.port), "-U", "postgres", "-D", str(data), "-X", "stream",
         "-c", "fast", "-R", "--no-sync"], as_postgres=True, timeout=120)
    # The standby archives nothing itself (its primary does; two servers pushing one timeline into
    # one repository conflict); it names itself for synchronous_standby_names.
    extra = (f"primary_conninfo = 'host={primary.host} port={primary.port} user=postgres "
             f"application_name={STANDBY_NAME}'\narchive_mode = off\n")
    run(["sh", "-c", f"cat >> {data}/postgresql.auto.conf"], as_postgres=True, input=extra)
    standby = PgCluster(bindir=pg_bindir(), datadir=data, port=free_port(), timescaledb=True,
                        log_path=site_base / "standby.log")
    standby.start()
    return standby


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    _need_full_tier()
    # In memory where there is a tmpfs: pgBackRest syncs every file it writes (2,600 of them per
    # backup), which took 20 s of a loaded 2-core machine's disk and 5 s in memory. Durability of the
    # machine is not under test; what a restore gets back is.
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(prefix="sru-backup-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    shutil.chown(base, "postgres", "postgres")
    port = free_port()
    data = base / "primary"
    repo = Repository(repo_path=base / "repo", data_dir=data, port=port, socket_dir=data,
                      work_dir=base / "pgbackrest")
    repo.write()
    init_cluster(data, {"max_connections": "100", **FAST, "synchronous_commit": "on", "port": str(port),
                        **timescaledb_settings("timescale"), **repo.archive_settings(ARCHIVE_TIMEOUT_S)})
    primary = PgCluster(bindir=pg_bindir(), datadir=data, port=port, timescaledb=True, log_path=base / "primary.log")
    primary.start()
    standby: PgCluster | None = None
    try:
        assert migrate_template(primary, "sru_tpl_full", "require") == "full"
        _create_role_users(primary)
        with psycopg.connect(primary.url(), autocommit=True) as conn:
            for name in ("sru", "stream"):
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE sru_tpl_full')
            conn.execute("ALTER DATABASE sru_tpl_full IS_TEMPLATE false")
            conn.execute("DROP DATABASE sru_tpl_full")  # 700 files fewer to back up and restore
        history_end, chunk = _load_history(Database(primary, "sru", "full"))
        pgbr = PgBackRest(config=str(repo.config_path))
        pgbr.stanza_create()
        pgbr.backup("full")
        standby = _start_standby(base, primary)
        with psycopg.connect(primary.url(), autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
            conn.execute("SELECT pg_reload_conf()")

            def synchronous() -> bool:
                return conn.execute("SELECT 1 FROM pg_stat_replication WHERE application_name = %s "
                                    "AND sync_state = 'sync'", (STANDBY_NAME,)).fetchone() is not None

            wait_for(synchronous, 60, "the standby to stream synchronously", interval=0.2)
        yield Site(base, primary, standby, repo, pgbr, history_end, chunk)
    finally:
        for cluster in (standby, primary):
            if cluster is not None and cluster.is_running():
                cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def _load_history(db: Database) -> tuple[datetime, str]:
    """The console's demo fleet (16 days hourly, an optimizer pass, alerts), compressed where a chunk
    is older than the policy's 7 days; one compressed chunk is decompressed again, so that the
    compression job has work to do after a restore."""
    from tests.web.conftest import load_fleet

    load_fleet(db)
    with db.connect(autocommit=True) as conn:
        run_jobs(conn, "policy_compression")
        run_jobs(conn, "policy_refresh_continuous_aggregate")
        chunk = conn.execute("SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
                             "WHERE hypertable_name = 'usage_metrics' AND is_compressed "
                             "ORDER BY range_start LIMIT 1").fetchone()
        assert chunk, "nothing was compressed"
        conn.execute("SELECT decompress_chunk(%s::regclass)", (chunk[0],))
        end = scalar(conn, "SELECT max(timestamp) FROM usage_metrics")
    return end.astimezone(UTC), chunk[0]
