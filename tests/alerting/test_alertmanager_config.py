"""The shipped Alertmanager configuration: valid for amtool, routes every severity to the right
receivers, inhibits a down host's other alerts (in a real Alertmanager), keeps secrets out of the
repository, and renders its templates with every field the admins asked for."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertmanager.config import load_shipped, localize, shipped_dir
from tests.fixtures.alertmanager import AMTOOL_BIN
from tests.fixtures.net import wait_for
from tests.support.proc import run

CONFIG = shipped_dir() / "alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return run([AMTOOL_BIN, *args], timeout=30, check=False)


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


def _render(tmp_path: Path, template: str, data: dict[str, Any]) -> str:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))
    r = amtool("template", "render", f"--template.glob={shipped_dir() / 'templates' / '*.tmpl'}",
               f"--template.text={template}", f"--template.data={data_file}")
    assert r.returncode == 0, r.stderr
    return r.stdout


ALERT: dict[str, Any] = {
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
    # A bare IPv6 address has no port to strip: it keeps its last group.
    ({"instance": "2001:db8::1"}, "2001:db8::1"),
    ({"instance": "[2001:db8::1]"}, "2001:db8::1"),
    ({"instance": "[fe80::1%eth0]:9847"}, "fe80::1%eth0"),
    # The rules' hostname wins over any address: an FQDN, compose's host.docker.internal.
    ({"instance": "lab07.example.org:9847", "hostname": "lab07"}, "lab07"),
    ({"instance": "host.docker.internal:9847", "hostname": "gpu-box"}, "gpu-box"),
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

    def states() -> dict[tuple[str, str], dict[str, Any]]:
        return {(a["labels"]["alertname"], a["labels"]["instance"]): a["status"] for a in am.alerts()}

    wait_for(lambda: len(states()) == 3 and states()[("SruCpuSaturated", "lab01:9847")]["inhibitedBy"],
             10, "the down host's CPU alert to be inhibited")
    s = states()
    assert s[("SruCpuSaturated", "lab01:9847")]["state"] == "suppressed"
    assert s[("SruHostDown", "lab01:9847")]["state"] == "active"
    assert s[("SruCpuSaturated", "lab02:9847")]["state"] == "active"
    assert not s[("SruCpuSaturated", "lab02:9847")]["inhibitedBy"]


HOST_ALERT = {**ALERT, "labels": {**ALERT["labels"], "hostname": "lab07"}}
RESOLVED = {**HOST_ALERT, "status": "resolved", "endsAt": "2024-05-01T11:32:05.400Z"}


@pytest.mark.parametrize("template", ["sru.slack.text", "sru.email.text", "sru.email.html"])
def test_host_alert_names_the_machine(tmp_path: Path, template: str) -> None:
    group = {**GROUP, "alerts": [HOST_ALERT], "commonLabels": HOST_ALERT["labels"]}
    out = _render(tmp_path, f'{{{{ template "{template}" . }}}}', group)
    assert "/d/sru-host/sru-host?var-host=lab07" in out and "var-host=lab07.example.org" not in out
    assert re.search(r"host(</td><td>|:\s+)lab07\b", out), out


@pytest.mark.parametrize(("template", "ended"), [
    ("sru.email.text", "ended:     2024-05-01 11:32:05 UTC (lasted 1h32m5s)"),
    ("sru.slack.text", "• ended: 2024-05-01 11:32:05 UTC (lasted 1h32m5s)"),
    ("sru.email.html", "<tr><td>ended</td><td>2024-05-01 11:32:05 UTC (lasted 1h32m5s)</td></tr>"),
])
def test_resolved_says_when_it_ended_and_how_long_it_lasted(tmp_path: Path, template: str, ended: str) -> None:
    resolved = _render(tmp_path, f'{{{{ template "{template}" . }}}}',
                       {**GROUP, "status": "resolved", "alerts": [RESOLVED]})
    assert ended in resolved, resolved
    assert "2024-05-01 10:00:00 UTC" in resolved
    firing = _render(tmp_path, f'{{{{ template "{template}" . }}}}', GROUP)
    assert "ended" not in firing and "lasted" not in firing


@pytest.mark.parametrize("template", ["sru.slack.text", "sru.email.text", "sru.email.html"])
def test_times_are_written_for_people(tmp_path: Path, template: str) -> None:
    # An alert that started at 12:00 in UTC+2 is shown in UTC, without Go's "+0000 UTC" suffix.
    alert = {**RESOLVED, "startsAt": "2024-05-01T12:00:00+02:00"}
    out = _render(tmp_path, f'{{{{ template "{template}" . }}}}', {**GROUP, "alerts": [alert]})
    assert "2024-05-01 10:00:00 UTC" in out
    assert "+0000" not in out and "+0200" not in out


def test_slack_fallback_is_a_sentence(tmp_path: Path) -> None:
    group = {**GROUP, "alerts": [HOST_ALERT], "commonLabels": HOST_ALERT["labels"]}
    assert _render(tmp_path, '{{ template "sru.slack.fallback" . }}', group) == \
        "[FIRING:1] SruMemoryHigh on lab07: RAM high on lab07"
    two = {**group, "alerts": [HOST_ALERT, {**HOST_ALERT, "labels": {**HOST_ALERT["labels"], "hostname": "lab08"}}],
           "commonLabels": {"alertname": "SruMemoryHigh", "severity": "warning"}}
    assert _render(tmp_path, '{{ template "sru.slack.fallback" . }}', two) == \
        "[FIRING:2] SruMemoryHigh: RAM high on lab07 (and more: 2 alerts)"


def test_grafana_and_console_urls_are_site_settings(tmp_path: Path) -> None:
    """What docker-compose.yml's Alertmanager entrypoint writes, from SRU_GRAFANA_URL and
    SRU_WEB_URL, into the site/ directory that alertmanager.yml loads after the shipped templates."""
    import os

    compose = yaml.safe_load((shipped_dir().parent / "docker-compose.yml").read_text())
    entrypoint = compose["services"]["alertmanager"]["entrypoint"]
    assert compose["services"]["alertmanager"]["tmpfs"] == ["/etc/alertmanager/site"]
    assert load_shipped()["templates"] == ["templates/*.tmpl", "site/*.tmpl"]
    site = tmp_path / "site"
    site.mkdir()
    # Run the entrypoint's shell as compose runs it ("$$" is compose's escape of "$"), stopping
    # before it would exec Alertmanager.
    script = (entrypoint[2].replace("$$", "$").replace("/etc/alertmanager/site", str(site))
              .replace('exec /bin/alertmanager "$@"', "exit 0"))
    r = run([entrypoint[0], entrypoint[1], script, "alertmanager"], check=False,
            env={**os.environ, "SRU_GRAFANA_URL": "https://grafana.lab.example.org/sub",
                 "SRU_WEB_URL": "https://sru.lab.example.org"}, timeout=10)
    assert r.returncode == 0, r.stderr
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps({**GROUP, "alerts": [HOST_ALERT]}))
    r = amtool("template", "render", f"--template.glob={shipped_dir() / 'templates' / '*.tmpl'}",
               f"--template.glob={site / '*.tmpl'}", '--template.text={{ template "sru.email.text" . }}',
               f"--template.data={data_file}")
    assert r.returncode == 0, r.stderr
    assert "dashboard: https://grafana.lab.example.org/sub/d/sru-host/sru-host?var-host=lab07" in r.stdout
    assert "console:   https://sru.lab.example.org/alerts?state=all&host=lab07" in r.stdout


def test_slack_message_from_a_real_alertmanager(alertmanager_factory, tmp_path: Path) -> None:
    """The shipped Slack receiver, delivered by a real Alertmanager to a local Slack-compatible sink:
    the fallback phones show is a sentence, the title names the machine and links to its dashboard
    on the site's Grafana."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict[str, Any]] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    sink = HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "slack_webhook_url").write_text(f"http://127.0.0.1:{sink.server_address[1]}/slack\n")
        site = tmp_path / "site"
        site.mkdir()
        (site / "grafana-url.tmpl").write_text('{{ define "sru.grafana.url" }}https://grafana.example.org{{ end }}')
        cfg = localize(load_shipped(), webhook_url="http://127.0.0.1:9/unused", secrets_dir=secrets,
                       drop_receivers=("email",), timings={"group_wait": "1s", "group_interval": "1s"})
        cfg["templates"][-1] = str(site / "*.tmpl")
        am = alertmanager_factory(cfg)
        am.post_alerts([{"labels": HOST_ALERT["labels"], "annotations": HOST_ALERT["annotations"]}])
        wait_for(lambda: bool(received), 20, "a Slack message")
    finally:
        sink.shutdown()
        sink.server_close()
    [attachment] = received[0]["attachments"]
    assert attachment["fallback"] == "[FIRING:1] SruMemoryHigh on lab07: RAM high on lab07"
    assert attachment["title"] == "[FIRING:1] SruMemoryHigh on lab07"
    assert attachment["title_link"] == "https://grafana.example.org/d/sru-host/sru-host?var-host=lab07"
    assert "• host: lab07" in attachment["text"] and "+0000" not in attachment["text"]
