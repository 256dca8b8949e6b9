"""The alerts dashboard (uid sru-alerts): open and recent alerts, MTTR."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    HOST_LINK,
    HOSTS_MULTI,
    SEVERITY_COLORS,
    color_text,
    console_alerts_link,
    console_id_link,
    custom_var,
    dashboard,
    link_column,
    promql,
    sql,
    stat,
    table,
    timeseries,
    unit_column,
)


def alerts() -> dict[str, Any]:
    where = """(s.hostname IN ($host) OR a.system_id IS NULL) AND a.severity IN ($severity)"""
    mttr = ("avg(a.resolved_at - a.triggered_at)", "percentile_cont(0.5) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM a.resolved_at - a.triggered_at))")
    panels: list[dict[str, Any]] = [
        stat("Open", [sql(f"""SELECT count(*) FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
                             WHERE a.resolved_at IS NULL AND {where}""")],
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
        stat("Open, not acknowledged", [sql(f"""
            SELECT count(*) FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NULL AND NOT a.is_acknowledged AND {where}""")],
             steps=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        stat("Fired in range", [sql(f"""
            SELECT count(*) FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}""")]),
        stat("MTTR in range", [sql(f"""
            SELECT extract(epoch FROM {mttr[0]}) AS mttr
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NOT NULL AND $__timeFilter(a.triggered_at) AND {where}""")], unit="s",
             description="Mean time from firing to resolution of the alerts that fired in the range "
                         "and are resolved."),
        stat("Firing in Prometheus", [promql('count(ALERTS{alertstate="firing", severity=~"$severity"}) '
                                             'or vector(0)', instant=True)], w=8,
             steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
        table("Active alerts", [sql(f"""
            SELECT a.id AS "Id", a.triggered_at AS "Since", a.severity AS "Severity", a.alert_name AS "Alert",
                   coalesce(s.hostname, a.labels->>'instance') AS "Host", a.actual_value AS "Value",
                   a.threshold_value AS "Threshold", a.annotations->>'summary' AS "Summary",
                   a.is_acknowledged AS "Acknowledged", a.acknowledged_by AS "By",
                   a.acknowledged_at AS "At"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE a.resolved_at IS NULL AND {where}
             ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                      a.triggered_at DESC LIMIT 200""")], h=8,
              description="Acknowledge in the sru console (the Id links there) or with "
                          "`sru alerts ack ID --by NAME`.",
              overrides=[link_column("Host", HOST_LINK), color_text("Severity", SEVERITY_COLORS),
                         link_column("Id", console_id_link("Acknowledge in the sru console", "alerts"))]),
        table("Firing in Prometheus now", [promql('ALERTS{alertstate="firing", severity=~"$severity"}',
                                                  instant=True)], h=6,
              description="What Prometheus evaluates right now, before Alertmanager and the receiver.",
              transformations=[{"id": "labelsToFields", "options": {"mode": "columns"}},
                               {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True,
                                                                                 "__name__": True}}}]),
        timeseries("Alerts fired per bucket", [sql(f"""
            SELECT $__timeGroupAlias(a.triggered_at, $__interval), a.severity AS metric, count(*) AS value
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}
             GROUP BY 1, 2 ORDER BY 1""", fmt="time_series")], unit="short", stack=True, interval="1h",
                   w=24, h=7),
        table("Recent alerts", [sql(f"""
            SELECT a.triggered_at AS "Triggered", a.resolved_at AS "Resolved",
                   a.resolved_at - a.triggered_at AS "Duration", a.severity AS "Severity",
                   a.alert_name AS "Alert", coalesce(s.hostname, a.labels->>'instance') AS "Host",
                   a.actual_value AS "Value", a.is_acknowledged AS "Acknowledged", a.acknowledged_by AS "By"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}
             ORDER BY a.triggered_at DESC LIMIT 500""")], h=10,
              overrides=[link_column("Host", HOST_LINK), color_text("Severity", SEVERITY_COLORS),
                         link_column("Alert", console_alerts_link("${__data.fields.Host}"))]),
        table("MTTR by rule", [sql(f"""
            SELECT a.alert_name AS "Alert", count(*) AS "Fired",
                   count(a.resolved_at) AS "Resolved",
                   extract(epoch FROM {mttr[0]}) AS "MTTR",
                   {mttr[1]} AS "Median",
                   avg(extract(epoch FROM a.acknowledged_at - a.triggered_at)) AS "Mean time to ack"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}
             GROUP BY a.alert_name ORDER BY 4 DESC NULLS LAST""")], w=12,
              overrides=[unit_column(c, "s") for c in ("MTTR", "Median", "Mean time to ack")]),
        table("MTTR by host", [sql(f"""
            SELECT coalesce(s.hostname, a.labels->>'instance', '(unknown)') AS "Host", count(*) AS "Fired",
                   count(a.resolved_at) AS "Resolved",
                   extract(epoch FROM {mttr[0]}) AS "MTTR",
                   {mttr[1]} AS "Median"
              FROM alert_logs a LEFT JOIN systems s ON s.id = a.system_id
             WHERE $__timeFilter(a.triggered_at) AND {where}
             GROUP BY 1 ORDER BY 4 DESC NULLS LAST""")], w=12,
              overrides=[link_column("Host", HOST_LINK), *(unit_column(c, "s") for c in ("MTTR", "Median"))]),
    ]
    severity = custom_var("severity", "Severity", ["critical", "warning", "info"])
    return dashboard("alerts", "sru / Alerts",
                     "Active and recent alerts from alert_logs (acknowledged or not), what Prometheus fires "
                     "now, and mean time to resolution by rule and by host.",
                     panels, [HOSTS_MULTI, severity], time_from="now-30d",
                     console=("Alerts in the sru console", "/alerts?state=all"))
