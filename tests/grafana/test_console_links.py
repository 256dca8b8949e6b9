"""Links from the dashboards to the sru web console: they are in the JSON with the hidden
console_url variable, each one's path is a page the console serves, and the variable's query,
run as Grafana's login after deploy/postgres/create-logins.sql set the site's URL, returns it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.support.grafana.dashboards import ROOT, all_panels, load_dashboards
from tests.support.proc import run

DASHBOARDS = load_dashboards()
VAR = "${console_url}"
# What the data-link and dashboard variables stand for when a person clicks.
SAMPLES = {"${host}": "lab01", "${__data.fields.Host}": "lab01"}
ID_SAMPLES = {"/hosts/": "lab01", "/alerts/": "42", "/recommendations/": "0b7e5c4e-8a4b-4c2e-9a52-1d2f3e4a5b6c"}


def console_urls(node: object) -> list[str]:
    """Every URL in a dashboard that points at the console."""
    if isinstance(node, dict):
        return [u for v in node.values() for u in console_urls(v)]
    if isinstance(node, list):
        return [u for v in node for u in console_urls(v)]
    return [node] if isinstance(node, str) and node.startswith(VAR) else []


def column_links(dashboard: dict[str, Any], panel_title: str, column: str) -> list[str]:
    (panel,) = [p for p in all_panels(dashboard) if p["title"] == panel_title]
    for o in panel["fieldConfig"]["overrides"]:
        if o["matcher"]["options"] == column:
            return [link["url"] for prop in o["properties"] if prop["id"] == "links" for link in prop["value"]]
    return []


def test_every_dashboard_has_the_hidden_variable_and_links_through_it():
    queries = set()
    for name, d in DASHBOARDS.items():
        (var,) = [v for v in d["templating"]["list"] if v["name"] == "console_url"]
        assert var["type"] == "query" and var["hide"] == 2 and var["datasource"]["uid"] == "sru-timescaledb", name
        queries.add(var["query"])
        header = [link for link in d["links"] if link["type"] == "link"]
        assert len(header) == 1 and header[0]["url"].startswith(VAR + "/"), name
        # Host names in tables open the console's host page next to the Grafana host dashboard.
        host_columns = [o for p in all_panels(d) for o in p.get("fieldConfig", {}).get("overrides", [])
                        if o["matcher"]["options"] == "Host"]
        for o in host_columns:
            urls = [link["url"] for prop in o["properties"] if prop["id"] == "links" for link in prop["value"]]
            if urls:
                assert VAR + "/hosts/${__value.raw}" in urls, name
    assert len(queries) == 1
    host = DASHBOARDS["host-detail.json"]
    assert [link["url"] for link in host["links"] if link["type"] == "link"] == [VAR + "/hosts/${host}"]
    assert column_links(DASHBOARDS["alerts.json"], "Active alerts", "Id") == [VAR + "/alerts/${__value.raw}"]
    assert column_links(DASHBOARDS["recommendations.json"], "Recommendations by priority", "Id") == [
        VAR + "/recommendations/${__value.raw}"]
    assert column_links(host, "Recommendations for this host", "Id") == [VAR + "/recommendations/${__value.raw}"]
    assert column_links(host, "Alerts of this host", "Alert") == [
        VAR + "/alerts?state=all&host=${host}&rule=${__value.raw}"]


def _alert_filters() -> dict[str, set[str] | None]:
    """The console's own alert filter form (web/templates/alerts.html): field → allowed values
    (None: free text)."""
    form = (ROOT / "web" / "templates" / "alerts.html").read_text(encoding="utf-8")
    form = form[form.index('<form class="filters"'):]
    form = form[:form.index("</form>")]
    fields: dict[str, set[str] | None] = {name: None for name in re.findall(r'<input name="(\w+)"', form)}
    for name, options in re.findall(r"<select name=\"(\w+)\">\{% for s in \(([^)]*)\)", form):
        fields[name] = set(re.findall(r"'(\w+)'", options))
    return fields


def test_every_console_link_is_a_page_the_console_serves():
    from web.accounts import Accounts
    from web.app import WebSettings, create_web_app

    app = create_web_app(None, WebSettings(accounts=Accounts({}), secret_key=b"k" * 32))  # type: ignore[arg-type]
    routes = app.url_map.bind("console.example.org")
    filters = _alert_filters()
    assert {"state", "host", "rule"} <= set(filters) and filters["state"]
    seen = set()
    for name, d in DASHBOARDS.items():
        for url in console_urls(d):
            link = url[len(VAR):]
            for token, value in SAMPLES.items():
                link = link.replace(token, value)
            for prefix, value in ID_SAMPLES.items():
                if link.startswith(prefix):
                    link = link.replace("${__value.raw}", value)
            link = link.replace("${__value.raw}", "SruMemoryHigh")  # the alert-name columns
            assert "$" not in link, f"{name}: {url} has a variable the test does not know"
            parts = urlsplit(link)
            endpoint, args = routes.match(parts.path, method="GET")
            assert endpoint.startswith(("pages.", "usage.")), (name, url, endpoint)  # pages for people
            seen.add(endpoint)
            for key, values in parse_qs(parts.query).items():
                assert endpoint == "pages.alerts" and key in filters, f"{name}: {url}: {key} is no filter of the page"
                allowed = filters[key]
                assert allowed is None or set(values) <= allowed, (name, url, key, values)
    assert seen == {f"pages.{e}" for e in ("fleet", "host", "alerts", "alert", "recommendations", "recommendation")} | {
        "usage.usage_page"}


def _login_variables() -> list[str]:
    """The password variables create-logins.sql reads (one per service login), from the file itself."""
    text = (ROOT / "deploy/postgres/create-logins.sql").read_text()
    return sorted(set(re.findall(r":'(\w+_password)'", text)))


def test_the_variable_returns_the_url_create_logins_set_for_the_site(tsdb_database):
    """create-logins.sql through the real psql with the site's console URL; the variable's query as
    sru_grafana returns it (trailing slash trimmed) in this database, and the default in another."""
    cluster = tsdb_database.cluster
    psql = cluster.bindir / "psql"
    if not psql.exists():
        psql = Path(shutil.which("psql") or "/usr/bin/psql")
    r = run(
        [str(psql), "--no-psqlrc", f"--host={cluster.host}", f"--port={cluster.port}", "--username=postgres",
         f"--dbname={tsdb_database.name}", "--set=console_url=https://console.example.org/sru/",
         *(f"--set={k}=pw-{k}" for k in _login_variables()),
         f"--file={ROOT / 'deploy/postgres/create-logins.sql'}"], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    (var,) = [v for v in DASHBOARDS["host-detail.json"]["templating"]["list"] if v["name"] == "console_url"]
    with psycopg.connect(cluster.url(tsdb_database.name, "sru_grafana")) as conn:
        assert conn.execute(var["query"]).fetchall() == [("https://console.example.org/sru",)]
    other = f"{tsdb_database.name}_other"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{other}"')
    try:
        with psycopg.connect(cluster.url(other, "sru_grafana")) as conn:
            assert conn.execute(var["query"]).fetchall() == [("http://localhost:9850",)]
    finally:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{other}"')


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_default_is_the_console_default_port(name):
    from web.cli import DEFAULT_PORT

    (var,) = [v for v in DASHBOARDS[name]["templating"]["list"] if v["name"] == "console_url"]
    assert f"'http://localhost:{DEFAULT_PORT}'" in var["query"]
