"""PostgreSQL is unreachable for 60 s while a real Prometheus keeps remote-writing: the adapter answers
503, Prometheus keeps the data and retries, and afterwards every evaluation timestamp is stored. The
adapter reaches PostgreSQL through a proxy the test cuts (live connections dropped, new ones refused),
so the server the session's other tests share keeps running."""

from __future__ import annotations

import datetime as dt
import socket
import time
from itertools import pairwise

from tests.adapter.test_e2e import INTERVAL_S, prom_config, sru_exporter, usage_rows, wait_rows
from tests.fixtures.net import wait_for

OUTAGE_S = 60


def test_database_outage_loses_nothing(tsdb_database, tcp_proxy, adapter_factory, prometheus_factory,
                                       process_factory, tmp_path):
    proxy = tcp_proxy(tsdb_database.cluster.host, tsdb_database.cluster.port)
    adapter = adapter_factory(tsdb_database.role_url("data_collector", proxy.port), "--db.pool-timeout=1s")
    port = sru_exporter(process_factory)
    prom = prometheus_factory(prom_config(tmp_path, "sru", [f"127.0.0.1:{port}"], "sru", adapter.url))
    host = socket.gethostname()
    before = wait_rows(tsdb_database, host, 2)
    stopped_at = time.time()
    with proxy.outage():
        time.sleep(OUTAGE_S)
    restarted_at = time.time()
    assert adapter.metric("sru_adapter_requests_total", handler="/api/v1/write", code="503") > 0

    # Wait until rows evaluated well after the restart have arrived, i.e. the backlog is through.
    def caught_up() -> bool:
        rows = usage_rows(tsdb_database, host)
        return bool(rows) and rows[-1]["timestamp"].timestamp() > restarted_at + 2 * INTERVAL_S

    wait_for(caught_up, 90, "the adapter to catch up after the outage", interval=1)
    stored = {r["timestamp"].timestamp() for r in usage_rows(tsdb_database, host) if r["cpu_percent"] is not None}
    # Prometheus's own record of every evaluation of the rule over the window.
    window = int(time.time() - before[0]["timestamp"].timestamp()) + 1
    evaluated = {float(t) for t, _ in prom.query(f'sru:cpu_percent{{hostname="{host}"}}[{window}s]')[0]["values"]}
    evaluated = {t for t in evaluated if t <= max(stored)}
    assert min(evaluated) < stopped_at and max(evaluated) > restarted_at
    missing = sorted(dt.datetime.fromtimestamp(t, dt.UTC).isoformat() for t in evaluated - stored)
    assert not missing, f"evaluations not stored: {missing}"
    spacing = sorted(stored)
    assert all(round(b - a) == INTERVAL_S for a, b in pairwise(spacing))
