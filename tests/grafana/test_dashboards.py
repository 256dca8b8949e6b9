"""Static checks of the dashboards and provisioning files: what Grafana would refuse or break on
when it loads them."""

from __future__ import annotations

import re
import sys

import pytest
import yaml

from tests.support.grafana.dashboards import (
    DASHBOARD_DIR,
    GRAFANA,
    PROVIDERS_FILE,
    all_panels,
    dashboard_links,
    datasource_refs,
    load_dashboards,
    provisioned_datasources,
    queries,
)
from tests.support.proc import run

DASHBOARDS = load_dashboards()
EXPECTED = {"fleet-overview.json", "host-detail.json", "alerts.json", "recommendations.json", "users.json",
            "usage.json"}


def test_all_dashboards_present_and_generated_file_up_to_date():
    assert set(DASHBOARDS) == EXPECTED
    r = run([sys.executable, str(GRAFANA / "generate.py"), "--check"], check=False)
    assert r.returncode == 0, r.stderr


def test_uids_unique_and_stable():
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids)
    for d in DASHBOARDS.values():
        # Grafana's limits: at most 40 characters of letters, digits, '-' and '_'.
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"]), d["uid"]
        assert d["uid"].startswith("sru-")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_panel_ids_unique_and_grid_does_not_overlap(name):
    d = DASHBOARDS[name]
    panels = list(all_panels(d))
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids), ids
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, (p["title"], g)
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
    assert d["schemaVersion"] >= 36 and d["title"].startswith("sru / ")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_datasource_reference_is_provisioned(name):
    provisioned = {ds["uid"]: ds["type"] for ds in provisioned_datasources()}
    refs = list(datasource_refs(DASHBOARDS[name]))
    assert refs
    for where, ref in refs:
        assert isinstance(ref, dict), f"{where}: datasource by name ({ref!r}) breaks when renamed; use uid"
        if ref.get("uid") == "-- Grafana --":
            assert ref["type"] == "grafana"
            continue
        assert ref.get("uid") in provisioned, f"{where}: {ref} is not provisioned"
        assert provisioned[ref["uid"]] == ref["type"], f"{where}: type {ref['type']} != {provisioned[ref['uid']]}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_targets_match_their_panel_datasource(name):
    for panel in all_panels(DASHBOARDS[name]):
        for target in panel.get("targets", []):
            assert target["datasource"] == panel["datasource"], panel["title"]
            key = "rawSql" if target["datasource"]["uid"] == "sru-timescaledb" else "expr"
            assert target.get(key), f"{panel['title']}: no {key}"
        if panel["type"] != "row":
            assert panel.get("targets"), f"{panel['title']} has no query"


def test_links_point_at_existing_dashboards_and_dashboards_link_each_other():
    uids = {d["uid"] for d in DASHBOARDS.values()}
    for name, d in DASHBOARDS.items():
        for uid in dashboard_links(d):
            assert uid in uids, f"{name} links to unknown dashboard {uid}"
        # The tag link lists every sru dashboard in each one's header.
        tag_links = [link for link in d["links"] if link["type"] == "dashboards"]
        assert tag_links and set(tag_links[0]["tags"]) <= set(d["tags"])
    host_links = [uid for d in DASHBOARDS.values() for uid in dashboard_links(d) if uid == "sru-host"]
    assert len(host_links) >= 5  # hosts in tables open the host dashboard


def test_host_variables():
    for name in EXPECTED - {"users.json", "usage.json"}:
        variables = {v["name"]: v for v in DASHBOARDS[name]["templating"]["list"]}
        assert "host" in variables, name
        assert variables["host"]["datasource"]["uid"] == "sru-timescaledb"
    assert DASHBOARDS["host-detail.json"]["templating"]["list"][0]["multi"] is False


def test_provisioning_files():
    dss = provisioned_datasources()
    by_uid = {ds["uid"]: ds for ds in dss}
    assert set(by_uid) == {"sru-prometheus", "sru-timescaledb"}
    tsdb = by_uid["sru-timescaledb"]
    assert tsdb["jsonData"]["timescaledb"] is True
    # Secrets come from the environment, never from this repository.
    assert tsdb["secureJsonData"]["password"].startswith("${")
    assert tsdb["user"].startswith("${")
    assert sum(bool(ds.get("isDefault")) for ds in dss) == 1
    providers = yaml.safe_load(PROVIDERS_FILE.read_text())["providers"]
    assert providers[0]["type"] == "file" and providers[0]["options"]["path"].startswith("/")


def test_query_inventory_covers_both_datasources():
    found = [q for name, d in DASHBOARDS.items() for q in queries(name, d)]
    assert sum(q.kind == "sql" for q in found) > 40
    assert sum(q.kind == "promql" for q in found) > 10
    assert (DASHBOARD_DIR / "fleet-overview.json").exists()
