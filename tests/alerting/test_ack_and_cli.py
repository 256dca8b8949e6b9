"""Acknowledgement over HTTP and from the CLI (with a silence in a real Alertmanager), `sru alerts
list`, `sru rules sync` as admin (and refused to data_collector), and the MTTR functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from alertmanager.config import load_shipped, localize
from tests.fixtures.receiver import Receiver
from tests.support.alerts import T0, make_alert, notification
from tests.support.proc import sru


def _alert_id(receiver: Receiver, **kw) -> int:
    assert receiver.post(notification(make_alert(**kw))).status_code == 200
    return receiver.rows()[-1]["id"]


@pytest.fixture
def alertmanager(alertmanager_factory, tmp_path: Path):
    cfg = localize(load_shipped(), webhook_url="http://127.0.0.1:9/unused", secrets_dir=tmp_path,
                   drop_receivers=("email", "slack"))
    return alertmanager_factory(cfg)


def test_ack_over_http(receiver: Receiver) -> None:
    alert_id = _alert_id(receiver)
    r = receiver.post({"by": "alice"}, path=f"/api/v1/alerts/{alert_id}/ack")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["changed"] is True and body["alert"]["acknowledged_by"] == "alice"
    [row] = receiver.rows()
    assert row["is_acknowledged"] and row["acknowledged_by"] == "alice" and row["acknowledged_at"]
    # A second acknowledgement keeps the first.
    r = receiver.post({"by": "bob"}, path=f"/api/v1/alerts/{alert_id}/ack")
    assert r.status_code == 200 and r.json()["changed"] is False
    assert receiver.rows()[0]["acknowledged_by"] == "alice"
    assert receiver.post({"by": "x"}, path="/api/v1/alerts/999999/ack").status_code == 404
    assert receiver.post({}, path=f"/api/v1/alerts/{alert_id}/ack").status_code == 400
    r = receiver.post({"by": "x", "silence": "1h"}, path=f"/api/v1/alerts/{alert_id}/ack")
    assert r.status_code == 400 and "--alertmanager.url" in r.json()["error"]


def test_ack_over_http_with_silence(receiver_factory, alertmanager) -> None:
    receiver = receiver_factory(alertmanager_url=alertmanager.url)
    alert_id = _alert_id(receiver)
    r = receiver.post({"by": "alice", "silence": "forever"}, path=f"/api/v1/alerts/{alert_id}/ack")
    assert r.status_code == 400 and "silence" in r.json()["error"]
    r = receiver.post({"by": "alice", "silence": "2h"}, path=f"/api/v1/alerts/{alert_id}/ack")
    assert r.status_code == 200, r.text
    [silence] = alertmanager.silences()
    assert silence["id"] == r.json()["silence_id"]
    assert silence["createdBy"] == "alice"
    assert {m["name"]: m["value"] for m in silence["matchers"]} == make_alert()["labels"]
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert timedelta(hours=1, minutes=58) < ends - datetime.now(UTC) <= timedelta(hours=2)


def test_ack_with_silence_fails_cleanly_when_alertmanager_is_down(receiver_factory) -> None:
    receiver = receiver_factory(alertmanager_url="http://127.0.0.1:9")
    alert_id = _alert_id(receiver)
    r = receiver.post({"by": "alice", "silence": "2h"}, path=f"/api/v1/alerts/{alert_id}/ack")
    assert r.status_code == 502
    assert receiver.rows()[0]["is_acknowledged"] is False  # nothing half-done


def test_cli_ack_and_list(receiver: Receiver, alertmanager) -> None:
    first = _alert_id(receiver)
    _alert_id(receiver, name="SruCpuSaturated", fingerprint="ee", instance="lab02:9847", status="resolved")
    url = receiver.db.role_url("data_collector")
    r = sru("alerts", "list", "--database-url", url)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATE", "SEVERITY", "ALERT"]
    assert len(lines) == 3
    active = sru("alerts", "list", "--active", "--database-url", url).stdout.splitlines()
    assert len(active) == 2 and "SruMemoryHigh" in active[1] and "lab01" in active[1]
    by_host = sru("alerts", "list", "--host", "lab02", "--database-url", url).stdout.splitlines()
    assert len(by_host) == 2 and "SruCpuSaturated" in by_host[1]

    r = sru("alerts", "ack", str(first), "--by", "carol", "--silence", "30m",
            "--alertmanager.url", alertmanager.url, "--database-url", url)
    assert r.returncode == 0, r.stderr
    assert "acknowledged by carol" in r.stdout and "silence" in r.stdout
    assert receiver.rows()[0]["acknowledged_by"] == "carol"
    [silence] = alertmanager.silences()
    assert silence["comment"] == f"sru alert {first} acknowledged by carol"

    r = sru("alerts", "ack", "424242", "--by", "carol", "--database-url", url)
    assert r.returncode == 1 and "no alert with id 424242" in r.stderr
    r = sru("alerts", "ack", str(first), "--by", "carol", "--silence", "1h", "--database-url", url)
    assert r.returncode == 1 and "--alertmanager.url" in r.stderr


def test_rules_sync(database, tmp_path: Path) -> None:
    with database.connect() as conn:
        conn.execute("INSERT INTO alert_rules (name, expression, severity, source_file) "
                     "VALUES ('not_from_a_rule_file', 'computed elsewhere', 'info', 'optimizer')")
    from tests.alerting.test_rules import RULES

    shipped = len(RULES)  # every alerts*.yml of rules/
    r = sru("rules", "sync", "--database-url", database.role_url("admin"))
    assert r.returncode == 0, r.stderr
    assert f"{shipped} added" in r.stdout
    with database.connect() as conn:
        rows = {name: (expr, threshold, duration, severity, enabled, source) for name, expr, threshold, duration,
                severity, enabled, source in conn.execute(
                    "SELECT name, expression, threshold, duration, severity, enabled, source_file FROM alert_rules")}
    assert rows["SruMemoryHigh"][1:5] == (90.0, timedelta(minutes=10), "warning", True)
    assert "sru_memory_available_bytes" in rows["SruMemoryHigh"][0]
    assert rows["SruMemoryHigh"][5].endswith("alerts.yml")
    assert rows["SruExporterCollectorFailing"][3] == "info"

    # Twice: nothing changes.
    assert f"0 added, 0 updated, {shipped} unchanged, 0 disabled" in sru(
        "rules", "sync", "--database-url", database.role_url("admin")).stdout

    # A file with one rule changed and the others gone: the others are disabled, not deleted.
    custom = tmp_path / "alerts.yml"
    custom.write_text("groups:\n- name: g\n  rules:\n  - alert: SruMemoryHigh\n    expr: x > 80\n"
                      "    for: 5m\n    labels: {severity: critical}\n    annotations: {threshold: '80'}\n")
    r = sru("rules", "sync", str(custom), "--database-url", database.role_url("admin"))
    assert r.returncode == 0 and f"0 added, 1 updated, 0 unchanged, {shipped - 1} disabled" in r.stdout
    with database.connect() as conn:
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE enabled) FROM alert_rules "
                            "WHERE name LIKE 'Sru%'").fetchone() == (shipped, 1)
        # Rules from other sources (the optimizer's) are not the rule files' to disable.
        assert conn.execute("SELECT enabled FROM alert_rules WHERE name = 'not_from_a_rule_file'"
                            ).fetchone() == (True,)
        assert conn.execute("SELECT threshold, severity FROM alert_rules WHERE name = 'SruMemoryHigh'"
                            ).fetchone() == (80.0, "critical")

    r = sru("rules", "sync", "--database-url", database.role_url("data_collector"))
    assert r.returncode == 1 and "admin role" in r.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    for: soon\n")
    r = sru("rules", "sync", str(bad), "--database-url", database.role_url("admin"))
    assert r.returncode == 1 and "for:" in r.stderr and "bad.yml" in r.stderr


def test_alert_links_to_synced_rule(receiver: Receiver) -> None:
    assert sru("rules", "sync", "--database-url", receiver.db.role_url("admin")).returncode == 0
    _alert_id(receiver)
    with receiver.db.connect() as conn:
        assert conn.execute("SELECT r.name FROM alert_logs a JOIN alert_rules r ON r.id = a.rule_id"
                            ).fetchone() == ("SruMemoryHigh",)


def test_mttr_by_rule_and_host(database) -> None:
    with database.connect() as conn:
        sid = conn.execute("INSERT INTO systems (hostname) VALUES ('lab01') RETURNING id").fetchone()[0]
        rows = [  # (name, system, instance, triggered offset h, minutes to resolve or None)
            ("A", sid, "lab01:1", 0, 10), ("A", sid, "lab01:1", 1, 30), ("A", None, "ghost:1", 2, 20),
            ("B", sid, "lab01:1", 3, None), ("A", sid, "lab01:1", 48, 5),  # outside the window
        ]
        for i, (name, system, instance, offset, minutes) in enumerate(rows):
            t = T0 + timedelta(hours=offset)
            conn.execute(
                "INSERT INTO alert_logs (alert_name, system_id, fingerprint, triggered_at, resolved_at, severity, labels) "
                "VALUES (%s, %s, %s, %s, %s, 'warning', jsonb_build_object('instance', %s::text))",
                (name, system, f"f{i}", t, t + timedelta(minutes=minutes) if minutes else None, instance))
    window = (T0, T0 + timedelta(days=1))
    for role in ("analyst", "dashboard_readonly"):
        with database.connect(role) as conn:
            by_rule = conn.execute("SELECT alert_name, alerts, resolved_alerts, open_alerts, mttr, mttr_seconds "
                                   "FROM sru_alert_mttr_by_rule(%s, %s)", window).fetchall()
            assert by_rule == [("A", 3, 3, 0, timedelta(minutes=20), 1200.0),
                               ("B", 1, 0, 1, None, None)]
            by_host = conn.execute("SELECT host, alerts, mttr FROM sru_alert_mttr_by_host(%s, %s)", window).fetchall()
            assert by_host == [("ghost", 1, timedelta(minutes=20)), ("lab01", 3, timedelta(minutes=20))]
    with database.connect("data_collector") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM sru_alert_mttr_by_rule(now() - interval '1 day')")


def test_one_acknowledgement_in_one_order(database, alertmanager) -> None:
    """sru.acknowledge, which the receiver's API, `sru alerts ack` and the console call, against a real
    Alertmanager: silence first (refused: nothing changes), then the row and its audit in one
    transaction; when that fails, the silence is expired again."""
    from alertmanager.payload import parse_webhook
    from alertmanager.store import store_events
    from sru.acknowledge import AlertNotFound, acknowledge
    from sru.silences import SilenceError

    alert = make_alert()
    with database.connect("data_collector") as conn:
        store_events(conn, parse_webhook(json.dumps(notification(alert)).encode()))
        conn.commit()
        (alert_id,) = conn.execute("SELECT id FROM alert_logs").fetchone()
        now = datetime.now(UTC)
        ack = acknowledge(conn, alert_id, "alice", note="fan", silence=timedelta(hours=2),
                          alertmanager_url=alertmanager.url, now=now)
        assert (ack.alert_id, ack.acknowledged_by, ack.changed) == (alert_id, "alice", True)
        assert ack.silenced_until == now + timedelta(hours=2)
        [silence] = alertmanager.silences()
        assert silence["id"] == ack.silence_id and silence["status"]["state"] == "active"
        assert {m["name"]: m["value"] for m in silence["matchers"]} == alert["labels"]
        assert silence["comment"] == f"sru alert {alert_id} acknowledged by alice: fan"

        # Alertmanager unreachable: nothing is recorded.
        with pytest.raises(SilenceError):
            acknowledge(conn, alert_id, "bob", silence=timedelta(hours=1), alertmanager_url="http://127.0.0.1:9")
        with pytest.raises(AlertNotFound):
            acknowledge(conn, 424242, "bob")
        # A second acknowledgement keeps the first one's name and is kept itself.
        assert acknowledge(conn, alert_id, "bob").changed is False
    with database.connect() as conn:
        assert conn.execute("SELECT acknowledged_by, note, silence_id FROM alert_acknowledgements ORDER BY id"
                            ).fetchall() == [("alice", "fan", ack.silence_id), ("bob", None, None)]
        assert conn.execute("SELECT acknowledged_by FROM alert_logs").fetchone() == ("alice",)

    # The database refuses after Alertmanager agreed (a role that may read alerts but not
    # acknowledge them): the new silence is expired again.
    with database.connect("dashboard_readonly") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        acknowledge(conn, alert_id, "mallory", silence=timedelta(hours=1), alertmanager_url=alertmanager.url)
    states = {s["createdBy"]: s["status"]["state"] for s in alertmanager.silences()}
    assert states == {"alice": "active", "mallory": "expired"}
