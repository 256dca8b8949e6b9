"""alert_logs in the database: idempotent upserts of webhook events, listing (acknowledgement is
sru/acknowledge.py's, shared with the console).

The merge rules make every order of deliveries converge on the same row: a resolved row is final
(a late or repeated firing delivery changes nothing), an open row takes the newest values, and one
notification is one transaction, so Alertmanager sees 2xx only once all of it is committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alertmanager.payload import AlertEvent
from sru.acknowledge import AlertNotFound
from sru.hosts import host_of

if TYPE_CHECKING:
    import psycopg

UPSERT = """
INSERT INTO alert_logs AS a (rule_id, system_id, alert_name, fingerprint, triggered_at, resolved_at,
                             metric_name, actual_value, threshold_value, severity, labels, annotations)
VALUES ((SELECT id FROM alert_rules WHERE name = %(alert_name)s),
        sru_system_id_for_host(%(host)s),
        %(alert_name)s, %(fingerprint)s, %(starts_at)s, %(ends_at)s,
        %(metric_name)s, %(actual_value)s, %(threshold_value)s, %(severity)s, %(labels)s, %(annotations)s)
ON CONFLICT (fingerprint, triggered_at) DO UPDATE SET
  resolved_at     = EXCLUDED.resolved_at,
  rule_id         = COALESCE(EXCLUDED.rule_id, a.rule_id),
  system_id       = COALESCE(EXCLUDED.system_id, a.system_id),
  metric_name     = COALESCE(EXCLUDED.metric_name, a.metric_name),
  actual_value    = COALESCE(EXCLUDED.actual_value, a.actual_value),
  threshold_value = COALESCE(EXCLUDED.threshold_value, a.threshold_value),
  severity        = EXCLUDED.severity,
  labels          = EXCLUDED.labels,
  annotations     = EXCLUDED.annotations
-- Resolved is final; an identical redelivery writes nothing (updated_at stays).
WHERE a.resolved_at IS NULL
  AND (EXCLUDED.resolved_at IS NOT NULL
       OR (a.actual_value, a.threshold_value, a.metric_name, a.severity, a.labels, a.annotations,
           a.rule_id, a.system_id)
          IS DISTINCT FROM
          (COALESCE(EXCLUDED.actual_value, a.actual_value),
           COALESCE(EXCLUDED.threshold_value, a.threshold_value),
           COALESCE(EXCLUDED.metric_name, a.metric_name), EXCLUDED.severity, EXCLUDED.labels,
           EXCLUDED.annotations, COALESCE(EXCLUDED.rule_id, a.rule_id),
           COALESCE(EXCLUDED.system_id, a.system_id)))
"""


def store_events(conn: psycopg.Connection, events: Iterable[AlertEvent]) -> int:
    """Upsert ``events`` in the caller's transaction; returns the number of rows written."""
    from psycopg.types.json import Jsonb

    params = [{
        "alert_name": e.alert_name, "fingerprint": e.fingerprint, "starts_at": e.starts_at,
        "ends_at": e.ends_at, "metric_name": e.metric_name, "actual_value": e.actual_value,
        "threshold_value": e.threshold_value, "severity": e.severity,
        "labels": Jsonb(e.labels), "annotations": Jsonb(e.annotations), "host": host_of(e.labels),
    } for e in events]
    if not params:
        return 0
    with conn.cursor() as cur:
        cur.executemany(UPSERT, params)
        return cur.rowcount


@dataclass(frozen=True)
class AlertRow:
    id: int
    alert_name: str
    severity: str
    host: str | None
    triggered_at: datetime
    resolved_at: datetime | None
    actual_value: float | None
    threshold_value: float | None
    summary: str | None
    is_acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    labels: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("triggered_at", "resolved_at", "acknowledged_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


_COLUMNS = ("id, alert_name, severity, host, triggered_at, resolved_at, actual_value, threshold_value, "
            "summary, is_acknowledged, acknowledged_by, acknowledged_at, labels")


def get_alert(conn: psycopg.Connection, alert_id: int) -> AlertRow:
    row = conn.execute(f"SELECT {_COLUMNS} FROM alert_log_details WHERE id = %s", (alert_id,)).fetchone()
    if row is None:
        raise AlertNotFound(alert_id)
    return AlertRow(*row)


def list_alerts(conn: psycopg.Connection, *, active: bool = False, host: str | None = None,
                limit: int = 100) -> list[AlertRow]:
    where: list[str] = []
    params: list[str | int] = []
    if active:
        where.append("is_active")
    if host:
        where.append("host = %s")
        params.append(host)
    sql = f"SELECT {_COLUMNS} FROM alert_log_details"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY triggered_at DESC, id DESC LIMIT %s"
    params.append(limit)
    return [AlertRow(*r) for r in conn.execute(sql, params).fetchall()]
