"""Consolidation plans in the database: build one from the stored history (:func:`make`), store it
as a plan row plus one `reallocation` report per retired host (:func:`store`, through
``store_consolidation_plan()``, so the analyst role can), and read a stored plan back with the
**realised** outcome of its implemented moves beside the prediction (:func:`stored_plan`): each
receiving host's real p95/p99 CPU and RAM over the 14 days after the report was marked implemented,
from ``hourly_performance_stats``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.consolidate import Fleet, Options, Plan, plan
from optimizer.plan_data import load_fleet, window_bounds
from sru.errors import SruError
from sru.output import json_default

if TYPE_CHECKING:
    import psycopg

    from optimizer.report_model import PlanSection

REALISED_DAYS = 14
DEFAULT_WINDOW = timedelta(days=28)


class PlanNotFound(SruError):
    """No stored plan with that id (or none at all)."""


def make(conn: psycopg.Connection, now: datetime, options: Options | None = None,
         window: timedelta = DEFAULT_WINDOW, location: str | None = None,
         baselines: bool = True, by_user: bool = False) -> dict[str, Any]:
    """Plan over ``window`` before ``now``: {"plan", "fleet", "ids", "from", "to", "baselines"}.
    ``baselines``: also run first-fit-decreasing on p95 and Watcher's first fit at 0.8 on the same
    data (cheap), for the comparison the plan shows. ``by_user``: users' loads move one by one
    (plan_data.py; needs a role that reads per-user usage)."""
    o = options or Options()
    fleet, ids = load_fleet(conn, now, window, location=location, by_user=by_user)
    start, end = window_bounds(now, window)
    p = plan(fleet, o)
    base = {}
    if baselines:
        for m in ("ffd_p95", "ff_mean"):
            b = plan(fleet, replace(o, method=m))
            base[m] = {"retire": len(b.retire), "saving": b.saving,
                       "receivers_over_headroom": _over(b, o)}
    return {"plan": p, "fleet": fleet, "ids": ids, "from": start, "to": end, "baselines": base}


def _over(p: Plan, o: Options) -> int:
    """Receivers whose predicted p99 (by this plan's own data) exceeds the headroom: what a
    baseline that packs by p95 or by the mean promises and does not keep."""
    q = f"_p{int(o.quantile)}" if o.quantile in (95.0, 99.0) else "_p99"
    return sum(1 for r in p.receivers if max(r.after["cpu" + q], r.after["ram" + q]) > 100 * o.headroom + 1e-6)


def summary(made: dict[str, Any]) -> dict[str, Any]:
    p: Plan = made["plan"]
    return {**p.as_dict(), "window": {"from": made["from"], "to": made["to"]},
            "hosts_planned": len(made["fleet"].hosts), "baselines": made["baselines"]}


def report_rows(made: dict[str, Any]) -> list[dict[str, Any]]:
    """One `reallocation` report per retired host: where each of its units goes, the receivers'
    predicted p95/p99 after the whole plan, and what retiring it saves."""
    p: Plan = made["plan"]
    fleet: Fleet = made["fleet"]
    hw = {h.name: h for h in fleet.hosts}
    recv = {r.host: r for r in p.receivers}
    rows = []
    for host in p.retire:
        moves = [m for m in p.moves if m.source == host]
        targets = sorted({m.target for m in moves})
        after = {t: recv[t].after for t in targets}
        worst = max((max(a["cpu_p99"], a["ram_p99"]) for a in after.values()), default=0.0)
        h = hw[host]
        title = (f"{host}: retire, move its load to {', '.join(targets)} (p99 after: "
                 + "; ".join(f"{t} CPU {a['cpu_p99']:.0f} %, RAM {a['ram_p99']:.0f} %" for t, a in after.items()) + ")")
        rows.append({
            "system_id": str(made["ids"][host]), "severity": "medium", "priority_score": 4 + min(3, h.gpu_count),
            "title": title[:500],
            "recommendations": {
                "kind": "consolidation", "host": host, "targets": targets,
                "window": {"from": made["from"], "to": made["to"], "hours": p.hours},
                "options": p.as_dict()["options"],
                "moves": [vars(m) for m in moves],
                "receivers": {t: {"before": recv[t].before, "predicted": recv[t].after, "gpu_count": recv[t].gpu_count}
                              for t in targets},
                "saving": {"cpu_cores": h.cpu_cores, "ram_gb": h.ram_gb, "gpus": h.gpu_count},
                "expected_effect": f"{host} can be switched off; its receivers stay at or under p99 {worst:.0f} % "
                                   f"(headroom {100 * p.options.headroom:.0f} %)",
            }})
    return rows


def store(conn: psycopg.Connection, made: dict[str, Any], actor: str) -> str:
    """Store the plan and its reports (in the caller's transaction); returns the plan id."""
    p: Plan = made["plan"]
    doc = json.loads(json.dumps({"summary": summary(made), "rows": report_rows(made)}, default=json_default))
    row = conn.execute("SELECT store_consolidation_plan(%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)",
                       (made["to"], made["from"], p.method, actor, json.dumps(doc["summary"]["options"]),
                        json.dumps(doc["summary"]), json.dumps(doc["rows"]))).fetchone()
    if row is None:
        raise PlanNotFound("store_consolidation_plan() returned no row")
    return str(row[0])


def latest_planned_at(conn: psycopg.Connection, actor: str | None = None) -> datetime | None:
    row = conn.execute("SELECT max(planned_at) FROM consolidation_plans WHERE %(a)s::text IS NULL "
                       "OR created_by = %(a)s", {"a": actor}).fetchone()
    return row[0] if row else None


def stored_plan(conn: psycopg.Connection, now: datetime, plan_id: str | None = None) -> dict[str, Any]:
    """A stored plan (default: the newest) with its reports, their workflow status and, for the
    implemented ones, the realised p95/p99 of each receiver next to the prediction."""
    from psycopg.rows import dict_row

    cur = conn.cursor(row_factory=dict_row)
    if plan_id is None:
        head = cur.execute("SELECT * FROM consolidation_plans ORDER BY planned_at DESC, created_at DESC LIMIT 1").fetchone()
    else:
        head = cur.execute("SELECT * FROM consolidation_plans WHERE id::text LIKE %s ORDER BY created_at DESC LIMIT 2",
                           (plan_id.lower() + "%",)).fetchone()
    if head is None:
        raise PlanNotFound("no consolidation plan stored yet" if plan_id is None else f"no consolidation plan {plan_id}")
    reports = cur.execute(
        "SELECT r.id, s.hostname, r.status, r.status_changed_by, r.status_changed_at, r.title, r.recommendations "
        "FROM optimization_reports r LEFT JOIN systems s ON s.id = r.system_id WHERE r.plan_id = %s "
        "ORDER BY s.hostname", (head["id"],)).fetchall()
    for r in reports:
        r["id"] = str(r["id"])
        if r["status"] == "implemented" and r["status_changed_at"] is not None:
            r["realised"] = realised(conn, list(r["recommendations"].get("receivers", {})), r["status_changed_at"], now)
        else:
            r["realised"] = None
    return {"id": str(head["id"]), "planned_at": head["planned_at"], "window_from": head["window_from"],
            "method": head["method"], "created_by": head["created_by"], "created_at": head["created_at"],
            "options": head["options"], "summary": head["summary"], "reports": reports}


def realised(conn: psycopg.Connection, hosts: list[str], since: datetime, now: datetime,
             days: int = REALISED_DAYS) -> dict[str, Any]:
    """Per host: p95/p99 of hourly mean CPU and RAM % over [since, since + days) (so far, if that is
    not over yet), the hours seen and whether the period is complete."""
    until = min(now, since + timedelta(days=days))
    rows = conn.execute(
        "SELECT s.hostname, h.avg_cpu_percent, h.avg_ram_percent FROM hourly_performance_stats h "
        "JOIN systems s ON s.id = h.system_id WHERE s.hostname = ANY(%s) AND h.bucket >= %s AND h.bucket < %s",
        (hosts, since, until)).fetchall()
    out: dict[str, Any] = {}
    for host in hosts:
        cpu = np.array([r[1] for r in rows if r[0] == host and r[1] is not None], dtype=float)
        ram = np.array([r[2] for r in rows if r[0] == host and r[2] is not None], dtype=float)

        def q(x: np.ndarray, p: float) -> float | None:
            return round(float(np.percentile(x, p, method="inverted_cdf")), 1) if x.size else None

        out[host] = {"cpu_p95": q(cpu, 95), "cpu_p99": q(cpu, 99), "ram_p95": q(ram, 95), "ram_p99": q(ram, 99),
                     "hours": int(max(cpu.size, ram.size)), "from": since, "to": until,
                     "complete": now >= since + timedelta(days=days)}
    return out


def report_section(conn: psycopg.Connection, now: datetime) -> PlanSection | None:
    """The newest stored plan, compact, for `sru report` (every format): what it retires and saves,
    and per report its status, receivers, predicted and realised p95/p99. None when there is none."""
    from optimizer.report_model import PlanReceiver, PlanReport, PlanSection

    try:
        doc = stored_plan(conn, now)
    except PlanNotFound:
        return None
    s = doc["summary"]
    return PlanSection(
        id=doc["id"], planned_at=doc["planned_at"], created_by=doc["created_by"],
        hosts_planned=s.get("hosts_planned"), retire=s["retire"], saving=s["saving"], options=s["options"],
        baselines={m: b["retire"] for m, b in (s.get("baselines") or {}).items()},
        reports=[PlanReport(id=r["id"], host=r["hostname"], status=r["status"],
                            receivers={t: PlanReceiver(predicted=rec["predicted"],
                                                       realised=(r["realised"] or {}).get(t))
                                       for t, rec in (r["recommendations"].get("receivers") or {}).items()})
                 for r in doc["reports"]])
