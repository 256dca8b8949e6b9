"""End to end with real parts: the sru exporter on this host → Prometheus (Debian) evaluating the
shipped SruMemoryHigh rule with a test-only threshold → Alertmanager (Debian) with the shipped route
tree → `sru alert-receiver` under gunicorn (bearer auth) → alert_logs on TimescaleDB; then the
condition clears and the row is resolved. Also the served receiver's auth and health endpoints."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import psycopg
import pytest
import requests
import yaml

from alertmanager.config import load_shipped, localize
from tests.fixtures.net import free_port, wait_for
from tests.support.alerts import make_alert, notification
from tests.support.proc import run, sru, start_logged, stop_process

RULES = Path(__file__).resolve().parents[2] / "rules" / "alerts.yml"


class Process:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self.proc = start_logged(args, log)

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        p.stop()


def start_receiver(processes: list[Process], tmp_path: Path, database_url: str, *extra: str) -> str:
    port = free_port()
    proc = Process([sys.executable, "-m", "sru.cli", "alert-receiver", "--database-url", database_url,
                    "--web.listen-address", f"127.0.0.1:{port}", *extra], tmp_path / f"receiver-{port}.log")
    processes.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(url + "/healthz", timeout=1).ok, 30,
             f"the receiver to be healthy (log: {proc.log})", process=proc.proc, log=proc.log)
    return url


def memory_rule_file(path: Path) -> Path:
    """The shipped rules with SruMemoryHigh's threshold replaced by a test-controlled series and its
    `for` removed. (Changing the threshold by a rule reload would also work, but Prometheus 2.42 resets
    its Alertmanager list on reload and re-sends a dropped resolution only after --rules.alert.resend-delay.)"""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "SruMemoryHigh":
                assert rule["expr"].count("> 90\n") == 1
                rule["expr"] = rule["expr"].replace("> 90\n", "> scalar(sru_e2e_threshold)\n")
                rule["annotations"]["threshold"] = "0"
                rule["for"] = "0s"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Threshold:
    """A scrape target exposing ``sru_e2e_threshold`` with a value the test sets."""

    def __init__(self) -> None:
        self.value = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"sru_e2e_threshold {outer.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.timeout(180)
def test_alert_reaches_alert_logs_and_resolves(tsdb_database, prometheus_factory, alertmanager_factory,
                                               processes: list[Process], tmp_path: Path) -> None:
    db = tsdb_database
    # The machine's own name (the exporter's sru_system_info, as the adapter fills systems), while
    # the target's address says something else: the alert must still find its systems row.
    hostname = socket.gethostname()
    address = f"e2e-{hostname}.example.org"
    with db.connect() as conn:
        system_id = conn.execute("INSERT INTO systems (hostname) VALUES (%s) RETURNING id", (hostname,)).fetchone()[0]
    sync = sru("rules", "sync", "--database-url", db.role_url("admin"))
    assert sync.returncode == 0, sync.stderr

    token = tmp_path / "receiver_token"
    token.write_text("s3cret-token\n")
    token.chmod(0o600)
    receiver = start_receiver(processes, tmp_path, db.role_url("data_collector"),
                              "--web.bearer-token-file", str(token))
    assert requests.post(receiver + "/api/v1/alerts", json={}, timeout=5).status_code == 401

    exporter_port = free_port()
    processes.append(Process([sys.executable, "-m", "sru.cli", "exporter", "--web.listen-address",
                              f"127.0.0.1:{exporter_port}"], tmp_path / "exporter.log"))
    wait_for(lambda: requests.get(f"http://127.0.0.1:{exporter_port}/metrics", timeout=2).ok, 30,
             "the exporter to serve metrics")

    am = alertmanager_factory(localize(
        load_shipped(), webhook_url=receiver + "/api/v1/alerts", secrets_dir=tmp_path, bearer_token_file=token,
        drop_receivers=("email", "slack"),
        timings={"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1m", "resolve_timeout": "1m"}))

    rules = memory_rule_file(tmp_path / "alerts.yml")
    threshold = Threshold()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am.url.removeprefix("http://")]}]}]},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "sru", "static_configs": [{
            "targets": [f"127.0.0.1:{exporter_port}"], "labels": {"instance": f"{address}:{exporter_port}"}}]},
            {"job_name": "e2e-control", "static_configs": [{"targets": [threshold.address]}]}],
    }
    prom = prometheus_factory(config)

    def row() -> dict[str, Any] | None:
        with db.connect(row_factory=psycopg.rows.dict_row) as conn:
            return conn.execute("SELECT * FROM alert_logs WHERE alert_name = 'SruMemoryHigh'").fetchone()

    wait_for(lambda: row() is not None, 60,
             f"SruMemoryHigh in alert_logs (prometheus: {prom.log_text()[-500:]}, am: {am.log_text()[-500:]})",
             interval=0.5)
    fired = row()
    assert fired is not None
    assert fired["resolved_at"] is None
    assert fired["system_id"] == system_id
    assert fired["rule_id"] is not None and fired["severity"] == "warning"
    assert fired["metric_name"] == "ram_percent" and fired["threshold_value"] == 0.0
    assert 0 < fired["actual_value"] < 100
    assert fired["labels"]["instance"] == f"{address}:{exporter_port}"
    assert fired["labels"]["hostname"] == hostname
    assert fired["annotations"]["runbook_url"].endswith("#srumemoryhigh")

    # The condition clears: RAM use never exceeds 100%.
    threshold.value = 100.0
    try:
        wait_for(lambda: (r := row()) is not None and r["resolved_at"] is not None, 60, "the alert to be resolved in alert_logs",
                 interval=0.5)
    except TimeoutError:
        print("ALERTS", prom.query("ALERTS"), "AM", am.alerts(), "PROMLOG", prom.log_text()[-2000:],
              "AMLOG", am.log_text()[-2000:], "RECV", processes[0].log.read_text()[-3000:])
        raise
    resolved = row()
    assert resolved is not None
    assert resolved["resolved_at"] >= resolved["triggered_at"] == fired["triggered_at"]
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM alert_logs WHERE alert_name = 'SruMemoryHigh'").fetchone() == (1,)
    threshold.close()


def test_served_receiver_auth(plain_database, processes: list[Process], tmp_path: Path) -> None:
    web_config = tmp_path / "web.yml"
    web_config.write_text(yaml.safe_dump({"basic_auth_users": {
        "alertmanager": bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()}}))
    token = tmp_path / "token"
    token.write_text("tok")
    receiver = start_receiver(processes, tmp_path, plain_database.role_url("data_collector"),
                              "--web.config.file", str(web_config), "--web.bearer-token-file", str(token))
    payload = notification(make_alert())
    basic = "Basic " + base64.b64encode(b"alertmanager:pw").decode()
    wrong = "Basic " + base64.b64encode(b"alertmanager:nope").decode()
    for header, status in ((None, 401), (wrong, 401), ("Bearer nope", 401), (basic, 200), ("Bearer tok", 200)):
        headers = {"Authorization": header} if header else {}
        r = requests.post(receiver + "/api/v1/alerts", json=payload, headers=headers, timeout=10)
        assert r.status_code == status, (header, r.text)
        if status == 401:
            assert "WWW-Authenticate" in r.headers
    assert requests.get(receiver + "/metrics", timeout=10).status_code == 401
    assert requests.get(receiver + "/metrics", headers={"Authorization": basic}, timeout=10).status_code == 200
    assert requests.get(receiver + "/healthz", timeout=10).text == "ok\n"  # probes need no credentials


def test_receiver_flags_are_validated(tmp_path: Path) -> None:
    def receiver(*args: str) -> subprocess.CompletedProcess[str]:
        return sru("alert-receiver", *args, timeout=30, env={**os.environ, "SRU_DATABASE_URL": ""})
    r = receiver()
    assert r.returncode == 1 and "--database-url" in r.stderr
    r = receiver("--database-url", "postgresql://x/y", "--web.listen-address", "nope")
    assert r.returncode == 1 and "--web.listen-address" in r.stderr
    r = receiver("--database-url", "postgresql://x/y", "--web.bearer-token-file", str(tmp_path / "missing"))
    assert r.returncode == 1 and "--web.bearer-token-file" in r.stderr
    bad = tmp_path / "web.yml"
    bad.write_text("basic_auth_users: {a: plain}\n")
    r = receiver("--database-url", "postgresql://x/y", "--web.config.file", str(bad))
    assert r.returncode == 1 and "--web.config.file" in r.stderr


def test_served_receiver_tls(plain_database, processes: list[Process], tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)], timeout=60)
    web_config = tmp_path / "web.yml"
    web_config.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(cert), "key_file": str(key)}}))
    port = free_port()
    proc = Process([sys.executable, "-m", "sru.cli", "alert-receiver", "--database-url",
                    plain_database.role_url("data_collector"), "--web.listen-address", f"127.0.0.1:{port}",
                    "--web.config.file", str(web_config)], tmp_path / "receiver-tls.log")
    processes.append(proc)
    url = f"https://127.0.0.1:{port}"
    wait_for(lambda: requests.get(url + "/healthz", timeout=1, verify=str(cert)).ok, 30,
             f"the TLS receiver (log: {proc.log})", process=proc.proc, log=proc.log)
    r = requests.post(url + "/api/v1/alerts", json=notification(make_alert()), timeout=10, verify=str(cert))
    assert r.status_code == 200, r.text
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)  # no plain HTTP
