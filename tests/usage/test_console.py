"""The console's Usage page in a real browser (Debian's chromium, Playwright) and /api/v1/usage,
over a real `sru web` connected as a web_console login: an operator clicks department -> user ->
hosts, switches the range and downloads the CSV; a viewer sees department totals and is refused
per-user figures (by the console, and by the database behind it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.usage.synthetic import load
from tests.web.conftest import PASSWORDS, TOKEN, run_web
from tests.web.test_console_browser import CHROMIUM


@pytest.fixture
def console_url(tsdb_database, tmp_path):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with tsdb_database.connect() as conn:
        load(conn, t0=now - timedelta(days=2), n=600)   # 10 h of one-minute samples, two days ago
    with run_web(tsdb_database, tmp_path) as (url, _):
        yield url


def _login(page, url: str, user: str) -> None:
    page.goto(url + "/usage")
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", PASSWORDS[user])
    page.click("button[type=submit]")
    page.wait_for_selector("#who")


def test_usage_page_and_api(console_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url = console_url
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/install-deps.sh installs Debian's chromium")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page = ctx.new_page()
            _login(page, url, "alice")                   # operator
            page.goto(url + "/")
            page.click("#nav-usage")
            assert "physics" in page.inner_text("#departments")
            page.click("#departments >> text=physics")
            page.wait_for_selector("#users")
            page.click("#users >> text=alice")
            page.wait_for_selector("#user-hosts")
            assert {"h1", "h2"} <= set(page.inner_text("#user-hosts").split())
            page.screenshot(path=str(shots / "usage-operator.png"), full_page=True)
            page.click("#range-30d")
            assert "30 days" in page.inner_text("#ranges strong") and page.is_visible("#user-hosts")
            with page.expect_download() as dl:
                page.click("#csv-users")
            text = Path(dl.value.path()).read_text()
            assert text.startswith("user,department,host,cpu_core_hours") and "alice,physics,h1" in text
            page.click("#logout")

            _login(page, url, "victor")                  # viewer
            page.click("#nav-usage")
            assert "physics" in page.inner_text("#departments") and page.is_visible("#viewer-note")
            assert page.locator("#departments a").count() == 0
            page.goto(url + "/usage?department=physics&user=alice")
            assert page.locator("#users").count() == 0 and page.locator("#user-hosts").count() == 0
            page.screenshot(path=str(shots / "usage-viewer.png"), full_page=True)
        finally:
            browser.close()

    r = requests.get(url + "/api/v1/usage?by=user", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 200, r.text
    rows = {x["user"]: x for x in r.json()["rows"]}
    # alice: 1.0 + 1.5 cores for 10 hours
    assert rows["alice"]["cpu_core_hours"] == pytest.approx(25.0) and rows["alice"]["department"] == "physics"
    viewer = ("victor", PASSWORDS["victor"])
    assert requests.get(url + "/api/v1/usage?by=user", auth=viewer, timeout=30).status_code == 403
    r = requests.get(url + "/api/v1/usage?by=department", auth=viewer, timeout=30)
    assert r.status_code == 200 and {x["department"] for x in r.json()["rows"]} >= {"physics", "chemistry"}
    for bad in ("?by=everyone", "?from=yesterday", "?from=2026-01-02T00:00Z&to=2026-01-01T00:00Z",
                "?from=2020-01-01T00:00Z&to=2026-01-01T00:00Z"):
        r = requests.get(url + "/api/v1/usage" + bad, auth=viewer, timeout=30)
        assert r.status_code == 400 and r.json()["status"] == "error", (bad, r.text)
