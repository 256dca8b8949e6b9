"""Prometheus HA pairs: per cluster only the elected replica is stored, with the lease in
PostgreSQL so that several adapter processes agree; tested with real adapters, and end to end with
two real Prometheus replicas scraping the same exporter."""

from __future__ import annotations

import socket
import time
from itertools import pairwise

import pytest
from psycopg import errors

from tests.adapter.test_e2e import INTERVAL_S, prom_config, sru_exporter, usage_rows
from tests.adapter.test_write import rows
from tests.fixtures.adapter import Series
from tests.fixtures.net import wait_for

T0 = 1_700_000_000_000


def ha_series(replica: str, t: int, host: str = "lab1", cluster: str = "eu1") -> list[Series]:
    return [({"__name__": "sru:cpu_percent", "hostname": host, "cluster": cluster, "__replica__": replica},
             [(t, 10.0)])]


def leader(db, cluster: str = "eu1") -> str | None:
    got = rows(db, "SELECT leader FROM sru_ha_leases WHERE cluster = %s", cluster)
    return got[0][0] if got else None


def test_two_adapters_agree_on_one_replica_and_it_fails_over(database, adapter_factory):
    url = database.role_url("data_collector")
    a = adapter_factory(url, "--ha.lease-timeout=2s")
    b = adapter_factory(url, "--ha.lease-timeout=2s")
    assert a.write(ha_series("r1", T0)).status_code == 204
    # r2 is refused with a 2xx (Prometheus must not retry) by either adapter, and counted.
    r = b.write(ha_series("r2", T0 + 1))
    assert r.status_code == 202 and "not stored" in r.text
    assert a.write(ha_series("r2", T0 + 2)).status_code == 202
    assert b.write(ha_series("r1", T0 + 3)).status_code == 204
    # Another cluster has its own election; series without the labels are stored as before.
    assert b.write(ha_series("r2", T0 + 4, cluster="us1")).status_code == 204
    assert a.write([({"__name__": "sru:cpu_percent", "hostname": "lab9"}, [(T0, 1.0)])]).status_code == 204
    assert rows(database, "SELECT s.hostname, extract(epoch FROM m.timestamp) * 1000 FROM usage_metrics m "
                          "JOIN systems s ON s.id = m.system_id ORDER BY 1, 2") == [
        ("lab1", T0), ("lab1", T0 + 3), ("lab1", T0 + 4), ("lab9", T0)]
    assert leader(database) == "r1" and leader(database, "us1") == "r2"
    assert sum(x.metric("sru_adapter_ha_requests_total", result="follower_dropped") for x in (a, b)) == 2
    # r1 keeps the lease while it sends (over several lease lengths) ...
    for i in range(10):
        assert (a if i % 2 else b).write(ha_series("r1", T0 + 10 + i)).status_code == 204
        assert (b if i % 2 else a).write(ha_series("r2", T0 + 10 + i)).status_code == 202
        time.sleep(0.5)
    # ... and loses it once it has been silent for the timeout.
    deadline = time.monotonic() + 10
    while b.write(ha_series("r2", T0 + 100)).status_code != 204:
        assert time.monotonic() < deadline, "r2 never took over"
        time.sleep(0.2)
    assert leader(database) == "r2"
    assert a.write(ha_series("r1", T0 + 101)).status_code == 202
    # The replica label is not stored anywhere.
    assert rows(database, "SELECT count(*) FROM systems WHERE hostname IN ('r1', 'r2')") == [(0,)]


def test_data_collector_cannot_delete_or_truncate_leases(database):
    with database.connect("data_collector") as conn:
        conn.execute("INSERT INTO sru_ha_leases (cluster, leader, lease_until) VALUES ('c', 'r', now())")
        for sql in ("DELETE FROM sru_ha_leases", "TRUNCATE sru_ha_leases"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(sql)
            conn.rollback()


def test_ha_options_are_checked(tmp_path):
    from tests.support.proc import sru

    for arg, option in (("--ha.lease-timeout=0", "--ha.lease-timeout"), ("--ha.replica-label=a-b", "--ha.replica-label"),
                        ("--ha.cluster-label=1x", "--ha.cluster-label")):
        p = sru("adapter", "--database-url=postgresql://x@127.0.0.1:1/x", arg)
        assert p.returncode != 0 and option in p.stderr, p.stderr


def test_two_prometheus_replicas_store_once_and_fail_over(tsdb_database, adapter_factory, prometheus_factory,
                                                          process_factory, tmp_path):
    timeout = 6.0
    adapter = adapter_factory(tsdb_database.role_url("data_collector"), f"--ha.lease-timeout={timeout:g}s", workers=2)
    port = sru_exporter(process_factory)
    proms = {}
    for replica in ("a", "b"):
        d = tmp_path / replica  # own rule file path: the replicas evaluate at different offsets
        d.mkdir()
        cfg = prom_config(d, "sru", [f"127.0.0.1:{port}"], "sru", adapter.url)
        cfg["global"]["external_labels"] = {"cluster": "lab", "__replica__": replica}
        proms[replica] = prometheus_factory(cfg)
    host = socket.gethostname()
    wait_for(lambda: leader(tsdb_database, "lab") is not None
             and len(usage_rows(tsdb_database, host)) >= 5, 60, "5 rows from the elected replica")
    first = leader(tsdb_database, "lab")
    assert first is not None
    time.sleep(2 * INTERVAL_S)
    assert adapter.metric("sru_adapter_ha_requests_total", result="follower_dropped") > 0
    # One replica stored: its rows are one evaluation interval apart, never interleaved.
    stamps = [r["timestamp"].timestamp() for r in usage_rows(tsdb_database, host)]
    gaps = [b - a for a, b in pairwise(stamps)]
    assert gaps and all(abs(g - INTERVAL_S) < 0.5 for g in gaps), gaps
    # Kill the leader: the other replica takes over within the timeout.
    killed_at = time.time()
    proms[first].proc.kill()
    proms[first].proc.wait()
    other = "b" if first == "a" else "a"
    wait_for(lambda: leader(tsdb_database, "lab") == other, timeout + 20, "the other replica to take over")
    wait_for(lambda: usage_rows(tsdb_database, host)[-1]["timestamp"].timestamp() > killed_at + timeout, 30,
             "rows from the new leader")
    stamps = [r["timestamp"].timestamp() for r in usage_rows(tsdb_database, host)]
    gaps = [b - a for a, b in pairwise(stamps)]
    # No rows from both (never closer than half an interval), no gap longer than the timeout plus
    # one evaluation (plus the remote-write batch deadline of 1 s the leader's last samples waited).
    assert min(gaps) > INTERVAL_S / 2, gaps
    assert max(gaps) <= timeout + INTERVAL_S + 1.0, gaps
