"""Every PromQL expression of every dashboard, with Grafana's variables expanded, evaluated as a range
query (what Grafana's time-series panels send) by a real Prometheus that scrapes the real
`sru exporter` on this machine and loads the repository's recording and alerting rules."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures.net import free_port, wait_for
from tests.support.grafana.dashboards import load_dashboards, queries
from tests.support.grafana.macros import QueryContext, Variable, render_promql

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = load_dashboards()
PROMQL = [q for name, d in DASHBOARDS.items() for q in queries(name, d) if q.kind == "promql"]
SCRAPE = timedelta(seconds=1)
# Series this machine cannot have: no NVIDIA GPU, no CPU temperature sensor in a VM, no firing alert
# or logged-in user guaranteed. Their expressions must still evaluate without error.
MAY_BE_EMPTY = ("sru_gpu_", "sru_cpu_temperature", "ALERTS{", "sru_session_")


@pytest.fixture(scope="module")
def exporter() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sru.cli", "exporter", "--web.listen-address",
                             f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).ok, 30, "sru exporter")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def prometheus(prometheus_factory, exporter):
    prom = prometheus_factory({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "rules" / "recording.yml"), str(ROOT / "rules" / "alerts.yml")],
        "scrape_configs": [{"job_name": "sru", "static_configs": [{"targets": [exporter]}]}],
    })
    # rate() over $__rate_interval (4 scrapes) needs a few samples.
    wait_for(lambda: len(prom.query("rate(sru_cpu_seconds_total[4s])")) > 0, 30, "two scrapes")
    return prom


def _hostname(prom) -> str:
    return prom.query("sru_system_info")[0]["metric"]["hostname"]


def test_every_promql_expression_evaluates(prometheus):
    hostname = _hostname(prometheus)
    time.sleep(4)  # a window of samples for the per-panel $__rate_interval
    now = datetime.now(UTC)
    start = now - timedelta(seconds=20)
    results = {}
    for q in PROMQL:
        variables = _variables(DASHBOARDS[q.dashboard], hostname)
        ctx = QueryContext(start, now, timedelta(seconds=1), variables, scrape_interval=SCRAPE)
        expr = render_promql(q.text, ctx)
        params: dict[str, str | float] = {"query": expr, "start": start.timestamp(), "end": now.timestamp(),
                                          "step": 1}
        body = requests.get(f"{prometheus.url}/api/v1/query_range", timeout=10, params=params).json()
        assert body["status"] == "success", f"{q.label}: {body.get('error')}\n{expr}"
        results[q.label] = len(body["data"]["result"])
        if not any(marker in q.text for marker in MAY_BE_EMPTY):
            assert body["data"]["result"], f"{q.label}: no series\n{expr}"
    assert len(results) == len(PROMQL) > 10


def test_host_filter_selects_only_that_host(prometheus):
    """The host join keeps the series of the chosen hostname and drops every other."""
    hostname = _hostname(prometheus)
    q = next(q for q in PROMQL if q.dashboard == "host-detail.json" and q.where.startswith("CPU per core"))
    now = datetime.now(UTC)
    for host, expect_series in ((hostname, True), ("no-such-host", False)):
        ctx = QueryContext(now - timedelta(seconds=30), now, timedelta(seconds=1),
                           {"host": Variable("host", host)}, scrape_interval=SCRAPE)
        result = prometheus.query(render_promql(q.text, ctx))
        assert bool(result) is expect_series
        assert all(r["metric"]["hostname"] == hostname for r in result)
        if expect_series:
            # one series per logical CPU
            cores = prometheus.query("count(count by (cpu) (sru_cpu_seconds_total))")[0]["value"][1]
            assert len(result) == int(cores)


def _variables(dashboard: dict[str, Any], hostname: str) -> dict[str, Variable]:
    out: dict[str, Variable] = {}
    for var in dashboard["templating"]["list"]:
        if var["name"] == "host":
            out["host"] = (Variable("host", [hostname], multi=True, include_all=True, selected_all=True)
                           if var["multi"] else Variable("host", hostname))
        elif var["type"] == "custom":
            out[var["name"]] = Variable(var["name"], var["current"]["value"], multi=var["multi"],
                                        include_all=var["includeAll"])
        else:
            out[var["name"]] = Variable(var["name"], ["x"], multi=True, include_all=True, selected_all=True)
    return out
