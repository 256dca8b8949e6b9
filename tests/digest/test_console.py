"""The digest and the console agree: every number of a sent digest equals what the console's JSON
API answers for the same period (alerts and summaries of [start, end), pending recommendations and
host forecasts as of the build time, hourly charts ending at the period's end). And a person sees the
digests in the console: the list, a digest's deliveries, the digest as sent, in Chromium at 600 px
wide (a screenshot is kept; the message's size is checked against 150 KB)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest import config as dconfig
from digest.run import run
from optimizer import thresholds
from tests.digest.conftest import write_config
from tests.digest.fleet import load_fleet
from tests.digest.sinks import HttpSink, SmtpSink
from tests.web.conftest import PASSWORDS, run_web
from tests.web.test_console_browser import CHROMIUM, browser  # noqa: F401  (the fixture)


def facts(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {f["key"]: f["value"] for f in next(s for s in data["sections"] if s["key"] == key)["facts"]}


def r1(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def test_digest_numbers_equal_the_console_api_and_the_page_renders(tsdb_database, smtp_sink: SmtpSink,
                                                                   http_sink: HttpSink, browser,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    load_fleet(tsdb_database, now)
    with tsdb_database.connect() as conn:   # a decision that has waited: ages are whole days
        conn.execute("UPDATE optimization_reports SET created_at = created_at - interval '9 days 3 hours' "
                     "WHERE id = (SELECT id FROM optimization_reports ORDER BY priority_score DESC, id LIMIT 1)")
    cfg = dconfig.load(str(write_config(tmp_path, smtp_sink, http_sink, slacks=0, hooks=0)))
    built = now + timedelta(minutes=1)
    with tsdb_database.connect("digest_sender", autocommit=True) as conn:
        assert run(conn, cfg, built).sent == 1
    with run_web(tsdb_database, tmp_path) as (url, _log):
        import requests

        def api(path: str, **params: str) -> dict[str, Any]:
            r = requests.get(url + path, params=params, auth=("alice", PASSWORDS["alice"]), timeout=30)
            assert r.status_code == 200, r.text
            return r.json()

        listed = api("/api/v1/digests")["digests"]
        assert len(listed) == 1 and (listed[0]["sent"], listed[0]["destinations"]) == (1, 1)
        digest = api(f"/api/v1/digests/{listed[0]['id']}")["digest"]
        data = digest["data"]
        start, end = data["period"]["start"], data["period"]["end"]
        at = data["built_at"]

        # alerts and anomaly episodes that started in the period
        rows = api("/api/v1/alerts", state="all", **{"from": start, "to": end})["alerts"]
        alerts = [a for a in rows if not a["alert_name"].startswith("sru_anomaly_")]
        episodes = [a for a in rows if a["alert_name"].startswith("sru_anomaly_")]
        ttr = [(datetime.fromisoformat(a["resolved_at"]) - datetime.fromisoformat(a["triggered_at"])).total_seconds() / 60
               for a in alerts if a["resolved_at"]]
        assert facts(data, "alerts") == {
            "alerts": len(alerts), "alerts_critical": sum(a["severity"] == "critical" for a in alerts),
            "alerts_open": sum(a["resolved_at"] is None for a in alerts), "mttr_minutes": r1(ttr),
            "anomaly_episodes": len(episodes), "anomaly_hosts": len({a["host"] for a in episodes})}
        assert facts(data, "alerts")["alerts"] == 3

        # decisions waiting when the digest was built
        built_at = datetime.fromisoformat(at)
        pending = [r for r in api("/api/v1/recommendations", status="pending")["recommendations"]
                   if datetime.fromisoformat(r["created_at"]) <= built_at]
        ages = [(built_at - datetime.fromisoformat(r["created_at"])).days for r in pending]
        assert facts(data, "decisions") == {
            "pending": len(pending), "priority_high": sum(8 <= r["priority_score"] for r in pending),
            "priority_medium": sum(5 <= r["priority_score"] <= 7 for r in pending),
            "priority_low": sum(r["priority_score"] <= 4 for r in pending), "oldest_days": max(ages, default=None)}
        assert max(ages) == 9

        # forecasts as of the build time, and the hourly charts of the period for the overview
        hosts = [h["hostname"] for h in api("/api/v1/hosts")["hosts"]]
        crossing: list[tuple[int, str]] = []
        per_day: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        overall: dict[str, list[float]] = defaultdict(list)
        reporting = 0
        for h in hosts:
            d = api(f"/api/v1/hosts/{h}", range="7d", at=at)
            crossing += [(f["full_in_days"], h) for f in d["forecasts"]
                         if f["status"] == "crossing" and f.get("full_in_days", 99) <= 30]
            chart = api(f"/api/v1/hosts/{h}", range="7d", at=end)["chart"]
            reporting += any(v is not None for v in chart["cpu"])
            for k in ("cpu", "ram", "gpu"):
                for i, v in enumerate(chart[k]):
                    if v is not None:
                        per_day[i // 24][k].append(v)
                        overall[k].append(v)
        assert facts(data, "forecasts") == {"hosts_at_limit": len({h for _, h in crossing}),
                                            "forecasts_at_limit": len(crossing),
                                            "soonest_days": min((d for d, _ in crossing), default=None)}
        ov = facts(data, "overview")
        assert ov["hosts_reporting"] == reporting == len(hosts)
        for k in ("cpu", "ram", "gpu"):
            assert ov[f"{k}_mean"] == pytest.approx(r1(overall[k]), abs=0.051)
        table = next(s for s in data["sections"] if s["key"] == "overview")["table"]["rows"]
        for i, row in enumerate(table):
            assert row[1:] == pytest.approx([r1(per_day[i][k]) for k in ("cpu", "ram", "gpu")], abs=0.051)

        # usage per department and top users (issue 19's ledger), with the change from the week before
        def change(now_: float, before: float | None) -> float | None:
            return None if not before else round((now_ - before) / before * 100, 1)

        prev_start = (datetime.fromisoformat(start) - (datetime.fromisoformat(end) - datetime.fromisoformat(start)))
        deps = api("/api/v1/usage", by="department", **{"from": start, "to": end})["rows"]
        deps_old = api("/api/v1/usage", by="department", **{"from": prev_start.isoformat(), "to": start})["rows"]
        total, total_old = sum(r["cpu_core_hours"] for r in deps), sum(r["cpu_core_hours"] for r in deps_old)
        assert deps and total > 0
        assert facts(data, "usage") == pytest.approx({
            "cpu_core_hours": round(total, 1), "cpu_core_hours_change": change(total, total_old),
            "gpu_hours": round(sum(r["gpu_hours"] for r in deps), 1),
            "gpu_idle_held_hours": round(sum(r["gpu_idle_held_hours"] for r in deps), 1)}, abs=0.051)
        old_by_dep = {r.get("department"): r["cpu_core_hours"] for r in deps_old}
        table = next(s for s in data["sections"] if s["key"] == "usage")["table"]["rows"]
        assert [row[0] for row in table] == [r.get("department") or "unassigned" for r in deps[:15]]
        assert [x for row in table for x in row[1:3]] == pytest.approx(
            [x for r in deps[:15] for x in (round(r["cpu_core_hours"], 1),
                                            change(r["cpu_core_hours"], old_by_dep.get(r.get("department"))))], abs=0.051)
        users = api("/api/v1/usage", by="user", **{"from": start, "to": end})["rows"]
        assert facts(data, "top_users") == {"active_users": len(users)}
        top = next(s for s in data["sections"] if s["key"] == "top_users")["table"]["rows"]
        ranked = sorted(users, key=lambda r: (-r["cpu_core_hours"], r["user"]))[:10]
        assert [row[0] for row in top] == [r["user"] for r in ranked]
        assert [row[2] for row in top] == pytest.approx([round(r["cpu_core_hours"], 1) for r in ranked], abs=0.051)

        # the consolidation plan's candidates (issue 20): the newest plan and its reports
        stored = api("/api/v1/plan")["plan"]
        cands = [r for r in stored["reports"] if r["recommendations"].get("kind") == "consolidation"
                 and r["status"] != "rejected"]
        saving = [r["recommendations"]["saving"] for r in cands]
        assert facts(data, "plan") == {
            "plan_candidates": len(cands), "plan_pending": sum(r["status"] == "pending" for r in cands),
            "plan_cores": sum(x["cpu_cores"] for x in saving), "plan_ram_gb": sum(x["ram_gb"] for x in saving),
            "plan_gpus": sum(x["gpus"] for x in saving)}

        # waste from the period's daily summaries
        by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in api("/api/v1/summaries", **{"from": start, "to": end})["summaries"]:
            by_host[s["hostname"]].append(s)
        share = thresholds.shipped()["idle_share"]
        idle = {h for h, ss in by_host.items() if sum(s["is_underutilized"] for s in ss) / len(ss) >= share}
        scores = {h: [s["utilization_score"] for s in ss if s["utilization_score"] is not None] for h, ss in by_host.items()}
        far = {h for h, sc in scores.items() if h not in idle and sc and sum(sc) / len(sc) < 30}
        assert facts(data, "waste") == {"idle_hosts": len(idle), "far_below_hosts": len(far),
                                        "idle_gpus": sum(by_host[h][0]["gpu_count"] for h in idle),
                                        "hosts_judged": len(by_host)}
        assert idle, "the demo fleet has an idle host"

        # the console, as a person uses it, on a 600 px wide screen
        shots = tmp_path / "screenshots"
        shots.mkdir()
        print(f"screenshots: {shots}")
        page = browser.new_context(viewport={"width": 600, "height": 900}).new_page()
        page.goto(url + "/login")
        page.fill("input[name=name]", "alice")
        page.fill("input[name=password]", PASSWORDS["alice"])
        page.click("button[type=submit]")
        page.click("nav >> text=Digests")
        page.wait_for_selector("#digests")
        page.screenshot(path=str(shots / "digests.png"), full_page=True)
        page.click("#digests a")
        page.wait_for_selector("#deliveries")
        assert "mail-0" in page.inner_text("#deliveries") and "sent" in page.inner_text("#deliveries")
        page.screenshot(path=str(shots / "digest.png"), full_page=True)
        page.click("#view")
        page.wait_for_selector("h1")
        assert page.evaluate("document.documentElement.scrollWidth") <= 600   # no sideways scrolling
        assert page.evaluate("document.querySelector('img').naturalWidth") == 560   # the chart loaded
        assert "Decisions waiting" in page.inner_text("body")
        page.screenshot(path=str(shots / "digest-as-sent.png"), full_page=True)
    assert smtp_sink.mails[-1].size <= 150 * 1024
    print(f"message size: {smtp_sink.mails[-1].size} bytes")
