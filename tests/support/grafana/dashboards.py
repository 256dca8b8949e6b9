"""Loading the committed dashboards and provisioning files, and walking their queries, for the tests
and for bench/dashboards."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "sru.yml"
PROVIDERS_FILE = GRAFANA / "provisioning" / "dashboards" / "sru.yml"


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def provisioned_datasources() -> list[dict[str, Any]]:
    return yaml.safe_load(DATASOURCES_FILE.read_text(encoding="utf-8"))["datasources"]


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str  # panel title / variable name, for messages
    kind: str  # "sql" or "promql"
    text: str
    panel: dict[str, Any] | None  # None for variable queries

    @property
    def label(self) -> str:
        return f"{self.dashboard} › {self.where}"


def queries(dashboard_file: str, dashboard: dict[str, Any]) -> Iterator[Query]:
    for var in dashboard.get("templating", {}).get("list", []):
        if var["type"] == "query":
            yield Query(dashboard_file, f"variable {var['name']}", "sql", var["query"], None)
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            title = f"{panel['title']} [{target['refId']}]"
            if "rawSql" in target:
                yield Query(dashboard_file, title, "sql", target["rawSql"], panel)
            elif "expr" in target:
                yield Query(dashboard_file, title, "promql", target["expr"], panel)


def datasource_refs(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``datasource`` value anywhere in a dashboard, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield path, value
            yield from datasource_refs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from datasource_refs(value, f"{path}[{i}]")


_DASHBOARD_LINK = re.compile(r"/d/([A-Za-z0-9_-]+)")


def dashboard_links(node: Any) -> Iterator[str]:
    """uids of every /d/<uid> URL in the dashboard (panel links, data links, dashboard links)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from dashboard_links(value)
    elif isinstance(node, list):
        for value in node:
            yield from dashboard_links(value)
    elif isinstance(node, str):
        yield from _DASHBOARD_LINK.findall(node)
