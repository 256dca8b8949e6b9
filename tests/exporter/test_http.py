"""The real exporter on this host, over real HTTP(S): every family, promtool, TLS and basic auth."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.exporter.server import running_exporter
from tests.fixtures.certs import Pki
from tests.fixtures.net import wait_for
from tests.fixtures.prometheus import PrometheusServer
from tests.support import proc

METRICS_MD = Path(__file__).parents[2] / "exporter" / "METRICS.md"
# Families whose source may be missing on a host (VMs have no CPU sensors, often no frequency;
# nobody may be logged in; psutil cannot always count physical cores). They must still be declared.
MAY_BE_EMPTY = {"sru_cpu_temperature_celsius", "sru_cpu_frequency_hertz", "sru_session_login_time_seconds",
                "sru_system_cpu_physical_cores"}


def documented_families() -> set[str]:
    return set(re.findall(r"^\| `(sru_[a-z0-9_]+)`", METRICS_MD.read_text(), re.M))


def exposed(text: str) -> dict[str, int]:
    """Family name (with _total for counters, as exposed) → number of samples."""
    out: dict[str, int] = {}
    for fam in text_string_to_metric_families(text):
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        out[name] = len(fam.samples) - sum(s.name.endswith("_created") for s in fam.samples)
    return out


@pytest.fixture(scope="module")
def exposition() -> str:
    with running_exporter() as addr:
        requests.get(f"http://{addr}/metrics", timeout=30)  # a second scrape exercises the CPU deltas
        r = requests.get(f"http://{addr}/metrics", timeout=30)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert requests.get(f"http://{addr}/", timeout=10).status_code == 200
        assert requests.get(f"http://{addr}/nope", timeout=10).status_code == 404
        return r.text


def test_every_documented_family_is_exposed_and_no_gpu_family_here(exposition: str) -> None:
    families = exposed(exposition)
    documented = documented_families()
    gpu = {f for f in documented if f.startswith(("sru_gpu_", "sru_user_gpu_"))}
    assert gpu and not gpu & families.keys(), "no NVIDIA GPU here: GPU families must be absent"
    missing = documented - gpu - families.keys()
    assert not missing, f"documented but not exposed: {missing}"
    undocumented = {f for f in families if f.startswith("sru_")} - documented
    assert not undocumented, f"exposed but not in METRICS.md: {undocumented}"
    empty = {f for f, n in families.items() if f.startswith("sru_") and n == 0} - MAY_BE_EMPTY
    assert not empty, f"families without samples on this host: {empty}"
    success = dict(re.findall(r'sru_exporter_collector_success\{collector="(\w+)"\} (\S+)', exposition))
    assert success == {c: "1.0" for c in ("cpu", "memory", "disk", "filesystem", "network", "gpu", "sessions",
                                          "processes", "system", "users")}
    assert re.search(r'sru_system_info\{.*hostname="[^"]+".*\} 1\.0', exposition)
    assert "sru_system_gpus 0.0" in exposition


def test_promtool_finds_no_problems(exposition: str) -> None:
    r = proc.run(["promtool", "check", "metrics"], input=exposition, timeout=60, check=False)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


def test_gzip_and_openmetrics_are_negotiated() -> None:
    with running_exporter("--web.telemetry-path", "/custom", "--no-collector.processes") as addr:
        r = requests.get(f"http://{addr}/custom", headers={"Accept-Encoding": "gzip"}, timeout=30)
        assert r.headers["Content-Encoding"] == "gzip" and "sru_cpu_seconds_total" in r.text
        assert "sru_process_" not in r.text
        r = requests.get(f"http://{addr}/custom", headers={"Accept": "application/openmetrics-text; version=1.0.0"},
                         timeout=30)
        assert r.headers["Content-Type"].startswith("application/openmetrics-text") and r.text.endswith("# EOF\n")
        assert requests.get(f"http://{addr}/metrics", timeout=10).status_code == 404


def test_tls_client_certificates_and_basic_auth(tmp_path: Path, pki: Pki) -> None:
    hashed = bcrypt.hashpw(b"scrape-secret", bcrypt.gensalt(4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
                   f"  client_ca_file: {pki.ca}\n  client_auth_type: RequireAndVerifyClientCert\n"
                   f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    client = (str(pki.client_cert), str(pki.client_key))
    with running_exporter("--web.config.file", str(web), "--collector.processes.top", "1") as addr:
        url = f"https://{addr}/metrics"
        ok = requests.get(url, verify=str(pki.ca), cert=client, auth=("prometheus", "scrape-secret"), timeout=30)
        assert ok.status_code == 200 and "sru_cpu_seconds_total" in ok.text
        for auth in (("prometheus", "wrong"), ("intruder", "scrape-secret"), None):
            r = requests.get(url, verify=str(pki.ca), cert=client, auth=auth, timeout=30)
            assert r.status_code == 401 and "sru_" not in r.text
            assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
        for cert in ((str(pki.rogue_cert), str(pki.rogue_key)), None):  # unknown CA, or none at all
            with pytest.raises(requests.exceptions.SSLError if cert else
                               (requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
                requests.get(url, verify=str(pki.ca), cert=cert, auth=("prometheus", "scrape-secret"), timeout=30)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://{addr}/metrics", timeout=10)  # plain HTTP to the TLS port
        # The server survived the failed handshakes.
        again = requests.get(url, verify=str(pki.ca), cert=client, auth=("prometheus", "scrape-secret"), timeout=30)
        assert again.status_code == 200


def test_tls_without_client_ca_serves_any_client(tmp_path: Path, pki: Pki) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
                   f"  min_version: TLS13\n")
    with running_exporter("--web.config.file", str(web)) as addr:
        r = requests.get(f"https://{addr}/metrics", verify=str(pki.ca), timeout=30)
        assert r.status_code == 200
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        host, port = addr.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with pytest.raises(ssl.SSLError):
                ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def test_real_prometheus_scrapes_through_tls_client_cert_and_basic_auth(tmp_path: Path, pki: Pki,
                                                                        prometheus_factory: Callable[[dict[str, Any]], PrometheusServer]) -> None:
    hashed = bcrypt.hashpw(b"scrape-secret", bcrypt.gensalt(4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
                   f"  client_ca_file: {pki.ca}\n"
                   f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    with running_exporter("--web.config.file", str(web)) as addr:
        tls = {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
        prom = prometheus_factory({
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [
                {"job_name": "good", "scheme": "https", "tls_config": tls,
                 "basic_auth": {"username": "prometheus", "password": "scrape-secret"},
                 "static_configs": [{"targets": [addr]}]},
                {"job_name": "bad-password", "scheme": "https", "tls_config": tls,
                 "basic_auth": {"username": "prometheus", "password": "guess"},
                 "static_configs": [{"targets": [addr]}]},
            ],
        })
        wait_for(lambda: len(prom.query("up")) == 2, 30, "both targets scraped")
        up = {r["metric"]["job"]: r["value"][1] for r in prom.query("up")}
        assert up == {"good": "1", "bad-password": "0"}
        wait_for(lambda: bool(prom.query('sru_memory_total_bytes{job="good"}')), 30, "exporter series in Prometheus")
