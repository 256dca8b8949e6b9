"""`sru report`: fleet overview, ranked recommendations and per-host sections, as table, json, csv,
md or html. The HTML page is self-contained: its charts are inline SVG drawn here (no JavaScript, no
CDN), so it opens on a machine without internet."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from optimizer import thresholds
from sru.output import json_default as _default

FORMATS = ("table", "json", "csv", "md", "html")
SERIES = (("cpu", "#1f77b4"), ("ram", "#d62728"), ("gpu", "#2ca02c"), ("io_wait", "#9467bd"))


def build_report(url_or_conn: Any, *, window: timedelta = timedelta(days=30), hosts: Sequence[str] | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    from psycopg.rows import dict_row

    from optimizer import forecast
    from optimizer.anomalies import recent_episodes
    from sru.db import connect

    own = isinstance(url_or_conn, str)
    conn = connect(url_or_conn, application_name="sru-report") if own else url_or_conn
    try:
        cur = conn.cursor(row_factory=dict_row)
        now = now or datetime.now(timezone.utc)
        since = now - window
        host_filter = list(hosts) if hosts else None
        systems = cur.execute(
            "SELECT id, hostname, cpu_model, cpu_cores, ram_total_gb, gpu_model, gpu_count, location, status, last_seen "
            "FROM systems WHERE status <> 'retired' AND (%s::text[] IS NULL OR hostname = ANY(%s)) ORDER BY hostname",
            (host_filter, host_filter)).fetchall()
        ids = [s["id"] for s in systems]
        daily = cur.execute(
            "SELECT system_id, period_start, avg_cpu_percent, p95_cpu_percent, avg_ram_percent, p95_ram_percent, "
            "avg_gpu_utilization, p95_gpu_utilization, avg_disk_io_wait_percent, p95_disk_io_wait_percent, "
            "max_swap_percent, is_underutilized, is_overutilized, bottleneck_type, utilization_score "
            "FROM performance_summaries WHERE period_type = 'daily' AND period_start >= %s AND system_id = ANY(%s) "
            "ORDER BY system_id, period_start", (since, ids)).fetchall()
        reports = cur.execute(
            "SELECT r.id, s.hostname, r.report_type, r.severity, r.priority_score, r.status, r.title, "
            "r.recommendations, r.created_at FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id "
            "WHERE r.status IN ('pending', 'approved') AND (r.system_id = ANY(%s) OR r.system_id IS NULL) "
            "ORDER BY r.priority_score DESC, s.hostname, r.report_type", (ids,)).fetchall()
        # Anomaly episodes that were open at some point in the window (one per host, metric and
        # kind episode, however many hours it lasted).
        anomalies = dict(conn.execute(
            "SELECT system_id, count(*) FROM anomaly_episodes WHERE coalesce(ended_at, 'infinity') > %s "
            "AND started_at < %s AND system_id = ANY(%s) GROUP BY 1", (since, now, ids)).fetchall())
        episodes = recent_episodes(conn, since)
        hourly = conn.execute(
            "SELECT system_id, bucket, avg_cpu_percent FROM hourly_performance_stats "
            "WHERE bucket >= %s AND system_id = ANY(%s) ORDER BY system_id, bucket",
            (now - timedelta(days=28), ids)).fetchall()
        forecasts = forecast.host_forecasts(conn, now, ("ram_percent",))
        limits = thresholds.load(conn)
        top = cur.execute("SELECT * FROM get_top_resource_consumers('cpu', %s, 5)", (since,)).fetchall()
        conn.rollback()
    finally:
        if own:
            conn.close()

    by_host: dict[Any, list] = {}
    for d in daily:
        by_host.setdefault(d["system_id"], []).append(d)
    hourly_by: dict[Any, tuple[list, list]] = {}
    for sid, bucket, cpu in hourly:
        h = hourly_by.setdefault(sid, ([], []))
        h[0].append(bucket)
        h[1].append(cpu)
    host_sections = []
    for s in systems:
        days = by_host.get(s["id"], [])
        fc = forecasts.get(s["id"], {}).get("ram_percent")
        hs = hourly_by.get(s["id"])
        section = {
            "hostname": s["hostname"], "hardware": {k: s[k] for k in ("cpu_model", "cpu_cores", "ram_total_gb",
                                                                       "gpu_model", "gpu_count", "location")},
            "days": len(days),
            "utilization_score": _mean([d["utilization_score"] for d in days]),
            "p95": {"cpu": _p95([d["p95_cpu_percent"] for d in days]), "ram": _p95([d["p95_ram_percent"] for d in days]),
                    "gpu": _p95([d["p95_gpu_utilization"] for d in days]),
                    "io_wait": _p95([d["p95_disk_io_wait_percent"] for d in days])},
            "underutilized_days": sum(1 for d in days if d["is_underutilized"]),
            "overutilized_days": sum(1 for d in days if d["is_overutilized"]),
            "bottlenecks": _counts([d["bottleneck_type"] for d in days if d["bottleneck_type"]]),
            "anomalies": anomalies.get(s["id"], 0),
            "anomaly_episodes": episodes.get(s["id"], []),
            "forecast_ram": fc.as_dict() if fc else None,
            "series": {"day": [d["period_start"].date().isoformat() for d in days],
                       "cpu": [d["avg_cpu_percent"] for d in days], "ram": [d["avg_ram_percent"] for d in days],
                       "gpu": [d["avg_gpu_utilization"] for d in days],
                       "io_wait": [d["avg_disk_io_wait_percent"] for d in days]},
            "forecast_line": fc.line if fc and fc.line else None,
            "weekly_cpu": forecast.weekly_profile(hs[0], hs[1]) if hs else None,
            "recommendations": [r["title"] for r in reports if r["hostname"] == s["hostname"]],
        }
        host_sections.append(section)
    scores = [h["utilization_score"] for h in host_sections if h["utilization_score"] is not None]
    return {
        "generated_at": now.isoformat(timespec="seconds"), "window_days": window.days,
        "fleet": {"hosts": len(systems), "hosts_with_data": sum(1 for h in host_sections if h["days"]),
                  "mean_utilization_score": _mean(scores),
                  "underutilized_hosts": [h["hostname"] for h in host_sections if h["days"] and h["underutilized_days"] >= limits["idle_share"] * h["days"]],
                  "overutilized_hosts": [h["hostname"] for h in host_sections if h["days"] and h["overutilized_days"] >= limits["hot_share"] * h["days"]],
                  "pending_recommendations": sum(1 for r in reports if r["status"] == "pending"),
                  "anomalies": sum(anomalies.values()), "top_cpu_users": top},
        "recommendations": [{k: (str(v) if k == "id" else v) for k, v in r.items()} for r in reports],
        "hosts": host_sections,
    }


def _mean(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return round(sum(v) / len(v), 1) if v else None


def _p95(values: Sequence[float | None]) -> float | None:
    import numpy as np

    v = [x for x in values if x is not None]
    return round(float(np.percentile(v, 95)), 1) if v else None


def _counts(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _fmt(v: Any, suffix: str = "") -> str:
    return "–" if v is None else f"{v:.1f}{suffix}" if isinstance(v, float) else f"{v}{suffix}"


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    return {"table": _table, "json": _json, "csv": _csv, "md": _md, "html": _html}[fmt](report)


def _json(report: dict[str, Any]) -> str:
    return json.dumps(report, default=_default, indent=2) + "\n"


def _host_rows(report: dict[str, Any]) -> list[list[str]]:
    return [[h["hostname"], _fmt(h["utilization_score"]), _fmt(h["p95"]["cpu"]), _fmt(h["p95"]["ram"]),
             _fmt(h["p95"]["gpu"]), _fmt(h["p95"]["io_wait"]),
             ",".join(h["bottlenecks"]) or "-", str(h["anomalies"]), str(len(h["recommendations"]))]
            for h in report["hosts"]]


HOST_HEADER = ["host", "score", "p95 cpu %", "p95 ram %", "p95 gpu %", "p95 io wait %", "bottlenecks",
               "anomaly episodes", "recommendations"]


def _table(report: dict[str, Any]) -> str:
    f = report["fleet"]
    out = [f"sru fleet report — {report['generated_at']} — last {report['window_days']} days",
           f"hosts {f['hosts']} (with data {f['hosts_with_data']}), mean utilization score "
           f"{_fmt(f['mean_utilization_score'])}, {f['pending_recommendations']} pending recommendations, "
           f"{f['anomalies']} anomaly episodes", ""]
    rows = [HOST_HEADER] + _host_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HOST_HEADER))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    out += ["", "recommendations (highest priority first):"]
    out += [f"  [{r['priority_score']:>2}] {r['severity']:<8} {r['report_type']:<16} {r['title']}"
            for r in report["recommendations"]] or ["  none"]
    return "\n".join(out) + "\n"


def _csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["section", "id", "host", "priority", "severity", "type", "status", "title"])
    for r in report["recommendations"]:
        w.writerow(["recommendation", r["id"], r["hostname"], r["priority_score"], r["severity"], r["report_type"],
                    r["status"], r["title"]])
    w.writerow([])
    w.writerow(["section"] + HOST_HEADER)
    for row in _host_rows(report):
        w.writerow(["host"] + row)
    return buf.getvalue()


def _md(report: dict[str, Any]) -> str:
    f = report["fleet"]
    out = ["# sru fleet report", "", f"Generated {report['generated_at']}, last {report['window_days']} days.", "",
           f"* hosts: {f['hosts']} ({f['hosts_with_data']} with data)",
           f"* mean utilization score: {_fmt(f['mean_utilization_score'])}",
           f"* under-utilised: {', '.join(f['underutilized_hosts']) or 'none'}",
           f"* over-utilised: {', '.join(f['overutilized_hosts']) or 'none'}",
           f"* pending recommendations: {f['pending_recommendations']}, anomaly episodes: {f['anomalies']}", "",
           "## Recommendations", "", "| priority | severity | type | host | recommendation |", "|---|---|---|---|---|"]
    out += [f"| {r['priority_score']} | {r['severity']} | {r['report_type']} | {r['hostname']} | "
            f"{r['title'].replace('|', '/')} |" for r in report["recommendations"]]
    out += ["", "## Hosts", "", "| " + " | ".join(HOST_HEADER) + " |", "|" + "---|" * len(HOST_HEADER)]
    out += ["| " + " | ".join(r) + " |" for r in _host_rows(report)]
    return "\n".join(out) + "\n"


def _svg_lines(days: list[str], series: dict[str, list], forecast_line: list | None = None,
               width: int = 640, height: int = 180) -> str:
    """Daily means per resource (0-100 %), plus the RAM forecast and its 95 % band when present."""
    n_hist = len(days)
    n_fc = len(forecast_line) if forecast_line else 0
    n = max(n_hist + n_fc, 2)
    pad_l, pad_b, pad_t = 34, 18, 8
    w, h = width - pad_l - 8, height - pad_b - pad_t

    def xy(i: int, v: float) -> str:
        return f"{pad_l + w * i / (n - 1):.1f},{pad_t + h * (1 - max(0.0, min(v, 100.0)) / 100):.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="daily usage">',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>']
    for g in (0, 25, 50, 75, 100):
        y = pad_t + h * (1 - g / 100)
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{pad_l - 4}" y="{y + 3:.1f}" font-size="9" text-anchor="end">{g}</text>')
    if forecast_line:
        upper = [xy(n_hist + i, p[3]) for i, p in enumerate(forecast_line)]
        lower = [xy(n_hist + i, p[2]) for i, p in reversed(list(enumerate(forecast_line)))]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="#d62728" fill-opacity="0.12"/>')
        mean = [xy(n_hist + i, p[1]) for i, p in enumerate(forecast_line)]
        parts.append(f'<polyline points="{" ".join(mean)}" fill="none" stroke="#d62728" stroke-dasharray="4 3"/>')
        y90 = pad_t + h * 0.1
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{y90:.1f}" y2="{y90:.1f}" stroke="#d62728" '
                     f'stroke-width="0.6" stroke-dasharray="1 2"/>')
    for name, color in SERIES:
        pts = [xy(i, v) for i, v in enumerate(series.get(name) or []) if v is not None]
        if len(pts) > 1:
            parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="1.5">'
                         f'<title>{name}</title></polyline>')
    if days:
        parts.append(f'<text x="{pad_l}" y="{height - 4}" font-size="9">{html.escape(days[0])}</text>')
        end = forecast_line[-1][0] if forecast_line else days[-1]
        parts.append(f'<text x="{pad_l + w}" y="{height - 4}" font-size="9" text-anchor="end">{html.escape(end)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_week(profile: list[float], width: int = 640, height: int = 110) -> str:
    pad_l, pad_b, pad_t = 34, 16, 6
    w, h = width - pad_l - 8, height - pad_b - pad_t
    top = max(max(profile), 1.0)
    pts = " ".join(f"{pad_l + w * i / 167:.1f},{pad_t + h * (1 - max(v, 0) / top):.1f}" for i, v in enumerate(profile))
    labels = "".join(f'<text x="{pad_l + w * d * 24 / 167:.1f}" y="{height - 3}" font-size="9">{name}</text>'
                     for d, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="weekly CPU pattern"><rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafafa" '
            f'stroke="#ccc"/><text x="{pad_l - 4}" y="{pad_t + 8}" font-size="9" text-anchor="end">{top:.0f}</text>'
            f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>{labels}</svg>')


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:left}
th{background:#f3f3f3}.critical{color:#b00020;font-weight:bold}.high{color:#d35400}.medium{color:#8a6d00}
.low{color:#555}section.host{border-top:1px solid #ccc;margin-top:1.5em}.legend span{margin-right:1em}
.muted{color:#777;font-size:12px}"""


def _html(report: dict[str, Any]) -> str:
    e = html.escape
    f = report["fleet"]
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sru fleet report</title>",
           f"<style>{_CSS}</style></head><body>", "<h1>sru fleet report</h1>",
           f"<p class=\"muted\">Generated {e(report['generated_at'])} — last {report['window_days']} days.</p>",
           "<h2>Fleet overview</h2><table>",
           f"<tr><th>hosts</th><td>{f['hosts']} ({f['hosts_with_data']} with data)</td></tr>",
           f"<tr><th>mean utilization score</th><td>{_fmt(f['mean_utilization_score'])} / 100</td></tr>",
           f"<tr><th>under-utilised</th><td>{e(', '.join(f['underutilized_hosts']) or 'none')}</td></tr>",
           f"<tr><th>over-utilised</th><td>{e(', '.join(f['overutilized_hosts']) or 'none')}</td></tr>",
           f"<tr><th>pending recommendations</th><td>{f['pending_recommendations']}</td></tr>",
           f"<tr><th>anomaly episodes</th><td>{f['anomalies']}</td></tr></table>",
           "<h2>Recommendations</h2>"]
    if report["recommendations"]:
        out.append("<table><tr><th>priority</th><th>severity</th><th>type</th><th>host</th><th>recommendation</th>"
                   "<th>expected effect</th><th>id</th></tr>")
        for r in report["recommendations"]:
            ev = r["recommendations"] or {}
            out.append(f"<tr><td>{r['priority_score']}</td><td class=\"{e(r['severity'])}\">{e(r['severity'])}</td>"
                       f"<td>{e(r['report_type'])}</td><td>{e(str(r['hostname']))}</td><td>{e(r['title'])}</td>"
                       f"<td>{e(str(ev.get('expected_effect', '')))}</td><td><code>{e(r['id'][:8])}</code></td></tr>")
        out.append("</table>")
    else:
        out.append("<p>None.</p>")
    out.append("<h2>Hosts</h2><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in HOST_HEADER) + "</tr>")
    out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _host_rows(report)]
    out.append("</table>")
    legend = "".join(f'<span style="color:{c}">■ {n}</span>' for n, c in SERIES)
    for hsec in report["hosts"]:
        hw = hsec["hardware"]
        out.append(f"<section class=\"host\"><h3 id=\"{e(hsec['hostname'])}\">{e(hsec['hostname'])}</h3>")
        out.append(f"<p class=\"muted\">{e(str(hw['cpu_model']))}, {hw['cpu_cores']} cores, {hw['ram_total_gb']} GiB RAM"
                   + (f", {hw['gpu_count']}× {e(str(hw['gpu_model']))}" if hw["gpu_count"] else "")
                   + f" — score {_fmt(hsec['utilization_score'])}, {hsec['days']} days of data, "
                   f"{hsec['anomalies']} anomaly episodes</p>")
        if hsec["days"]:
            out.append(f"<div class=\"legend\">{legend}<span style=\"color:#d62728\">- - RAM forecast (95 % band)</span></div>")
            out.append(_svg_lines(hsec["series"]["day"], hsec["series"], hsec["forecast_line"]))
        fc = hsec["forecast_ram"]
        if fc and fc.get("status") == "crossing":
            out.append(f"<p><b>RAM forecast:</b> reaches {fc['limit']:.0f} % around {e(fc['crossing_date'])} "
                       f"(95 % band {e(str(fc.get('earliest_date')))} – {e(str(fc.get('latest_date') or 'beyond a year'))}), "
                       f"trend +{fc['slope_per_day']:.2f} %/day.</p>")
        elif fc and fc.get("status") == "not_enough_data":
            out.append(f"<p class=\"muted\">RAM forecast: not enough data ({fc['days_used']} days).</p>")
        if hsec["weekly_cpu"]:
            out.append(f"<p class=\"muted\">Weekly CPU pattern (seasonal component, strength "
                       f"{hsec['weekly_cpu']['strength']:.2f}):</p>" + _svg_week(hsec["weekly_cpu"]["profile"]))
        if hsec["anomaly_episodes"]:
            out.append("<p><b>Latest anomaly episodes:</b></p><ul>" + "".join(
                f"<li>{e(a['metric'])} {e(a['kind'].replace('_', ' '))} from {e(a['started_at'][:16])} "
                f"{'(still open)' if a['ended_at'] is None else 'to ' + e(a['ended_at'][:16])}: "
                f"peak {_fmt(a['peak'])} against {_fmt(a['baseline'])}, {a['hours']} h flagged</li>"
                for a in hsec["anomaly_episodes"]) + "</ul>")
        if hsec["recommendations"]:
            out.append("<ul>" + "".join(f"<li>{e(t)}</li>" for t in hsec["recommendations"]) + "</ul>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
