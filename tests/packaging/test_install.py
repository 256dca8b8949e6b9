"""The distribution as users install it (a built wheel, not the editable checkout): every data file is
inside, and `pip install 'sru[exporter]'` gives a working exporter without the server's libraries."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from tests.fixtures.net import free_port, wait_for
from tests.fixtures.process import stop_process
from tests.support.proc import run

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = {"psycopg", "psycopg-binary", "psycopg-pool", "gunicorn", "numpy", "statsmodels", "flask",
               "jinja2", "protobuf", "cramjam", "honcho"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)])
    (path,) = out.glob("sru-*.whl")
    return path


def test_wheel_holds_every_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"sru/sql/{p.name}" for p in (ROOT / "sql").glob("*.sql")}
    expected |= {f"sru/rules/{p.name}" for p in (ROOT / "rules").glob("*.yml")}
    expected |= {"alertmanager/alertmanager.yml", "alertmanager/templates/sru.tmpl",
                 "remote_write_adapter/mapping.yml", "remote_write_adapter/prometheus.sample.yml",
                 "exporter/sru-exporter.service"}
    assert expected <= names, sorted(expected - names)
    assert not any(n.startswith("tests/") for n in names)


def test_exporter_extra_is_light_and_works(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = run([str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[exporter]"], check=False)
    assert pip.returncode == 0, pip.stderr[-2000:]
    listed = run([str(venv / "bin" / "pip"), "list", "--format=freeze"]).stdout
    installed = {line.split("==")[0].lower().replace("_", "-") for line in listed.splitlines()}
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    assert {"prometheus-client", "psutil", "sru"} <= installed

    sru = str(venv / "bin" / "sru")
    helptext = run([sru, "--help"]).stdout
    assert "exporter" in helptext
    # A server command says what is missing instead of failing with a traceback.
    r = run([sru, "db", "migrate", "--database-url", "postgresql://127.0.0.1:1/x"], check=False)
    assert r.returncode == 1 and "sru[server]" in r.stderr and "Traceback" not in r.stderr

    port = free_port()
    proc = subprocess.Popen([sru, "exporter", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).ok, 30,
                 "the installed exporter")
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop_process(proc)
    for family in ("sru_cpu_seconds_total", "sru_memory_available_bytes", "sru_system_info"):
        assert f"\n{family}" in body or body.startswith(family), family
