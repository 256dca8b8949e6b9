"""`sru report --format html`: one self-contained page (inline CSS and SVG charts, no JavaScript)."""

from __future__ import annotations

import html

from optimizer.plan_render import report_lines as plan_lines
from optimizer.report_charts import SERIES, daily_lines, weekly_profile
from optimizer.report_model import Report
from optimizer.report_text import HOST_HEADER, USAGE_HEADER, fmt, host_rows, usage_rows

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:left}
th{background:#f3f3f3}.critical{color:#b00020;font-weight:bold}.high{color:#d35400}.medium{color:#8a6d00}
.low{color:#555}section.host{border-top:1px solid #ccc;margin-top:1.5em}.legend span{margin-right:1em}
.muted{color:#777;font-size:12px}"""


def as_html(report: Report) -> str:
    e = html.escape
    f = report["fleet"]
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sru fleet report</title>",
           f"<style>{_CSS}</style></head><body>", "<h1>sru fleet report</h1>",
           f"<p class=\"muted\">Generated {e(report['generated_at'])} — last {report['window_days']} days.</p>",
           "<h2>Fleet overview</h2><table>",
           f"<tr><th>hosts</th><td>{f['hosts']} ({f['hosts_with_data']} with data)</td></tr>",
           f"<tr><th>mean utilization score</th><td>{fmt(f['mean_utilization_score'])} / 100</td></tr>",
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
    out.append("<h2>Consolidation plan</h2><ul id=\"plan\">"
               + "".join(f"<li>{e(line)}</li>" for line in plan_lines(report["plan"])) + "</ul>")
    out.append("<h2>Hosts</h2><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in HOST_HEADER) + "</tr>")
    out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in host_rows(report)]
    out.append("</table>")
    out.append("<h2>Usage by department</h2>")
    if report["usage"]:
        out.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in USAGE_HEADER) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in usage_rows(report)]
        out.append("</table>")
    else:
        out.append("<p>No per-user usage recorded in this period.</p>")
    legend = "".join(f'<span style="color:{c}">■ {n}</span>' for n, c in SERIES)
    for hsec in report["hosts"]:
        hw = hsec["hardware"]
        out.append(f"<section class=\"host\"><h3 id=\"{e(hsec['hostname'])}\">{e(hsec['hostname'])}</h3>")
        out.append(f"<p class=\"muted\">{e(str(hw['cpu_model']))}, {hw['cpu_cores']} cores, {hw['ram_total_gb']} GiB RAM"
                   + (f", {hw['gpu_count']}× {e(str(hw['gpu_model']))}" if hw["gpu_count"] else "")
                   + f" — score {fmt(hsec['utilization_score'])}, {hsec['days']} days of data, "
                   f"{hsec['anomalies']} anomaly episodes</p>")
        if hsec["days"]:
            out.append(f"<div class=\"legend\">{legend}<span style=\"color:#d62728\">- - RAM forecast (95 % band)</span></div>")
            ser = hsec["series"]
            out.append(daily_lines(ser["day"], {"cpu": ser["cpu"], "ram": ser["ram"], "gpu": ser["gpu"],
                                                "io_wait": ser["io_wait"]}, hsec["forecast_line"]))
        fc = hsec["forecast_ram"]
        if fc and fc["status"] == "crossing":
            out.append(f"<p><b>RAM forecast:</b> reaches {fc['limit']:.0f} % around {e(fc.get('crossing_date', ''))} "
                       f"(95 % band {e(str(fc.get('earliest_date')))} – {e(str(fc.get('latest_date') or 'beyond a year'))}), "
                       f"trend +{fc.get('slope_per_day', 0.0):.2f} %/day.</p>")
        elif fc and fc["status"] == "not_enough_data":
            out.append(f"<p class=\"muted\">RAM forecast: not enough data ({fc['days_used']} days).</p>")
        elif fc is None and hsec["days"]:
            # Read, never fitted here: until the optimizer's next pass stores one, say so.
            out.append("<p class=\"muted\">RAM forecast: none yet (the optimizer's next pass fits it"
                       + (f"; the last one, {e(report['forecasts_fitted_at'])}, had no daily summary of this host"
                          if report["forecasts_fitted_at"] else "") + ").</p>")
        if hsec["weekly_cpu"]:
            out.append(f"<p class=\"muted\">Weekly CPU pattern (seasonal component, strength "
                       f"{hsec['weekly_cpu']['strength']:.2f}):</p>" + weekly_profile(hsec["weekly_cpu"]["profile"]))
        if hsec["anomaly_episodes"]:
            out.append("<p><b>Latest anomaly episodes:</b></p><ul>" + "".join(
                f"<li>{e(a['metric'])} {e(a['kind'].replace('_', ' '))} from {e(a['started_at'][:16])} "
                f"{'(still open)' if a['ended_at'] is None else 'to ' + e(a['ended_at'][:16])}: "
                f"peak {fmt(a['peak'])} against {fmt(a['baseline'])}, {a['hours']} h flagged</li>"
                for a in hsec["anomaly_episodes"]) + "</ul>")
        if hsec["recommendations"]:
            out.append("<ul>" + "".join(f"<li>{e(t)}</li>" for t in hsec["recommendations"]) + "</ul>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
