"""The adapter behind TLS with client certificates (exporter-toolkit web config), and a real
Prometheus remote-writing to it through that TLS."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import psycopg
import pytest
import requests
import yaml

from tests.fixtures.certs import Pki
from tests.fixtures.net import free_port, wait_for
from tests.support.proc import start_logged, stop_process

SRU = str(Path(sys.executable).parent / "sru")


@pytest.fixture
def tls_adapter(tsdb_database, pki: Pki, tmp_path: Path):
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {
        "cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
        "client_ca_file": str(pki.ca), "client_auth_type": "RequireAndVerifyClientCert"}}))
    port = free_port()
    log = tmp_path / "adapter.log"
    proc = start_logged([SRU, "adapter", f"--web.listen-address=127.0.0.1:{port}", "--web.workers=1",
                         "--database-url", tsdb_database.role_url("data_collector"),
                         "--web.config.file", str(web)], log)
    url = f"https://127.0.0.1:{port}"
    client = (str(pki.client_cert), str(pki.client_key))
    try:
        wait_for(lambda: requests.get(f"{url}/healthz", cert=client, verify=str(pki.ca), timeout=2).ok, 30,
                 f"the TLS adapter (log: {log})", process=proc, log=log)
        yield url, port
    finally:
        stop_process(proc)


def test_client_certificate_required(tls_adapter, pki: Pki) -> None:
    url, port = tls_adapter
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    for cert in (None, (str(pki.rogue_cert), str(pki.rogue_key))):
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError, ssl.SSLError)):
            requests.get(f"{url}/healthz", cert=cert, verify=str(pki.ca), timeout=5)
    ok = requests.get(f"{url}/healthz", cert=(str(pki.client_cert), str(pki.client_key)), verify=str(pki.ca),
                      timeout=5)
    assert ok.status_code == 200


def test_real_prometheus_remote_writes_through_tls(tls_adapter, tsdb_database, pki: Pki, prometheus_factory,
                                                   tmp_path: Path) -> None:
    url, _ = tls_adapter
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "sru_usage", "interval": "1s", "rules": [
        {"record": "sru:ram_percent", "expr": 'label_replace(vector(42), "hostname", "tls-host", "", "")'},
    ]}]}))
    prometheus_factory({
        "global": {"evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "remote_write": [{
            "url": f"{url}/api/v1/write",
            "tls_config": {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert),
                           "key_file": str(pki.client_key)},
            "queue_config": {"batch_send_deadline": "1s"},
        }],
    })

    def stored() -> bool:
        with psycopg.connect(tsdb_database.url) as conn:
            row = conn.execute("SELECT count(*), min(m.ram_percent), max(m.ram_percent) FROM usage_metrics m "
                               "JOIN systems s ON s.id = m.system_id WHERE s.hostname = 'tls-host'").fetchone()
        assert row is not None  # an aggregate: always one row
        return bool(row[0] >= 2 and row[1] == row[2] == 42)

    wait_for(stored, 60, "rows written by Prometheus through TLS", interval=1)
