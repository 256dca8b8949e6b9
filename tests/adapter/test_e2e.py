"""End to end with real parts: this host → `sru exporter` (or Debian's prometheus-node-exporter) →
Debian's Prometheus evaluating the shipped recording rules → remote write → `sru adapter` →
TimescaleDB; and back through a real Prometheus `remote_read`."""

from __future__ import annotations

import os
import socket
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import psutil
import pytest

from remote_write_adapter.rules import render_rules
from remote_write_adapter.sample_config import remote_read, remote_write
from tests.fixtures.net import free_port, wait_for

INTERVAL_S = 3
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
# usage column -> exporter family it is computed from (a column is required when its family exists)
SOURCES = {
    "cpu_percent": "sru_cpu_seconds_total", "cpu_per_core": "sru_cpu_seconds_total",
    "disk_io_wait_percent": "sru_cpu_seconds_total", "cpu_temp": "sru_cpu_temperature_celsius",
    "ram_percent": "sru_memory_available_bytes", "swap_percent": "sru_swap_used_bytes",
    "gpu_utilization": "sru_gpu_utilization_ratio", "gpu_temp": "sru_gpu_temperature_celsius",
    "gpu_memory_percent": "sru_gpu_memory_used_bytes", "disk_read_mb_s": "sru_disk_read_bytes_total",
    "disk_write_mb_s": "sru_disk_written_bytes_total", "net_sent_mb_s": "sru_network_transmit_bytes_total",
    "net_recv_mb_s": "sru_network_receive_bytes_total", "load_1m": "sru_load1",
}


def sru_exporter(process_factory) -> int:
    port = free_port()
    process_factory([str(Path(sys.executable).parent / "sru"), "exporter",
                     f"--web.listen-address=127.0.0.1:{port}"], port)
    return port


def prom_config(tmp_path: Path, variant: str, targets: list[str], job: str, adapter_url: str) -> dict[str, Any]:
    rules = tmp_path / f"recording-{variant}.yml"
    rules.write_text(render_rules(variant, f"{INTERVAL_S}s"))
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": f"{INTERVAL_S}s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": job, "static_configs": [
            {"targets": targets, "labels": {"location": "ci-rack"}}]}],
        "remote_write": [remote_write(adapter_url + "/api/v1/write", batch_send_deadline="1s",
                                      min_backoff="100ms", max_backoff="1s")],
    }


def usage_rows(db, hostname: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        cur = conn.execute("SELECT m.* FROM usage_metrics m JOIN systems s ON s.id = m.system_id "
                           "WHERE s.hostname = %s ORDER BY m.timestamp", (hostname,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]


def wait_rows(db, hostname: str, n: int, column: str = "cpu_percent", timeout: float = 60) -> list[dict[str, Any]]:
    def enough() -> bool:
        return sum(r[column] is not None for r in usage_rows(db, hostname)) >= n

    wait_for(enough, timeout, f"{n} usage_metrics rows for {hostname}", interval=0.5)
    return usage_rows(db, hostname)


def test_walking_skeleton_sru_exporter(tsdb_database, adapter_factory, prometheus_factory, process_factory,
                                       tmp_path):
    adapter = adapter_factory(tsdb_database.role_url("data_collector"), workers=2)
    port = sru_exporter(process_factory)
    prom = prometheus_factory(prom_config(tmp_path, "sru", [f"127.0.0.1:{port}"], "sru", adapter.url))
    host = socket.gethostname()
    rows = [r for r in wait_rows(tsdb_database, host, 3) if r["cpu_percent"] is not None]

    cores = psutil.cpu_count()
    assert cores is not None
    for r in rows:
        assert 0 <= r["cpu_percent"] <= 100
        assert 0 < r["ram_percent"] < 100
        assert set(r["cpu_per_core"]) == {str(i) for i in range(cores)}
    assert abs(rows[-1]["ram_percent"] - psutil.virtual_memory().percent) < 15
    # Every column whose source the exporter has on this host is filled.
    families = {m["metric"]["__name__"] for m in prom.query('{__name__=~"sru_.+"}')}
    for column, family in SOURCES.items():
        if family in families:
            assert rows[-1][column] is not None, column
        else:
            assert rows[-1][column] is None, column
    # One group: all of a host's values share the evaluation timestamps, INTERVAL_S apart.
    stamps = [r["timestamp"].timestamp() for r in rows]
    assert all(round(b - a) % INTERVAL_S == 0 for a, b in pairwise(stamps))

    with tsdb_database.connect() as conn:
        cores, ram, location, seen, newest = conn.execute(
            "SELECT cpu_cores, ram_total_gb, location, last_seen, "
            "(SELECT max(timestamp) FROM usage_metrics) FROM systems WHERE hostname = %s", (host,)).fetchone()
        procs = conn.execute("SELECT count(*) FROM process_snapshots").fetchone()[0]
    assert cores == psutil.cpu_count()
    assert abs(ram - psutil.virtual_memory().total / 2**30) < 0.01
    assert location == "ci-rack"
    assert seen >= newest - __import__("datetime").timedelta(seconds=INTERVAL_S)
    assert procs > 0

    # Remote read: a Prometheus with no data of its own reads the stored column back.
    reader = prometheus_factory({"global": {"scrape_interval": "1m"},
                                 "remote_read": [remote_read(adapter.url + "/api/v1/read", read_recent=True)]})
    t = rows[-1]["timestamp"].timestamp()
    got = reader.query(f'sru:cpu_percent{{hostname="{host}"}}', time=t)
    assert len(got) == 1 and got[0]["metric"]["location"] == "ci-rack"
    assert float(got[0]["value"][1]) == pytest.approx(rows[-1]["cpu_percent"])
    per_core = reader.query(f'sru:cpu_per_core{{hostname="{host}", cpu="0"}}', time=t)
    assert float(per_core[0]["value"][1]) == pytest.approx(rows[-1]["cpu_per_core"]["0"])
    assert adapter.metric("sru_adapter_requests_total", handler="/api/v1/read", code="200") >= 2


def test_node_exporter_variant(tsdb_database, adapter_factory, prometheus_factory, process_factory, tmp_path):
    adapter = adapter_factory(tsdb_database.role_url("data_collector"))
    port = free_port()
    process_factory([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--collector.cpu.info"], port)
    prometheus_factory(prom_config(tmp_path, "node_exporter", [f"127.0.0.1:{port}"], "node", adapter.url))
    host = os.uname().nodename
    rows = [r for r in wait_rows(tsdb_database, host, 2) if r["cpu_percent"] is not None]
    last = rows[-1]
    for column in ("cpu_percent", "cpu_per_core", "disk_io_wait_percent", "ram_percent", "swap_percent",
                   "net_sent_mb_s", "net_recv_mb_s", "load_1m"):
        assert last[column] is not None, column
    assert 0 <= last["cpu_percent"] <= 100
    assert abs(last["ram_percent"] - psutil.virtual_memory().percent) < 15
    with tsdb_database.connect() as conn:
        cores, cpu_model = conn.execute("SELECT cpu_cores, cpu_model FROM systems WHERE hostname = %s",
                                        (host,)).fetchone()
    assert cores == psutil.cpu_count()
    assert cpu_model
