"""The shipped Alertmanager configuration: valid for amtool, routes every severity to the right
receivers, inhibits a down host's other alerts (in a real Alertmanager), keeps secrets out of the
repository, and renders its templates with every field the admins asked for."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from alertmanager.config import load_shipped, localize, shipped_dir
from tests.fixtures.alertmanager import AMTOOL_BIN
from tests.fixtures.net import wait_for

CONFIG = shipped_dir() / "alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AMTOOL_BIN, *args], capture_output=True, text=True, timeout=30)


def test_check_config() -> None:
    r = amtool("check-config", str(CONFIG))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 inhibit rules" in r.stdout and "3 receivers" in r.stdout


@pytest.mark.parametrize("labels, receivers", [
    ({"severity": "critical", "alertname": "SruHostDown", "instance": "lab01:9847"},
     "sru-webhook,email,slack"),
    ({"severity": "warning", "alertname": "SruMemoryHigh", "instance": "lab01:9847"},
     "sru-webhook,slack"),
    ({"severity": "info", "alertname": "SruExporterCollectorFailing", "instance": "lab01:9847"},
     "sru-webhook"),
    # An alert without a severity (a rule someone added by hand) is still logged.
    ({"alertname": "Custom"}, "sru-webhook"),
])
def test_routes(labels: dict[str, str], receivers: str) -> None:
    r = amtool("config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receivers}",
               *(f"{k}={v}" for k, v in labels.items()))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == receivers


def test_routes_verify_fails_on_wrong_receivers() -> None:
    # The check above can fail: amtool rejects a wrong expectation.
    r = amtool("config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=sru-webhook",
               "severity=critical")
    assert r.returncode != 0


def test_grouping_by_alertname_and_instance() -> None:
    cfg = load_shipped()
    assert cfg["route"]["group_by"] == ["alertname", "instance"]


def test_no_secrets_in_repository() -> None:
    text = CONFIG.read_text()
    cfg = yaml.safe_load(text)
    assert "slack_api_url" not in cfg["global"] and "smtp_auth_password" not in cfg["global"]
    for receiver in cfg["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack
        for email in receiver.get("email_configs", []):
            assert "auth_password" not in email
        for hook in receiver.get("webhook_configs", []):
            auth = hook.get("http_config", {}).get("authorization", {})
            assert "credentials" not in auth
    assert not re.search(r"hooks\.slack\.com/services/\w", text)
    assert cfg["global"]["slack_api_url_file"].startswith("/etc/sru/secrets/")
    assert cfg["global"]["smtp_auth_password_file"].startswith("/etc/sru/secrets/")


def _render(tmp_path: Path, template: str, data: dict) -> str:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))
    r = amtool("template", "render", f"--template.glob={shipped_dir() / 'templates' / '*.tmpl'}",
               f"--template.text={template}", f"--template.data={data_file}")
    assert r.returncode == 0, r.stderr
    return r.stdout


ALERT = {
    "status": "firing",
    "labels": {"alertname": "SruMemoryHigh", "severity": "warning", "instance": "lab07.example.org:9847"},
    "annotations": {"summary": "RAM high on lab07", "description": "RAM use has been above 90%.",
                    "value": "93.2", "threshold": "90",
                    "runbook_url": "https://example.org/runbooks/SruMemoryHigh"},
    "startsAt": "2024-05-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
}
GROUP = {"receiver": "slack", "status": "firing", "alerts": [ALERT],
         "groupLabels": {"alertname": "SruMemoryHigh", "instance": "lab07.example.org:9847"},
         "commonLabels": ALERT["labels"], "commonAnnotations": ALERT["annotations"],
         "externalURL": "http://am.example.org"}


@pytest.mark.parametrize("template", ["sru.slack.text", "sru.email.text", "sru.email.html"])
def test_templates_show_every_field(tmp_path: Path, template: str) -> None:
    out = _render(tmp_path, f'{{{{ template "{template}" . }}}}', GROUP)
    for expected in ("RAM high on lab07", "93.2", "90", "lab07.example.org",
                     "https://example.org/runbooks/SruMemoryHigh",
                     "/d/sru-host/sru-host?var-host=lab07.example.org", "/alerts?state=all"):
        assert expected in out, (expected, out)
    assert ":9847" not in out  # the host, not the scrape address


def test_subject_and_title(tmp_path: Path) -> None:
    assert _render(tmp_path, '{{ template "sru.email.subject" . }}', GROUP).strip() == \
        "[sru FIRING] SruMemoryHigh on lab07.example.org"
    assert _render(tmp_path, '{{ template "sru.slack.title" . }}', GROUP).strip() == \
        "[FIRING:1] SruMemoryHigh on lab07.example.org"


@pytest.mark.parametrize("labels, host", [
    ({"instance": "lab01:9847"}, "lab01"),
    ({"instance": "[2001:db8::1]:9847"}, "2001:db8::1"),
    ({"instance": "lab02"}, "lab02"),
    ({"instance": "lab01:9847", "hostname": "gpu-box"}, "gpu-box"),
])
def test_host_template(tmp_path: Path, labels: dict[str, str], host: str) -> None:
    assert _render(tmp_path, '{{ template "sru.host" .CommonLabels }}',
                   {**GROUP, "commonLabels": labels}).strip() == host


def test_inhibition_in_real_alertmanager(alertmanager_factory, tmp_path: Path) -> None:
    cfg = localize(load_shipped(), webhook_url="http://127.0.0.1:9/unused", secrets_dir=tmp_path,
                   drop_receivers=("email", "slack"))
    am = alertmanager_factory(cfg)
    down = {"alertname": "SruHostDown", "severity": "critical", "instance": "lab01:9847"}
    same_host = {"alertname": "SruCpuSaturated", "severity": "warning", "instance": "lab01:9847"}
    other_host = {"alertname": "SruCpuSaturated", "severity": "warning", "instance": "lab02:9847"}
    am.post_alerts([{"labels": labels} for labels in (down, same_host, other_host)])

    def states() -> dict[tuple[str, str], dict]:
        return {(a["labels"]["alertname"], a["labels"]["instance"]): a["status"] for a in am.alerts()}

    wait_for(lambda: len(states()) == 3 and states()[("SruCpuSaturated", "lab01:9847")]["inhibitedBy"],
             10, "the down host's CPU alert to be inhibited")
    s = states()
    assert s[("SruCpuSaturated", "lab01:9847")]["state"] == "suppressed"
    assert s[("SruHostDown", "lab01:9847")]["state"] == "active"
    assert s[("SruCpuSaturated", "lab02:9847")]["state"] == "active"
    assert not s[("SruCpuSaturated", "lab02:9847")]["inhibitedBy"]
