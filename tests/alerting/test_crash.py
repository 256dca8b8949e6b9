"""The served receiver (`sru alert-receiver`, gunicorn) killed with SIGKILL while a real
Alertmanager delivers, then restarted on the same port: Alertmanager retries what was not answered
200, the receiver commits before answering, so every alert arrives (once: upserts)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
import pytest
import requests

from tests.alerting.test_end_to_end import Process
from tests.fixtures.net import free_port, wait_for

ALERTS = 60


@pytest.fixture
def started():
    procs: list[Process] = []
    yield procs
    for p in procs:
        p.stop()


def test_receiver_killed_while_alertmanager_delivers(database, alertmanager_factory, started, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def start() -> Process:
        proc = Process([sys.executable, "-m", "sru.cli", "alert-receiver", "--database-url",
                        database.role_url("data_collector"), "--web.listen-address", f"127.0.0.1:{port}"],
                       tmp_path / "receiver.log")
        started.append(proc)
        wait_for(lambda: requests.get(url + "/healthz", timeout=1).ok, 30,
                 "the receiver to be healthy", process=proc.proc, log=proc.log)
        return proc

    receiver = start()
    am = alertmanager_factory({
        "route": {"receiver": "sru", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "sru", "webhook_configs": [{"url": url + "/api/v1/alerts", "send_resolved": True}]}],
    })
    starts = datetime.now(UTC) - timedelta(minutes=1)

    def alert(i: int) -> dict[str, Any]:
        return {"labels": {"alertname": f"SruCrash{i:03d}", "severity": "warning", "hostname": "lab1"},
                "annotations": {"value": str(i)}, "startsAt": starts.isoformat()}

    def stored() -> int:
        with database.connect() as conn:
            return conn.execute("SELECT count(*) FROM alert_logs WHERE alert_name LIKE 'SruCrash%'").fetchone()[0]

    # Waves of groups (one per alert): the receiver is killed just as a wave is being delivered,
    # and the next wave arrives while it is down.
    waves = [list(range(i, ALERTS, 4)) for i in range(4)]
    for n, wave in enumerate(waves):
        am.post_alerts([alert(i) for i in wave])
        if n % 2 == 0:
            time.sleep(0.05)
            tree = psutil.Process(receiver.proc.pid)
            for p in [tree, *tree.children(recursive=True)]:
                p.kill()
            receiver.proc.wait()
        else:
            time.sleep(1.5)  # Alertmanager's deliveries fail meanwhile
            receiver = start()
    wait_for(lambda: stored() == ALERTS, 120, f"all {ALERTS} alerts stored", interval=1)
    with database.connect() as conn:
        rows = conn.execute("SELECT alert_name, count(*) FROM alert_logs GROUP BY 1 HAVING count(*) > 1").fetchall()
    assert rows == []
    # The kills did interrupt deliveries: Alertmanager counted failed webhook notifications.
    from prometheus_client.parser import text_string_to_metric_families

    failed = sum(s.value for fam in text_string_to_metric_families(requests.get(am.url + "/metrics", timeout=10).text)
                 for s in fam.samples
                 if s.name == "alertmanager_notification_requests_failed_total" and s.labels.get("integration") == "webhook")
    assert failed > 0
