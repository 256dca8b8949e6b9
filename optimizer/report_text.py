"""`sru report` as text: a terminal table, JSON, CSV and Markdown, from the dict that
:func:`optimizer.report_queries.build_report` returns (the HTML page is :mod:`optimizer.report_html`)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from optimizer.plan_render import CSV_HEADER as PLAN_HEADER
from optimizer.plan_render import report_lines as plan_lines
from optimizer.plan_render import report_rows as plan_rows
from optimizer.report_model import Report
from sru.output import json_default

HOST_HEADER = ["host", "score", "p95 cpu %", "p95 ram %", "p95 gpu %", "p95 io wait %", "bottlenecks",
               "anomaly episodes", "recommendations"]


def fmt(v: Any, suffix: str = "") -> str:
    return "–" if v is None else f"{v:.1f}{suffix}" if isinstance(v, float) else f"{v}{suffix}"


def host_rows(report: Report) -> list[list[str]]:
    return [[h["hostname"], fmt(h["utilization_score"]), fmt(h["p95"]["cpu"]), fmt(h["p95"]["ram"]),
             fmt(h["p95"]["gpu"]), fmt(h["p95"]["io_wait"]),
             ",".join(h["bottlenecks"]) or "-", str(h["anomalies"]), str(len(h["recommendations"]))]
            for h in report["hosts"]]


USAGE_HEADER = ["department", "users", "hosts", "cpu core-h", "ram GB-h", "gpu h", "gpu h held idle"]


def usage_rows(report: Report) -> list[list[str]]:
    return [[u["department"], str(u["users"]), str(u["hosts"]), fmt(u["cpu_core_hours"]), fmt(u["ram_gb_hours"]),
             fmt(u["gpu_hours"]), fmt(u["gpu_idle_held_hours"])] for u in report["usage"]]


def as_json(report: Report) -> str:
    return json.dumps(report, default=json_default, indent=2) + "\n"


def as_table(report: Report) -> str:
    f = report["fleet"]
    out = [f"sru fleet report — {report['generated_at']} — last {report['window_days']} days",
           f"hosts {f['hosts']} (with data {f['hosts_with_data']}), mean utilization score "
           f"{fmt(f['mean_utilization_score'])}, {f['pending_recommendations']} pending recommendations, "
           f"{f['anomalies']} anomaly episodes", ""]
    rows = [HOST_HEADER] + host_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HOST_HEADER))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    out += ["", "recommendations (highest priority first):"]
    out += [f"  [{r['priority_score']:>2}] {r['severity']:<8} {r['report_type']:<16} {r['title']}"
            for r in report["recommendations"]] or ["  none"]
    out += ["", "usage by department (core-hours, GB-hours, GPU-hours):"]
    rows = [USAGE_HEADER] + usage_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(USAGE_HEADER))]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows] if len(rows) > 1 \
        else ["  none"]
    out += ["", "consolidation plan:"] + ["  " + line for line in plan_lines(report["plan"])]
    return "\n".join(out) + "\n"


def as_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["section", "id", "host", "priority", "severity", "type", "status", "title"])
    for r in report["recommendations"]:
        w.writerow(["recommendation", r["id"], r["hostname"], r["priority_score"], r["severity"], r["report_type"],
                    r["status"], r["title"]])
    w.writerow([])
    w.writerow(["section"] + HOST_HEADER)
    for row in host_rows(report):
        w.writerow(["host"] + row)
    w.writerow([])
    w.writerow(["section"] + USAGE_HEADER)
    for row in usage_rows(report):
        w.writerow(["usage"] + row)
    w.writerow([])
    w.writerow(["section"] + PLAN_HEADER)
    for row in plan_rows(report["plan"]):
        w.writerow(["plan"] + row)
    return buf.getvalue()


def as_markdown(report: Report) -> str:
    f = report["fleet"]
    out = ["# sru fleet report", "", f"Generated {report['generated_at']}, last {report['window_days']} days.", "",
           f"* hosts: {f['hosts']} ({f['hosts_with_data']} with data)",
           f"* mean utilization score: {fmt(f['mean_utilization_score'])}",
           f"* under-utilised: {', '.join(f['underutilized_hosts']) or 'none'}",
           f"* over-utilised: {', '.join(f['overutilized_hosts']) or 'none'}",
           f"* pending recommendations: {f['pending_recommendations']}, anomaly episodes: {f['anomalies']}", "",
           "## Recommendations", "", "| priority | severity | type | host | recommendation |", "|---|---|---|---|---|"]
    out += [f"| {r['priority_score']} | {r['severity']} | {r['report_type']} | {r['hostname']} | "
            f"{r['title'].replace('|', '/')} |" for r in report["recommendations"]]
    out += ["", "## Hosts", "", "| " + " | ".join(HOST_HEADER) + " |", "|" + "---|" * len(HOST_HEADER)]
    out += ["| " + " | ".join(r) + " |" for r in host_rows(report)]
    out += ["", "## Usage by department", "", "| " + " | ".join(USAGE_HEADER) + " |", "|" + "---|" * len(USAGE_HEADER)]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in usage_rows(report)]
    out += ["", "## Consolidation plan", ""] + ["* " + line for line in plan_lines(report["plan"])]
    return "\n".join(out) + "\n"
