"""Crashes lose nothing, under a real Prometheus: the adapter killed with SIGKILL (every process of
it) and restarted, and PostgreSQL stopped in immediate mode (a crash: no checkpoint, recovery from
WAL on start) and restarted. Writes are acknowledged only after commit, so Prometheus keeps and
re-sends whatever was not acknowledged, and every evaluation ends up stored."""

from __future__ import annotations

import datetime as dt
import socket
import time

import psutil

from tests.adapter.test_e2e import INTERVAL_S, prom_config, sru_exporter, usage_rows, wait_rows
from tests.fixtures.net import wait_for


def assert_every_evaluation_stored(db, prom, host: str, since: float, after: float) -> None:
    def caught_up() -> bool:
        rows = usage_rows(db, host)
        return bool(rows) and rows[-1]["timestamp"].timestamp() > after + 2 * INTERVAL_S

    wait_for(caught_up, 120, "the adapter to catch up", interval=1)
    stored = {r["timestamp"].timestamp() for r in usage_rows(db, host) if r["cpu_percent"] is not None}
    window = int(time.time() - since) + 1
    evaluated = {float(t) for t, _ in prom.query(f'sru:cpu_percent{{hostname="{host}"}}[{window}s]')[0]["values"]}
    evaluated = {t for t in evaluated if since <= t <= max(stored)}
    assert max(evaluated) > after
    missing = sorted(dt.datetime.fromtimestamp(t, dt.UTC).isoformat() for t in evaluated - stored)
    assert not missing, f"evaluations not stored: {missing}"


def test_adapter_sigkill_loses_nothing(tsdb_database, adapter_factory, prometheus_factory, process_factory,
                                       tmp_path):
    adapter = adapter_factory(tsdb_database.role_url("data_collector"), workers=2)
    port = sru_exporter(process_factory)
    prom = prometheus_factory(prom_config(tmp_path, "sru", [f"127.0.0.1:{port}"], "sru", adapter.url))
    host = socket.gethostname()
    since = wait_rows(tsdb_database, host, 2)[0]["timestamp"].timestamp()
    for _ in range(3):
        time.sleep(INTERVAL_S + 0.5)
        tree = psutil.Process(adapter.proc.pid)
        for p in [tree, *tree.children(recursive=True)]:
            p.kill()
        adapter.proc.wait()
        time.sleep(2 * INTERVAL_S)  # evaluations pile up in Prometheus's queue meanwhile
        adapter.start()
    assert_every_evaluation_stored(tsdb_database, prom, host, since, time.time())


def test_postgres_crash_loses_nothing(pg_cluster, tsdb_database, adapter_factory, prometheus_factory,
                                      process_factory, tmp_path):
    # The test cluster trades durability for speed (synchronous_commit off: a commit returns before
    # its WAL is written). A crash then loses acknowledged commits by design, so this database gets
    # the durability every deployment has.
    with tsdb_database.connect(autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{tsdb_database.name}" SET synchronous_commit = on')
    adapter = adapter_factory(tsdb_database.role_url("data_collector"), "--db.pool-timeout=1")
    port = sru_exporter(process_factory)
    prom = prometheus_factory(prom_config(tmp_path, "sru", [f"127.0.0.1:{port}"], "sru", adapter.url))
    host = socket.gethostname()
    since = wait_rows(tsdb_database, host, 2)[0]["timestamp"].timestamp()
    pg_cluster.stop("immediate")
    try:
        time.sleep(3 * INTERVAL_S)
    finally:
        pg_cluster.start()
    restarted = time.time()
    assert_every_evaluation_stored(tsdb_database, prom, host, since, restarted)
    assert adapter.metric("sru_adapter_requests_total", handler="/api/v1/write", code="503") > 0
    assert adapter.metric("sru_adapter_requests_total", handler="/api/v1/write", code="500") == 0
