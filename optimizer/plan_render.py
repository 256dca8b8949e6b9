"""`sru plan` output: a fresh plan (``summary()`` of :mod:`optimizer.plan_store`) or a stored one
(with each report's workflow status and the realised p95/p99 beside the prediction), as a terminal
table or JSON. The report's section and the console use the same words."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sru.output import json_default

if TYPE_CHECKING:
    from optimizer.report_model import PlanSection


def _n(v: Any) -> str:
    return "–" if v is None else f"{v:.0f}" if isinstance(v, float) else str(v)


def saving_line(saving: dict[str, Any]) -> str:
    return (f"{saving['hosts']} host{'' if saving['hosts'] == 1 else 's'}, {saving['cpu_cores']:.0f} cores, {saving['ram_gb']:.0f} GB RAM, "
            f"{saving['gpus']} GPU{'' if saving['gpus'] == 1 else 's'}")


def summary_lines(s: dict[str, Any]) -> list[str]:
    o = s["options"]
    w = s.get("window", {})
    out = [f"consolidation plan ({s['method']}) over {str(w.get('from', ''))[:16]} .. {str(w.get('to', ''))[:16]} UTC, "
           f"{s['hosts_planned']} hosts planned; headroom p{o['quantile']:g} ≤ {100 * o['headroom']:.0f} % CPU and RAM"
           + (f"; pinned: {', '.join(o['pins'])}" if o["pins"] else "") + ("; same location" if o["same_location"] else ""),
           f"retire: {', '.join(s['retire']) or 'none'}",
           f"saving: {saving_line(s['saving'])}"]
    for m, b in s.get("baselines", {}).items():
        out.append(f"  baseline {m}: would retire {b['retire']}, with {b['receivers_over_headroom']} receivers over "
                   f"the headroom by the time-aligned check")
    if s["moves"]:
        out.append("moves:")
        out += [f"  {m['unit']:<24} → {m['target']:<20} p95 {m['cpu_cores_p95']:.1f} cores, {m['ram_gb_p95']:.1f} GB"
                + (f", {m['gpus']} GPUs" if m["gpus"] else "") for m in s["moves"]]
    if s["receivers"]:
        out.append("receivers (predicted, % of capacity): before → after")
        for r in s["receivers"]:
            b, a = r["before"], r["after"]
            out.append(f"  {r['host']:<20} CPU p95 {_n(b['cpu_p95'])} → {_n(a['cpu_p95'])}, p99 {_n(b['cpu_p99'])} → "
                       f"{_n(a['cpu_p99'])}; RAM p95 {_n(b['ram_p95'])} → {_n(a['ram_p95'])}, p99 {_n(b['ram_p99'])} → "
                       f"{_n(a['ram_p99'])}" + (f"; GPUs peak {a['gpus_peak']}/{r['gpu_count']}" if r["gpu_count"] else ""))
    if s["left_out"]:
        out.append("left out: " + "; ".join(f"{h} ({why})" for h, why in sorted(s["left_out"].items())))
    return out


def realised_lines(reports: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in reports:
        out.append(f"  [{r['status']}] {r['title']}  (report {r['id'][:8]})")
        for host, rec in (r["recommendations"].get("receivers") or {}).items():
            p = rec["predicted"]
            real = (r.get("realised") or {}).get(host)
            if real is None:
                out.append(f"      {host}: predicted p95/p99 CPU {_n(p['cpu_p95'])}/{_n(p['cpu_p99'])} %, "
                           f"RAM {_n(p['ram_p95'])}/{_n(p['ram_p99'])} %")
            else:
                out.append(f"      {host}: predicted p95/p99 CPU {_n(p['cpu_p95'])}/{_n(p['cpu_p99'])} %, "
                           f"RAM {_n(p['ram_p95'])}/{_n(p['ram_p99'])} %; realised CPU {_n(real['cpu_p95'])}/"
                           f"{_n(real['cpu_p99'])} %, RAM {_n(real['ram_p95'])}/{_n(real['ram_p99'])} % over "
                           f"{real['hours']} h" + ("" if real["complete"] else " (14 days not over yet)"))
    return out


def as_table(doc: dict[str, Any]) -> str:
    """``doc``: {"summary": …} for a fresh plan, or a stored plan (with "id" and "reports")."""
    lines = summary_lines(doc["summary"])
    if "id" in doc:
        lines.insert(0, f"stored plan {doc['id']} by {doc['created_by']}, planned at {str(doc['planned_at'])[:16]} UTC")
        lines.append("reports (workflow status; realised over the 14 days after implementation):")
        lines += realised_lines(doc["reports"]) or ["  none"]
    return "\n".join(lines) + "\n"


def as_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, default=json_default, indent=2) + "\n"


def report_lines(plan: PlanSection | None) -> list[str]:
    """The report's consolidation section (`sru report`), as plain lines (table and Markdown)."""
    if plan is None:
        return ["no consolidation plan filed yet (`sru optimize` files one a week, or `sru plan --store`)"]
    o = plan["options"]
    out = [f"plan {plan['id'][:8]} by {plan['created_by']} for {str(plan['planned_at'])[:16]} UTC "
           f"(p{o['quantile']:g} ≤ {100 * o['headroom']:.0f} % CPU and RAM): retire "
           f"{', '.join(plan['retire']) or 'none'}; saving {saving_line(plan['saving'])}",
           "baselines on the same data: " + ", ".join(f"{m} would retire {n}" for m, n in plan["baselines"].items())]
    for r in plan["reports"]:
        for t, rec in r["receivers"].items():
            p, real = rec["predicted"], rec["realised"]
            out.append(f"{r['host']} → {t} [{r['status']}]: predicted p95/p99 CPU {_n(p['cpu_p95'])}/{_n(p['cpu_p99'])} %, "
                       f"RAM {_n(p['ram_p95'])}/{_n(p['ram_p99'])} %"
                       + (f"; realised CPU {_n(real['cpu_p95'])}/{_n(real['cpu_p99'])} %, RAM {_n(real['ram_p95'])}/"
                          f"{_n(real['ram_p99'])} % ({real['hours']} h)" if real else ""))
    return out


def report_rows(plan: PlanSection | None) -> list[list[Any]]:
    """CSV rows of the same section: one per report and receiver."""
    if plan is None:
        return []
    rows = []
    for r in plan["reports"]:
        for t, rec in r["receivers"].items():
            p, real = rec["predicted"], rec["realised"] or {}
            rows.append([plan["id"], r["id"], r["host"], t, r["status"], p["cpu_p95"], p["cpu_p99"], p["ram_p95"],
                         p["ram_p99"], real.get("cpu_p95"), real.get("cpu_p99"), real.get("ram_p95"), real.get("ram_p99")])
    return rows


CSV_HEADER = ["plan", "report", "host", "receiver", "status", "predicted cpu p95 %", "predicted cpu p99 %",
              "predicted ram p95 %", "predicted ram p99 %", "realised cpu p95 %", "realised cpu p99 %",
              "realised ram p95 %", "realised ram p99 %"]
