"""`sru rules sync`: the alert_rules catalog mirrors the alerting rules in the rule files.

One row per alerting rule (by name): expression, threshold (the rule's `threshold` annotation), duration
(`for`), severity, source file, description. A rule no longer in the files is disabled, never deleted:
alert_logs rows keep pointing at it. Rows from other sources (source_file not a .yml/.yaml file, such as
the optimizer's anomaly rules) are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertmanager.payload import DEFAULT_SEVERITY, SEVERITIES
from sru.config import load_yaml_file
from sru.errors import ConfigError
from sru.options import duration_seconds

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class RuleRow:
    name: str
    expression: str
    threshold: float | None
    duration: timedelta | None
    severity: str
    source_file: str
    description: str | None


@dataclass
class SyncResult:
    added: list[str]
    updated: list[str]
    disabled: list[str]
    unchanged: int


def shipped_rule_files() -> list[Path]:
    from importlib import resources

    return sorted(Path(str(resources.files("sru.rules"))).glob("alerts*.yml"))


def read_rules(paths: Iterable[Path], option: str = "FILE") -> list[RuleRow]:
    rows: dict[str, tuple[RuleRow, str]] = {}
    for path in paths:
        doc = load_yaml_file(str(path), option)
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
            raise ConfigError(option, f"{path}: not a Prometheus rule file (no 'groups' list)")
        for group in doc["groups"]:
            for rule in group.get("rules") or []:
                if "alert" not in rule:
                    continue  # a recording rule
                where = f"{path}: group {group.get('name')!r}, alert {rule['alert']!r}"
                row = _row(rule, str(path), where, option)
                if row.name in rows:
                    raise ConfigError(option, f"{where}: the name is already used by {rows[row.name][1]}; "
                                              "alert_rules keeps one row per alert name")
                rows[row.name] = (row, where)
    return [r for r, _ in rows.values()]


def _row(rule: dict[str, Any], source: str, where: str, option: str) -> RuleRow:
    annotations = rule.get("annotations") or {}
    labels = rule.get("labels") or {}
    threshold = None
    if "threshold" in annotations:
        try:
            threshold = float(annotations["threshold"])
        except (TypeError, ValueError):
            raise ConfigError(option, f"{where}: threshold annotation {annotations['threshold']!r} "
                                      "is not a number") from None
        if not math.isfinite(threshold):
            threshold = None
    duration = None
    if rule.get("for"):
        try:
            duration = timedelta(seconds=duration_seconds(str(rule["for"])))
        except ValueError as exc:
            raise ConfigError(option, f"{where}: for: {exc}") from None
    severity = labels.get("severity")
    return RuleRow(name=str(rule["alert"]), expression=str(rule["expr"]).strip(), threshold=threshold,
                   duration=duration, severity=severity if severity in SEVERITIES else DEFAULT_SEVERITY,
                   source_file=source, description=annotations.get("description") or annotations.get("summary"))


UPSERT = """
INSERT INTO alert_rules AS r (name, expression, threshold, duration, severity, enabled, source_file, description)
VALUES (%(name)s, %(expression)s, %(threshold)s, %(duration)s, %(severity)s, true, %(source_file)s, %(description)s)
ON CONFLICT (name) DO UPDATE SET
  expression = EXCLUDED.expression, threshold = EXCLUDED.threshold, duration = EXCLUDED.duration,
  severity = EXCLUDED.severity, enabled = true, source_file = EXCLUDED.source_file,
  description = EXCLUDED.description
WHERE (r.expression, r.threshold, r.duration, r.severity, r.enabled, r.source_file, r.description)
      IS DISTINCT FROM
      (EXCLUDED.expression, EXCLUDED.threshold, EXCLUDED.duration, EXCLUDED.severity, true,
       EXCLUDED.source_file, EXCLUDED.description)
RETURNING (xmax = 0) AS inserted
"""


def sync_rules(conn: psycopg.Connection, rows: list[RuleRow]) -> SyncResult:
    """Upsert ``rows`` and disable every other enabled rule, in one transaction."""
    result = SyncResult([], [], [], 0)
    with conn.transaction():
        # One sync at a time: two concurrent syncs would each disable the other's new rules.
        conn.execute("LOCK TABLE alert_rules IN SHARE ROW EXCLUSIVE MODE")
        for row in rows:
            got = conn.execute(UPSERT, row.__dict__).fetchone()
            if got is None:
                result.unchanged += 1
            elif got[0]:
                result.added.append(row.name)
            else:
                result.updated.append(row.name)
        disabled = conn.execute(
            "UPDATE alert_rules SET enabled = false WHERE enabled AND NOT (name = ANY(%s)) "
            # Only rules that came from rule files: others (the optimizer's, source 'optimizer')
            # are not Prometheus's and not this command's to disable.
            "AND source_file ~ '[.]ya?ml$' RETURNING name",
            ([r.name for r in rows],)).fetchall()
        result.disabled = sorted(name for (name,) in disabled)
    return result
