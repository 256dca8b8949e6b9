"""The webhook receiver against a real database (both tiers) as data_collector: every field stored,
idempotent under redelivery, reordering and concurrency, strict about input, 503 while the database
is down."""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import requests

from sru.db import scalar
from tests.fixtures.receiver import Receiver
from tests.support.alerts import T0, make_alert, notification


def _add_system(db, hostname: str) -> str:
    with db.connect() as conn:
        return str(conn.execute("INSERT INTO systems (hostname) VALUES (%s) RETURNING id", (hostname,)).fetchone()[0])


def _add_rule(db, name: str) -> int:
    with db.connect() as conn:
        return conn.execute("INSERT INTO alert_rules (name, expression, severity) VALUES (%s, 'x > 1', 'warning') "
                            "RETURNING id", (name,)).fetchone()[0]


def test_firing_alert_is_stored_with_every_field(receiver: Receiver) -> None:
    system_id = _add_system(receiver.db, "lab01")
    rule_id = _add_rule(receiver.db, "SruMemoryHigh")
    r = receiver.post(notification(make_alert()))
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success", "alerts": 1, "written": 1}
    [row] = receiver.rows()
    assert row["alert_name"] == "SruMemoryHigh"
    assert row["fingerprint"] == "a1b2c3d4e5f60718"
    assert row["triggered_at"] == T0  # microseconds kept
    assert row["resolved_at"] is None
    assert str(row["system_id"]) == system_id and row["rule_id"] == rule_id
    assert (row["metric_name"], row["actual_value"], row["threshold_value"]) == ("ram_percent", 93.5, 90.0)
    assert row["severity"] == "warning"
    assert row["labels"]["instance"] == "lab01:9847"
    assert row["annotations"]["summary"] == "SruMemoryHigh on lab01:9847"
    assert row["is_acknowledged"] is False


def test_resolution_sets_resolved_at(receiver: Receiver) -> None:
    assert receiver.post(notification(make_alert())).status_code == 200
    assert receiver.post(notification(make_alert(status="resolved", value="85"))).status_code == 200
    [row] = receiver.rows()
    assert row["resolved_at"] == T0 + timedelta(minutes=7)
    assert row["actual_value"] == 85.0  # the last value Prometheus saw


@pytest.mark.parametrize("instance, labels, hostname", [
    ("lab01.example.org:9847", {}, "lab01"),          # FQDN target, short systems.hostname
    ("[2001:db8::7]:9847", {}, "2001:db8::7"),
    ("10.0.0.5:9100", {"hostname": "gpu-box"}, "gpu-box"),  # an explicit hostname label wins
    ("10.0.0.6:9100", {"host": "cpu-box"}, "cpu-box"),
])
def test_host_attribution(receiver: Receiver, instance: str, labels: dict[str, str], hostname: str) -> None:
    system_id = _add_system(receiver.db, hostname)
    _add_system(receiver.db, "10.0.0.5")  # decoy: the hostname label takes precedence over instance
    assert receiver.post(notification(make_alert(instance=instance, extra_labels=labels))).status_code == 200
    [row] = receiver.rows()
    assert str(row["system_id"]) == system_id


def test_unknown_host_is_kept_without_system(receiver: Receiver) -> None:
    _add_system(receiver.db, "lab01")
    r = receiver.post(notification(make_alert(instance="nowhere:9847", severity="bogus", value="n/a")))
    assert r.status_code == 200
    [row] = receiver.rows()
    assert row["system_id"] is None and row["rule_id"] is None
    assert row["severity"] == "info"  # routed like info (webhook only), so logged as info
    assert row["actual_value"] is None
    with receiver.db.connect() as conn:
        assert scalar(conn, "SELECT host FROM alert_log_details") == "nowhere"


def test_redelivery_five_times_leaves_one_unchanged_row(receiver: Receiver) -> None:
    payload = notification(make_alert(), make_alert("SruCpuSaturated", fingerprint="ff00"))
    first = receiver.post(payload)
    assert first.json()["written"] == 2
    before = receiver.rows()
    for _ in range(5):
        r = receiver.post(payload)
        assert r.status_code == 200 and r.json()["written"] == 0
    assert receiver.rows() == before  # not even updated_at moved


def test_resolved_before_firing_stays_resolved(receiver: Receiver) -> None:
    resolved = notification(make_alert(status="resolved", value="88"))
    firing = notification(make_alert(value="95"))
    assert receiver.post(resolved).status_code == 200
    for payload in (firing, resolved, firing):
        assert receiver.post(payload).status_code == 200
    [row] = receiver.rows()
    assert row["resolved_at"] == T0 + timedelta(minutes=7)
    assert row["actual_value"] == 88.0


def test_open_alert_takes_newest_value(receiver: Receiver) -> None:
    receiver.post(notification(make_alert(value="91")))
    receiver.post(notification(make_alert(value="97")))
    [row] = receiver.rows()
    assert row["actual_value"] == 97.0 and row["resolved_at"] is None


def test_new_episode_is_a_new_row(receiver: Receiver) -> None:
    receiver.post(notification(make_alert(status="resolved")))
    receiver.post(notification(make_alert(starts=T0 + timedelta(hours=1))))
    rows = receiver.rows()
    assert [r["resolved_at"] is None for r in rows] == [False, True]


def test_duplicate_alert_in_one_notification(receiver: Receiver) -> None:
    r = receiver.post(notification(make_alert(), make_alert(status="resolved")))
    assert r.status_code == 200
    [row] = receiver.rows()
    assert row["resolved_at"] is not None


def test_concurrent_deliveries_converge(receiver: Receiver) -> None:
    fingerprints = [f"{i:016x}" for i in range(20)]
    firing = [make_alert(fingerprint=f, instance=f"h{i}:1") for i, f in enumerate(fingerprints)]
    resolved = [make_alert(status="resolved", fingerprint=f, instance=f"h{i}:1") for i, f in enumerate(fingerprints)]
    payloads = []
    rng = random.Random(7)
    for _ in range(6):
        payloads.append(notification(*rng.sample(firing, len(firing))))
        payloads.append(notification(*rng.sample(resolved, len(resolved))))
        payloads.append(notification(*rng.sample(firing + resolved, 25)))
    rng.shuffle(payloads)
    statuses: list[int] = []
    barrier = threading.Barrier(len(payloads))

    def send(p: dict[str, Any]) -> None:
        barrier.wait()
        statuses.append(requests.post(receiver.url + "/api/v1/alerts", json=p, timeout=60).status_code)

    threads = [threading.Thread(target=send, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * len(payloads)
    rows = receiver.rows()
    assert sorted(r["fingerprint"] for r in rows) == fingerprints
    assert all(r["resolved_at"] == T0 + timedelta(minutes=7) for r in rows)


@pytest.mark.parametrize("body, reason", [
    (b"not json", "body is not JSON"),
    (b"[]", "body must be a JSON object"),
    (json.dumps({"version": "3", "alerts": []}).encode(), "unsupported webhook payload version"),
    (json.dumps({"version": "4"}).encode(), "'alerts' must be a list"),
    (json.dumps(notification({**make_alert(), "fingerprint": ""})).encode(), "alerts[0].fingerprint"),
    (json.dumps(notification({**make_alert(), "status": "pending"})).encode(), "alerts[0].status"),
    (json.dumps(notification({**make_alert(), "startsAt": "yesterday"})).encode(), "alerts[0].startsAt"),
    (json.dumps(notification({**make_alert(), "startsAt": "0001-01-01T00:00:00Z"})).encode(), "missing or zero"),
    (json.dumps(notification({**make_alert(status="resolved"), "endsAt": "0001-01-01T00:00:00Z"})).encode(),
     "alerts[0].endsAt"),
    (json.dumps(notification({**make_alert(), "labels": {"instance": "x"}})).encode(), "alertname: missing"),
    (json.dumps(notification({**make_alert(), "labels": {"alertname": "X", "n": 1}})).encode(), "labels.n"),
    (json.dumps(notification({**make_alert(), "labels": {"alertname": "X\u0000"}})).encode(), "NUL"),
])
def test_malformed_payloads_are_400_and_store_nothing(receiver: Receiver, body: bytes, reason: str) -> None:
    good = make_alert(fingerprint="0000000000000000")
    r = requests.post(receiver.url + "/api/v1/alerts", data=body, timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert reason in r.json()["error"]
    assert receiver.rows() == []
    assert receiver.post(notification(good)).status_code == 200  # and the receiver is fine


def test_body_limit_and_content_type(receiver_factory) -> None:
    receiver = receiver_factory(max_request_bytes=4096)
    big = notification(*[make_alert(fingerprint=f"{i:016x}") for i in range(20)])
    r = receiver.post(big)
    assert r.status_code == 413 and "over the limit of 4096 bytes" in r.json()["error"]
    r = requests.post(receiver.url + "/api/v1/alerts", data=b"x=1", timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert receiver.rows() == []


def test_routes_and_methods(receiver: Receiver) -> None:
    assert requests.get(receiver.url + "/nope", timeout=10).status_code == 404
    r = requests.put(receiver.url + "/api/v1/alerts", timeout=10)
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    assert requests.get(receiver.url + "/api/v1/alerts/1/ack", timeout=10).status_code == 405


def test_503_while_database_is_down(receiver_factory, database, tcp_proxy) -> None:
    # The database is cut off behind a proxy: the server this tier's tests share stays up.
    proxy = tcp_proxy(database.cluster.host, database.cluster.port)
    receiver = receiver_factory(db_port=proxy.port)
    assert receiver.post(notification(make_alert())).status_code == 200
    with proxy.outage():
        r = receiver.post(notification(make_alert(status="resolved")))
        assert r.status_code == 503
        assert int(r.headers["Retry-After"]) > 0
        assert requests.get(receiver.url + "/healthz", timeout=30).status_code == 503
    # Alertmanager retries the same notification: it now lands, once.
    r = receiver.post(notification(make_alert(status="resolved")))
    assert r.status_code == 200, r.text
    assert requests.get(receiver.url + "/healthz", timeout=10).text == "ok\n"
    [row] = receiver.rows()
    assert row["resolved_at"] is not None
    metrics = requests.get(receiver.url + "/metrics", timeout=10).text
    assert 'sru_alert_receiver_requests_total{code="503",handler="webhook"} 1.0' in metrics
    assert "sru_alert_receiver_database_errors_total" in metrics


def test_metrics(receiver: Receiver) -> None:
    receiver.post(notification(make_alert(), make_alert(status="resolved", fingerprint="ff")))
    requests.post(receiver.url + "/api/v1/alerts", data=b"junk", timeout=10,
                  headers={"Content-Type": "application/json"})
    text = requests.get(receiver.url + "/metrics", timeout=10).text
    assert 'sru_alert_receiver_alerts_total{status="firing"} 1.0' in text
    assert 'sru_alert_receiver_alerts_total{status="resolved"} 1.0' in text
    assert 'sru_alert_receiver_requests_total{code="200",handler="webhook"} 1.0' in text
    assert 'sru_alert_receiver_requests_total{code="400",handler="webhook"} 1.0' in text
    assert "sru_alert_receiver_rows_written_total 2.0" in text
    assert 'sru_alert_receiver_request_duration_seconds_count{handler="webhook"} 2.0' in text


def test_receiver_role_cannot_do_more(database) -> None:
    with database.connect("data_collector") as conn:
        for sql in ("DELETE FROM alert_logs", "INSERT INTO alert_rules (name, expression, severity) "
                    "VALUES ('x', 'y', 'info')", "UPDATE alert_rules SET enabled = false"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
            conn.rollback()
