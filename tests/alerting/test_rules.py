"""The alerting rules: valid for promtool, each unit-tested firing and quiet, each carrying what
notifications and alert_logs need, with its threshold stated once in the expression and repeated
faithfully in its annotation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sru.thresholds import shipped
from tests.fixtures.prometheus import PROMTOOL_BIN
from tests.support.proc import run

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
ALERT_FILES = sorted(RULES_DIR.glob("alerts*.yml"))
RUNBOOKS = Path(__file__).resolve().parents[2] / "alertmanager" / "RUNBOOKS.md"
REQUIRED_ANNOTATIONS = {"summary", "description", "value", "threshold", "metric", "runbook_url"}


def alerting_rules() -> list[dict[str, Any]]:
    return [rule for path in ALERT_FILES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


RULES = alerting_rules()


def test_rule_files_exist() -> None:
    assert ALERT_FILES and len(RULES) >= 12


def test_promtool_check_rules() -> None:
    r = run([PROMTOOL_BIN, "check", "rules", *map(str, ALERT_FILES)], timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests() -> None:
    tests = sorted((RULES_DIR / "tests").glob("alerts*_test.yml"))
    assert tests
    r = run([PROMTOOL_BIN, "test", "rules", *map(str, tests)], timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in sorted((RULES_DIR / "tests").glob("alerts*_test.yml")):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fired if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {r["alert"] for r in RULES}
    assert names - fired == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["alert"])
def test_rule_shape(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("Sru")
    assert rule["labels"]["severity"] in ("critical", "warning", "info")
    assert set(rule["annotations"]) >= REQUIRED_ANNOTATIONS
    assert "for" in rule
    anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
    assert anchor == rule["alert"].lower()
    assert f"## {rule['alert']}" in RUNBOOKS.read_text()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["alert"])
def test_threshold_annotation_matches_expression(rule: dict[str, Any]) -> None:
    # The number after the final comparison is the threshold; the annotation must say the same.
    threshold = float(rule["annotations"]["threshold"])
    comparisons = re.findall(r"(?:[<>]=?|==)\s*(-?[0-9.e+]+)\s*\)?\s*$", rule["expr"].strip(), re.M)
    assert comparisons, rule["expr"]
    assert float(comparisons[0]) == threshold
    # Descriptions that state the threshold state the same one.
    stated = re.findall(r"\((?:over|under) ([0-9.]+)", rule["annotations"]["description"])
    for value in stated:
        assert float(value) in (threshold, threshold / 1048576), (value, threshold)


# Alerts that judge what the optimizer judges, at the same number: alert -> sru_thresholds() name.
SHARED_THRESHOLDS = {
    "SruMemoryHigh": "ram_percent", "SruHighIoWait": "disk_io_wait_percent",
    "SruCpuTooHot": "cpu_temp_celsius", "SruGpuTooHot": "gpu_temp_celsius",
    "SruGpuMemoryExhausted": "gpu_memory_percent",
}
# The others, and why their numbers are their own.
OWN_THRESHOLDS = {
    "SruHostDown": "a scrape that fails, not a level",
    "SruCpuSaturated": "a CPU pinned near 100 % for 15 minutes; the optimizer's cpu_percent is a day's p95",
    "SruSwappingHard": "swap traffic in bytes/s, which the optimizer does not store",
    "SruDiskFillingUp": "free filesystem space, which the optimizer does not judge",
    "SruDiskAlmostFull": "free filesystem space, which the optimizer does not judge",
    "SruExporterCollectorFailing": "a collector failing, not a level",
    "SruRemoteWriteFailing": "Prometheus's own remote write",
    "SruRemoteWriteBehind": "Prometheus's own remote write",
    "SruDigestDeliveryFailed": "failed deliveries of the weekly digest, not a level of a host",
    "SruBackupStale": "the age of the newest backup (pgBackRest), not a level of a host",
    "SruBackupNotRestorable": "the backup chain's state, not a level",
    "SruBackupExporterBlind": "the backup exporter failing to read the database, not a level",
    "SruWalArchivingFailing": "PostgreSQL's WAL archiver failing, not a level",
    "SruWalArchiveBehind": "WAL waiting to be archived: the database's own lag",
    "SruStandbyLagging": "replication lag of the standby: the database's own",
}


def test_alert_thresholds_are_the_optimizers() -> None:
    """GPU temperature once alerted at 85 °C while the optimizer called 87 °C thermal-bound: every
    alert is either held to sql/R__sru_thresholds.sql or says why its number is its own."""
    limits = shipped()
    names = {r["alert"] for r in RULES}
    assert names == set(SHARED_THRESHOLDS) | set(OWN_THRESHOLDS), "a new alert: add it to one of the two"
    for rule in RULES:
        if rule["alert"] in SHARED_THRESHOLDS:
            assert float(rule["annotations"]["threshold"]) == limits[SHARED_THRESHOLDS[rule["alert"]]], rule["alert"]


def test_grafana_percent_colours_are_the_optimizers() -> None:
    from grafana.panels import PERCENT_STEPS

    limits = shipped()
    assert [s["value"] for s in PERCENT_STEPS] == [None, limits["sizing_target_percent"],
                                                   limits["overutilized_percent"]]
