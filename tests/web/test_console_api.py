"""`sru web`'s JSON API and its rights, against real PostgreSQL (demo data, web_console login) and a
real Alertmanager."""

from __future__ import annotations

import psycopg
import pytest
import requests

from tests.fixtures.certs import Pki
from tests.web.conftest import PASSWORDS, SRU, TOKEN, Console, run_web, web_login_url


def test_auth_reads_and_limits(console: Console) -> None:
    assert requests.get(console.url + "/healthz", timeout=10).text == "ok\n"
    r = console.api("GET", "/api/v1/hosts", user="")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    assert requests.get(console.url + "/api/v1/hosts", auth=("alice", "wrong"), timeout=10).status_code == 401
    assert requests.get(console.url + "/api/v1/hosts", headers={"Authorization": "Bearer nope"},
                        timeout=10).status_code == 401
    r = requests.get(console.url + "/api/v1/hosts", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200
    hosts = r.json()["hosts"]
    assert len(hosts) == 6
    assert all(len(h["spark"]["cpu"]) == 7 * 12 for h in hosts)  # 2-hour points over 7 days
    cpu = [v for v in hosts[0]["spark"]["cpu"] if v is not None]
    assert len(cpu) > 70 and all(0 <= v <= 100 for v in cpu)  # hourly stats of the last 7 days
    assert sum(h["open_alerts"] for h in hosts) == 3
    name = hosts[0]["hostname"]
    for range_ in ("24h", "7d", "30d", "1y"):
        r = console.api("GET", f"/api/v1/hosts/{name}?range={range_}")
        assert r.status_code == 200, r.text
        assert any(v is not None for v in r.json()["chart"]["cpu"]), range_
    assert console.api("GET", "/api/v1/hosts/nope").status_code == 404
    assert console.api("GET", f"/api/v1/hosts/{name}?range=5y").status_code == 400
    r = console.api("GET", "/api/v1/alerts?severity=nonsense")
    assert r.status_code == 400 and "severity" in r.json()["error"]
    r = console.api("POST", f"/api/v1/alerts/{console.alert_ids[0]}/ack", data=b"x" * (128 << 10),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    for fmt, ctype in (("html", "text/html"), ("csv", "text/csv"), ("json", "application/json"),
                       ("md", "text/markdown")):
        r = console.api("GET", f"/api/v1/reports/fleet.{fmt}")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(ctype) and len(r.content) > 200


def test_ack_creates_row_note_and_silence(console: Console) -> None:
    alert_id = console.alert_ids[0]
    r = console.api("POST", f"/api/v1/alerts/{alert_id}/ack", user="victor", json={"note": "mine"})
    assert r.status_code == 403 and "viewer" in r.json()["error"]
    r = console.api("POST", f"/api/v1/alerts/{alert_id}/ack", json={"note": "x", "silence": "forever"})
    assert r.status_code == 400
    assert console.query("SELECT is_acknowledged FROM alert_logs WHERE id = %s", (alert_id,)) == [(False,)]
    r = console.api("POST", f"/api/v1/alerts/{alert_id}/ack", json={"note": "swapping <b>again</b>", "silence": "2h"})
    assert r.status_code == 200, r.text
    silence_id = r.json()["acknowledgement"]["silence_id"]
    assert console.query("SELECT is_acknowledged, acknowledged_by FROM alert_logs WHERE id = %s",
                         (alert_id,)) == [(True, "alice")]
    assert console.query("SELECT acknowledged_by, note, silence_id FROM alert_acknowledgements WHERE alert_id = %s",
                         (alert_id,)) == [("alice", "swapping <b>again</b>", silence_id)]
    [silence] = [s for s in requests.get(console.alertmanager_url + "/api/v2/silences", timeout=10).json()
                 if s["id"] == silence_id]
    assert silence["createdBy"] == "alice" and silence["status"]["state"] == "active"
    assert {"name": "alertname", "value": "SruMemoryHigh", "isRegex": False, "isEqual": True} in silence["matchers"]


def test_recommendation_workflow(console: Console) -> None:
    pending = console.api("GET", "/api/v1/recommendations").json()["recommendations"]
    assert len(pending) >= 3, pending
    first, second, third = (p["id"] for p in pending[:3])
    r = console.api("POST", f"/api/v1/recommendations/{first}/reject", json={})
    assert r.status_code == 400 and "reason" in r.json()["error"]
    assert console.api("POST", f"/api/v1/recommendations/{first}/approve", user="victor").status_code == 403
    assert console.api("POST", f"/api/v1/recommendations/{first}/implement").status_code == 409
    assert console.api("POST", f"/api/v1/recommendations/{first}/reject", json={"note": "no budget"}).status_code == 200
    assert console.api("POST", f"/api/v1/recommendations/{second}/approve").status_code == 200
    assert console.api("POST", f"/api/v1/recommendations/{second}/implement",
                       json={"note": "installed 2×32 GiB"}).status_code == 200
    assert console.api("POST", f"/api/v1/recommendations/{third}/frobnicate").status_code == 404
    assert console.api("POST", "/api/v1/recommendations/not-a-uuid/approve").status_code == 404
    history = console.api("GET", f"/api/v1/recommendations/{second}").json()["recommendation"]["history"]
    assert [(h["from_status"], h["to_status"], h["actor"], h["note"]) for h in history] == [
        ("pending", "approved", "alice", None), ("approved", "implemented", "alice", "installed 2×32 GiB")]
    assert console.query("SELECT status, status_changed_by FROM optimization_reports WHERE id = %s",
                         (first,)) == [("rejected", "alice")]


def test_web_console_role_cannot_write_tables(console: Console) -> None:
    url = web_login_url(console.db)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM systems").fetchone()[0] == 6
        conn.rollback()
        for sql in ("UPDATE alert_logs SET is_acknowledged = true",
                    "UPDATE optimization_reports SET status = 'approved'",
                    "INSERT INTO alert_acknowledgements (alert_id, triggered_at, acknowledged_by) VALUES (1, now(), 'x')",
                    "DELETE FROM systems", "SELECT * FROM create_optimization_report(NULL, 'configuration', 'low', 1, 't', '{}')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
            conn.rollback()


def test_login_rate_limit(console: Console) -> None:
    for _ in range(5):
        assert requests.get(console.url + "/api/v1/hosts", auth=("mallory", "guess"), timeout=10).status_code == 401
    r = requests.get(console.url + "/api/v1/hosts", auth=("mallory", "guess"), timeout=10)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # The address is locked out too, whatever the name, until the window passes.
    assert console.api("GET", "/api/v1/hosts").status_code == 429
    # …and so is the log-in form, which also refuses a post without its CSRF token.
    web = requests.Session()
    page = web.get(console.url + "/login", timeout=10)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = web.post(console.url + "/login", data={"name": "alice", "password": "alice-pw-1"}, timeout=10)
    assert r.status_code == 400 and "CSRF" in r.text
    r = web.post(console.url + "/login", data={"name": "alice", "password": "alice-pw-1", "csrf_token": csrf},
                 timeout=10, allow_redirects=False)
    assert r.status_code == 429 and "too many failed log-ins" in r.text


def test_tls_session_cookie_is_secure_and_config_errors_are_named(tsdb_database, pki: Pki, tmp_path) -> None:
    import subprocess

    import yaml

    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(pki.server_cert),
                                                         "key_file": str(pki.server_key), "min_version": "TLS13"}}))
    with run_web(tsdb_database, tmp_path, "--web.config.file", str(web), scheme="https", verify=str(pki.ca)) as (url, _):
        s = requests.Session()
        ca = str(pki.ca)  # per call: a session's verify loses to REQUESTS_CA_BUNDLE from the environment
        page = s.get(url + "/login", timeout=10, verify=ca)
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = s.post(url + "/login", data={"name": "alice", "password": PASSWORDS["alice"], "csrf_token": csrf},
                   allow_redirects=False, timeout=10, verify=ca)
        assert r.status_code == 302
        cookie = r.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert s.get(url + "/", timeout=10, verify=ca).status_code == 200
    bad = tmp_path / "accounts-bad.yml"
    bad.write_text("accounts:\n  alice: {password_hash: plain, role: operator}\n")
    r = subprocess.run([SRU, "web", "--database-url",
                        web_login_url(tsdb_database), "--web.accounts-file", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--web.accounts-file: accounts.alice.password_hash" in r.stderr
