"""The console's Plan page and API (issue 20), called from the console's existing tests so they add
no server start of their own: ``check_plan`` from the every-tier page test, ``plan_journey`` from
the browser journey. The console fixture's optimizer pass has filed the weekly plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tests.web.conftest import Console


def check_plan(console: Console, web: requests.Session) -> None:
    doc = console.api("GET", "/api/v1/plan").json()
    plan = doc["plan"]
    assert doc["status"] == "success" and plan["created_by"] == "sru optimize"
    summary = plan["summary"]
    assert summary["hosts_planned"] + len(summary["left_out"]) == 6
    assert summary["saving"]["hosts"] == len(plan["reports"]) > 0
    # Hosts at their limit show what they got, not what they need: not planned.
    assert any("cpu-bound" in h and "saturated (cpu p99" in why for h, why in summary["left_out"].items())
    report = plan["reports"][0]
    target = report["recommendations"]["targets"][0]
    assert report["status"] == "pending" and report["realised"] is None

    # What-if: stricter headroom retires no more; a pin keeps its host; bad fields are named (400).
    loose = console.api("GET", "/api/v1/plan/what-if").json()["plan"]
    strict = console.api("GET", "/api/v1/plan/what-if?headroom=40&quantile=100").json()["plan"]
    assert strict["saving"]["hosts"] <= loose["saving"]["hosts"] and strict["options"]["headroom"] == 0.4
    gone = loose["retire"][0]
    pinned = console.api("GET", f"/api/v1/plan/what-if?pin={gone}").json()["plan"]
    assert gone not in pinned["retire"] and pinned["options"]["pins"] == [gone]
    for query, word in (("headroom=abc", "headroom"), ("headroom=500", "headroom"), ("window=3y", "window"),
                        ("pin=nowhere", "not in the fleet"), ("quantile=1", "quantile")):
        r = console.api("GET", "/api/v1/plan/what-if?" + query)
        assert r.status_code == 400 and word in r.json()["error"], (query, r.text)
    assert console.api("GET", "/api/v1/plan?id=zz").status_code == 400
    assert console.api("GET", "/api/v1/plan?id=ffffffff").status_code == 404

    # The workflow carries a plan's report to implemented; 15 days later (the implementation is
    # moved back in time by the schema owner, as history) the page shows the receiver's realised
    # p95/p99 of the 14 days after it beside the prediction.
    for action in ("approve", "implement"):
        r = console.api("POST", f"/api/v1/recommendations/{report['id']}/{action}")
        assert r.status_code == 200, r.text
    with console.db.connect() as conn:
        conn.execute("ALTER TABLE optimization_reports DISABLE TRIGGER optimization_reports_workflow")
        conn.execute("UPDATE optimization_reports SET status_changed_at = now() - interval '15 days' WHERE id = %s",
                     (report["id"],))
        conn.execute("ALTER TABLE optimization_reports ENABLE TRIGGER optimization_reports_workflow")
    done = next(r for r in console.api("GET", "/api/v1/plan").json()["plan"]["reports"] if r["id"] == report["id"])
    real = done["realised"][target]
    assert done["status"] == "implemented" and real["complete"] and real["hours"] >= 300
    assert real["cpu_p99"] is not None and real["ram_p95"] is not None

    page = web.get(console.url + "/plan", timeout=30)
    assert page.status_code == 200 and 'id="stored-plan"' in page.text and "what-if-result" not in page.text
    row = page.text.split(f'data-report="{report["id"]}"')[1].split("</tr>")[0]
    assert "implemented" in row and f"{real['cpu_p95']:.0f} / {real['cpu_p99']:.0f} %" in row
    r = web.get(console.url + "/plan?whatif=1&headroom=abc", timeout=30)
    assert r.status_code == 400 and "headroom must be a number" in r.text


def plan_journey(page: Any, console: Console, shots: Path) -> None:
    """A person opens Plan from the menu, asks what if the headroom were 60 % with the first
    retired host pinned, and reads the answer."""
    page.goto(console.url + "/")
    page.click("header nav >> text=Plan")
    page.wait_for_selector("#stored-plan")
    assert "/plan" in page.url
    retired = page.inner_text("#stored-summary td.retire").split(", ")
    assert retired and retired != ["none"]
    page.screenshot(path=str(shots / "plan.png"), full_page=True)
    page.fill("#what-if input[name=headroom]", "60")
    page.select_option("#what-if select[name=pin]", [retired[0]])
    page.click("#plan-what-if")
    page.wait_for_selector("#what-if-result")
    assert "headroom=60" in page.url and f"pin={retired[0]}" in page.url
    text = page.inner_text("#what-if-summary")
    assert "at or under 60 % CPU and RAM" in text and f"pinned: {retired[0]}" in text
    assert retired[0] not in page.inner_text("#what-if-summary td.retire")
    # The form keeps what was asked.
    assert page.input_value("#what-if input[name=headroom]") == "60"
    page.screenshot(path=str(shots / "plan-what-if.png"), full_page=True)
