"""`sru web`'s JSON API and its rights, against real PostgreSQL (demo data, web_console login) and a
real Alertmanager."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import psycopg
import pytest
import requests

from sru.db import scalar
from tests.fixtures.certs import Pki
from tests.support import proc
from tests.support.svg import coords, text
from tests.web.conftest import PASSWORDS, TOKEN, Console, logged_in, run_web, web_login_url
from tests.web.plan_checks import check_plan


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


SVG = "{http://www.w3.org/2000/svg}"
# What the time axis of each range is labelled with: hours, weekday and day, month and day, months.
AXIS_LABELS = {"24h": (r"\d\d:00|[A-Z][a-z]{2} \d{1,2}", 6), "7d": (r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2}", 6),
               "30d": (r"[A-Z][a-z]{2} \d{1,2}", 4), "1y": (r"[A-Z][a-z]{2}( \d{4})?", 11)}


def _svg(html: str, ident: str) -> ET.Element:
    """The inline SVG with this id, parsed as XML (so it is well-formed, too)."""
    m = re.search(rf'<svg class="chart" id="{ident}".*?</svg>', html, re.S)
    assert m, f"no chart {ident}"
    return ET.fromstring(m.group(0).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_pages_read_every_source(console: Console) -> None:
    """Every page a person opens, on this tier: the host page's chart per range from its own source
    (raw samples, hourly stats, daily summaries), with labelled axes, and the forecasts."""
    web = logged_in(console.url)
    fleet = web.get(console.url + "/", timeout=30)
    assert fleet.status_code == 200 and fleet.text.count('<tr class="" data-host=') + \
        fleet.text.count('<tr class="stale" data-host=') == 6
    assert fleet.text.count("<polyline") >= 12  # CPU and RAM sparklines of every host
    name = console.api("GET", "/api/v1/hosts").json()["hosts"][0]["hostname"]
    for range_, (label_re, min_labels) in AXIS_LABELS.items():
        r = web.get(f"{console.url}/hosts/{name}?range={range_}", timeout=30)
        assert r.status_code == 200, r.text
        svg = _svg(r.text, "history")
        title = text(svg.find(f"{SVG}title"))
        assert name in title and "UTC" in title and "%" in title, title
        assert svg.get("aria-labelledby") == "history-title"
        labels = [text(t) for t in svg.iter(f"{SVG}text") if t.get("class") == "xlab"]
        assert len(labels) >= min_labels and all(re.fullmatch(label_re, t) for t in labels), (range_, labels)
        assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "ylab"] == \
            ["0 %", "25 %", "50 %", "75 %", "100 %"]
        cpu = [coords(p) for p in svg.iter(f"{SVG}polyline") if p.get("data-series") == "cpu"]
        # Demo data is hourly: 24 points in a day (one line across the 5-minute slots), 7×24, 16 days.
        assert max(map(len, cpu)) >= {"24h": 20, "7d": 160, "30d": 300, "1y": 14}[range_], (range_, len(cpu))
        assert re.search(r'<span class="key cpu">CPU</span>\s*<span class="muted">min \d+ · avg \d+ · max \d+ %', r.text)
    trends = []
    for h in console.api("GET", "/api/v1/hosts").json()["hosts"]:
        doc = console.api("GET", f"/api/v1/hosts/{h['hostname']}").json()
        html = web.get(f"{console.url}/hosts/{h['hostname']}", timeout=30).text
        drawn = [f for f in doc["forecasts"] if any(v is not None for _, v in doc["forecast_history"][f["metric"]])]
        assert drawn, doc["forecasts"]  # 16 days of summaries: enough to fit
        for f in drawn:
            svg = _svg(html, f"forecast-{f['metric']}")
            history = [p for p in svg.iter(f"{SVG}polyline") if p.get("class") != "forecast"]
            assert history and any(text(t).startswith("limit ") for t in svg.iter(f"{SVG}text"))
            if f.get("line"):  # a trend: the forecast beyond today inside its band
                trends.append(f)
                assert svg.find(f"{SVG}polygon[@class='band']") is not None
                # From the last day of history to the forecast's first day at 100 % (or its end).
                drawn_days = next((i + 1 for i, p in enumerate(f["line"]) if p[1] >= 100), len(f["line"]))
                assert len(coords(svg.find(f"{SVG}polyline[@class='forecast']"))) == drawn_days + 1
            if f.get("crossing_date"):
                full = f"full in {f['full_in_days']} day" if f["full_in_days"] else "full today"
                assert full in "".join(text(t) for t in svg.iter(f"{SVG}text"))
                assert full in text(svg.find(f"{SVG}title"))
    assert any(f.get("crossing_date") for f in trends), trends  # the demo's memory leak fills its RAM
    for path, marker in (("/alerts", "data-alert="), ("/alerts?state=all", "data-alert="),
                         ("/recommendations", "data-report="), ("/recommendations?status=all", "data-report=")):
        r = web.get(console.url + path, timeout=30)
        assert r.status_code == 200 and r.text.count(marker) >= 3, path
    check_plan(console, web)   # the Plan page and its API (tests/web/plan_checks.py)


def test_host_with_too_little_history_for_a_forecast(console: Console) -> None:
    """A new host has no forecast until the optimizer's next pass: its page says so (and fits none on
    the request path). After the pass, a host with a few days of summaries gets forecasts without a
    trend (no slope, no dates): its page shows them as dashes instead of failing."""
    from optimizer import forecast
    from sru import clock

    with psycopg.connect(console.db.url) as conn:
        sid = scalar(conn, "INSERT INTO systems (hostname, cpu_cores, ram_total_gb) "
                           "VALUES ('new-host-01', 4, 8) RETURNING id")
        conn.execute("INSERT INTO performance_summaries (system_id, period_type, period_start, period_end, "
                     "avg_ram_percent) SELECT %s, 'daily', d, d + interval '1 day', 40 FROM generate_series("
                     "date_trunc('day', now()) - interval '3 days', date_trunc('day', now()) - interval '1 day', "
                     "interval '1 day') d", (sid,))
    try:
        doc = console.api("GET", "/api/v1/hosts/new-host-01").json()
        assert (doc["forecasts"], doc["forecast_fitting"]) == ([], None) and doc["forecasts_last_pass"], doc
        web = logged_in(console.url)
        page = web.get(console.url + "/hosts/new-host-01", timeout=30)
        assert page.status_code == 200 and "No forecast yet: the optimizer's last pass" in page.text
        with console.db.connect("analyst") as conn:   # the optimizer pass's forecast step, as its role
            forecast.refresh(conn, clock.now())
        doc = console.api("GET", "/api/v1/hosts/new-host-01").json()
        assert [(f["metric"], f["status"], f["slope_per_day"], f["full_in_days"]) for f in doc["forecasts"]] == [
            ("ram_percent", "not_enough_data", None, None)]
        assert doc["forecast_fitting"]["method"] == "ols_daily_mean"
        page = web.get(console.url + "/hosts/new-host-01", timeout=30)
        assert page.status_code == 200 and "not_enough_data" in page.text and "No forecast yet" not in page.text
    finally:
        with psycopg.connect(console.db.url) as conn:
            conn.execute("DELETE FROM systems WHERE id = %s", (sid,))


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
        assert scalar(conn, "SELECT count(*) FROM systems") == 6
        conn.rollback()
        for sql in ("UPDATE alert_logs SET is_acknowledged = true",
                    "UPDATE optimization_reports SET status = 'approved'",
                    "INSERT INTO alert_acknowledgements (alert_id, triggered_at, acknowledged_by) VALUES (1, now(), 'x')",
                    "DELETE FROM systems", "SELECT * FROM create_optimization_report(NULL, 'configuration', 'low', 1, 't', '{}')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
            conn.rollback()


def test_login_rate_limit(console_one_tier: Console) -> None:
    console = console_one_tier
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
    cli = proc.sru("web", "--database-url", web_login_url(tsdb_database), "--web.accounts-file", str(bad))
    assert cli.returncode != 0 and "--web.accounts-file: accounts.alice.password_hash" in cli.stderr
