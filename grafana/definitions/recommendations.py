"""The recommendations dashboard (uid sru-recommendations): the optimizer's reports by priority."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    HOST_LINK,
    HOSTS_MULTI,
    SEVERITY_COLORS,
    barchart,
    color_text,
    console_id_link,
    custom_var,
    dashboard,
    link_column,
    sql,
    stat,
    table,
)


def recommendations() -> dict[str, Any]:
    where = ("r.status IN ($status) AND r.report_type IN ($type) "
             "AND (s.hostname IN ($host) OR r.system_id IS NULL)")
    panels: list[dict[str, Any]] = []
    for sev, color in (("critical", "red"), ("high", "orange"), ("medium", "yellow"), ("low", "blue")):
        panels.append(stat(sev.capitalize(), [sql(f"""
            SELECT count(*) FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
             WHERE r.severity = '{sev}' AND {where}""")], w=6,
                           steps=[{"color": "gray", "value": None}, {"color": color, "value": 1}]))
    panels += [
        table("Recommendations by priority", [sql(f"""
            SELECT r.priority_score AS "Priority", r.severity AS "Severity", r.report_type AS "Type",
                   s.hostname AS "Host", r.title AS "Title", r.status AS "Status",
                   coalesce(r.recommendations->>'evidence', r.recommendations::text) AS "Evidence",
                   r.created_at AS "Created", r.status_changed_by AS "Decided by",
                   r.status_changed_at AS "Decided at", r.id::text AS "Id"
              FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
             WHERE {where}
             ORDER BY r.priority_score DESC,
                      CASE r.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
                      r.created_at DESC
             LIMIT 500""")], h=14,
              description="Approve, reject or implement a report in the sru console (the Id links there) "
                          "or with `sru reports approve|reject|implement ID --by NAME`; the evidence "
                          "column holds the numbers behind it (JSON).",
              overrides=[link_column("Host", HOST_LINK), color_text("Severity", SEVERITY_COLORS),
                         link_column("Id", console_id_link("Decide in the sru console", "recommendations")),
                         {"matcher": {"id": "byName", "options": "Evidence"},
                          "properties": [{"id": "custom.inspect", "value": True},
                                         {"id": "custom.width", "value": 420}]}]),
        barchart("By type and status", [sql("""
            SELECT r.report_type AS "Type",
                   count(*) FILTER (WHERE r.status = 'pending') AS "pending",
                   count(*) FILTER (WHERE r.status = 'approved') AS "approved",
                   count(*) FILTER (WHERE r.status = 'implemented') AS "implemented",
                   count(*) FILTER (WHERE r.status = 'rejected') AS "rejected"
              FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id
             WHERE r.report_type IN ($type) AND (s.hostname IN ($host) OR r.system_id IS NULL)
             GROUP BY 1 ORDER BY 1""")], w=12),
        table("Hosts with most open recommendations", [sql(f"""
            SELECT s.hostname AS "Host", count(*) AS "Reports", max(r.priority_score) AS "Top priority",
                   string_agg(DISTINCT r.report_type, ', ') AS "Types"
              FROM optimization_reports r JOIN systems s ON s.id = r.system_id
             WHERE {where}
             GROUP BY s.hostname ORDER BY 3 DESC, 2 DESC LIMIT 20""")], w=12, h=8,
              overrides=[link_column("Host", HOST_LINK)]),
    ]
    variables = [
        custom_var("status", "Status", ["pending", "approved", "implemented", "rejected"],
                   default=["pending", "approved"]),
        custom_var("type", "Type", ["hardware_upgrade", "reallocation", "configuration"]),
        HOSTS_MULTI,
    ]
    return dashboard("recs", "sru / Recommendations",
                     "The optimizer's reports ranked by priority, with severity, type, evidence and "
                     "workflow status.", panels, variables, time_from="now-30d", refresh="",
                     console=("Recommendations in the sru console", "/recommendations"))
