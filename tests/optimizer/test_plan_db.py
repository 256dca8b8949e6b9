"""The consolidation plan against a real database, every tier: read from hourly stats, a host in
maintenance left out, stored by the analyst role as reallocation reports, carried by the workflow
from pending to implemented, and the realised p95/p99 of the next 14 days beside the prediction.
Also `sru plan` and the optimizer's weekly step. Times are relative to the database's clock (the
workflow stamps implementation with it), so the test holds at any hour."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from optimizer import plan_store
from optimizer.consolidate import Fleet, Options, Unit
from optimizer.hourly_stats import roll_up
from optimizer.workflow import transition
from sru.db import scalar
from tests.optimizer import consolidation_fleets as F

DAYS = 14      # the plan's window in these tests; the fixture writes 21 days (the weekly step's 28-day
HISTORY = 21   # window needs half of its hours)


def _write(conn: psycopg.Connection, fleet, start: datetime, extra: dict[str, dict[str, Any]] | None = None) -> None:
    """Hourly samples of ``fleet`` from ``start`` (``extra``: hostname → systems columns)."""
    rows = []
    for h, u in zip(fleet.hosts, fleet.units, strict=True):  # one unit per host, in order
        cols = {"cpu_cores": int(h.cpu_cores), "ram_total_gb": h.ram_gb, "status": "active", **(extra or {}).get(h.name, {})}
        sid = scalar(conn,
            "INSERT INTO systems (hostname, cpu_cores, ram_total_gb, status, location) VALUES (%s, %s, %s, %s, 'lab') "
            "ON CONFLICT (hostname) DO UPDATE SET cpu_cores = EXCLUDED.cpu_cores RETURNING id",
            (h.name, cols["cpu_cores"], cols["ram_total_gb"], cols["status"]))
        for t in range(fleet.hours):
            rows.append((sid, start + timedelta(hours=t, minutes=30), float(min(100, 100 * u.cpu[t] / h.cpu_cores)),
                         float(min(100, 100 * u.ram[t] / h.ram_gb))))
    with conn.cursor().copy("COPY usage_metrics (system_id, \"timestamp\", cpu_percent, ram_percent) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)
    roll_up(conn, start, start + timedelta(hours=fleet.hours))
    conn.commit()


def _load(database):
    """Two day/night pairs and an idle host in maintenance, 21 days up to the current hour."""
    with database.connect() as conn:
        now = conn.execute("SELECT now()").fetchone()[0]
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=HISTORY)
        fleet = F.day_night(n_pairs=2, weeks=3)
        _write(conn, fleet, start)
        idle = F.full(n=1, weeks=3)
        idle.hosts[0] = type(idle.hosts[0])("spare-01", 64, 256)
        idle.units[0] = type(idle.units[0])("spare-01", idle.units[0].cpu * 0.02, idle.units[0].ram * 0.05,
                                            idle.units[0].gpus)
        _write(conn, idle, start, {"spare-01": {"status": "maintenance"}})
    return database, now


@pytest.fixture
def fleet_db(database):
    """Every tier: what the database stores and computes."""
    return _load(database)


@pytest.fixture
def fleet_db_one_tier(tsdb_database):
    """The CLI and the optimizer's step on one tier (as the other CLI tests): what they add over the
    every-tier test does not depend on the tier."""
    return _load(tsdb_database)


def test_plan_store_workflow_and_realised(fleet_db):
    db, now = fleet_db
    with db.connect("analyst") as conn:
        made = plan_store.make(conn, now, Options(time_budget_s=0.5), window=timedelta(days=DAYS))
        p = made["plan"]
        # The idle 64-core host would take everything, but it is in maintenance: left out.
        assert made["fleet"].left_out == {"spare-01": "in maintenance"}
        assert all(m.target != "spare-01" for m in p.moves) and "spare-01" not in p.retire
        assert len(p.retire) == 2 and len(p.receivers) == 2 and made["baselines"]["ffd_p95"]["retire"] == 0
        plan_id = plan_store.store(conn, made, "alice")
        conn.commit()
        # The analyst may store through the function only.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO consolidation_plans (planned_at, window_from, method, created_by, options, summary) "
                         "VALUES (now(), now() - interval '1 day', 'aligned', 'x', '{}', '{}')")
        conn.rollback()
    with db.connect("dashboard_readonly") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        plan_store.store(conn, made, "mallory")
    with db.connect("analyst") as conn:
        stored = plan_store.stored_plan(conn, now)
        assert stored["id"] == plan_id and {r["hostname"] for r in stored["reports"]} == set(p.retire)
        assert all(r["status"] == "pending" and r["realised"] is None for r in stored["reports"])
        report = stored["reports"][0]
        target = report["recommendations"]["targets"][0]
        predicted = report["recommendations"]["receivers"][target]["predicted"]
        assert predicted["cpu_p99"] <= 80 and report["recommendations"]["plan_id"] == plan_id

        # The workflow: pending → approved → implemented, as for any recommendation. While the
        # move is approved but not done, new plans leave both of its hosts out.
        transition(conn, report["id"], "approved", "alice", "budget meeting")
        again = plan_store.make(conn, now, Options(time_budget_s=0.5), window=timedelta(days=DAYS), baselines=False)
        assert {report["hostname"], target} <= set(again["fleet"].left_out)
        conn.rollback()
        row = transition(conn, report["id"], "implemented", "alice", "jobs moved")
        implemented_at = row["status_changed_at"]

    # The 14 days after the move: the receiver runs both shifts' load (what the move did).
    with db.connect() as conn:
        src = report["hostname"]
        fleet = F.day_night(n_pairs=2, weeks=3, seed=9)
        units = {u.host: u for u in fleet.units}
        start = implemented_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        moved = Fleet([h for h in fleet.hosts if h.name == target],
                        [Unit(target, units[target].cpu[:DAYS * 24] + units[src].cpu[:DAYS * 24],
                                units[target].ram[:DAYS * 24] + units[src].ram[:DAYS * 24],
                                np.zeros(DAYS * 24))], DAYS * 24)
        _write(conn, moved, start)
    later = implemented_at + timedelta(days=15)
    with db.connect("analyst") as conn:
        stored = plan_store.stored_plan(conn, later, plan_id[:8])
        done = next(r for r in stored["reports"] if r["id"] == report["id"])
        real = done["realised"][target]
        assert done["status"] == "implemented" and real["complete"] and real["hours"] >= DAYS * 24 - 2
        assert abs(real["cpu_p99"] - predicted["cpu_p99"]) < 10 and abs(real["ram_p95"] - predicted["ram_p95"]) < 10
        halfway = plan_store.stored_plan(conn, implemented_at + timedelta(days=3, hours=2), plan_id)
        part = next(r for r in halfway["reports"] if r["id"] == report["id"])["realised"][target]
        assert not part["complete"] and 60 <= part["hours"] <= 80

        # A newer plan: the implemented report stays as it was; the other pending one is refreshed
        # in place or, when its host is kept, rejected as superseded.
        made2 = plan_store.make(conn, now, Options(time_budget_s=0.5, pins=frozenset(p.retire)),
                                window=timedelta(days=DAYS), baselines=False)
        plan2 = plan_store.store(conn, made2, "bob")
        conn.commit()
        status = dict(conn.execute("SELECT s.hostname, r.status FROM optimization_reports r JOIN systems s "
                                   "ON s.id = r.system_id WHERE r.plan_id = %s", (plan_id,)).fetchall())
        assert status == {src: "implemented", **{h: "rejected" for h in p.retire if h != src}}
        note = conn.execute("SELECT note, actor FROM optimization_report_events WHERE to_status = 'rejected'").fetchone()
        assert note == (f"superseded by consolidation plan {plan2}", "bob")


def test_cli_plan_and_weekly_optimizer_step(fleet_db_one_tier, capsys):
    from optimizer.run import run_once
    from sru.cli import main

    db, now = fleet_db_one_tier
    url = db.role_url("analyst")
    assert main(["plan", "--database-url", url, "--window", "14d", "--time-budget", "1s", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["saving"]["hosts"] == 2 and doc["summary"]["left_out"] == {"spare-01": "in maintenance"}
    pins = [m["source"] for m in doc["summary"]["moves"]]
    assert main(["plan", "--database-url", url, "--window", "14d", "--time-budget", "1s", "--headroom", "45%",
                 *sum((["--pin", h] for h in pins), [])]) == 0
    assert "retire: none" in capsys.readouterr().out     # the other shift does not fit under 45 %
    assert main(["plan", "--database-url", url, "--headroom", "150%"]) == 1
    assert "--headroom" in capsys.readouterr().err
    assert main(["plan", "--database-url", url, "--pin", "nowhere"]) == 1
    assert "not in the fleet" in capsys.readouterr().err
    assert main(["plan", "--database-url", url, "--show"]) == 1
    assert "no consolidation plan stored yet" in capsys.readouterr().err

    # The optimizer files one plan a week, not one per pass.
    with db.connect("analyst") as conn:
        first = run_once(conn, now=now, window=timedelta(days=DAYS))
    with db.connect("analyst") as conn:
        second = run_once(conn, now=now + timedelta(days=1), window=timedelta(days=DAYS))
        third = run_once(conn, now=now + timedelta(days=7, hours=1), window=timedelta(days=DAYS))
    assert first.plan and "retires 2 of 4 hosts" in first.plan and second.plan is None and third.plan
    # A week on (hours in which no host reported leave the window), the same two hosts go: their
    # pending reports now carry the newer plan, the older plan keeps none.
    assert "retires 2 of 4" in third.plan
    assert main(["plan", "--database-url", url, "--show", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert third.plan[:8] in out and "by sru optimize" in out and out.count("[pending]") == 2
    assert "predicted p95/p99 CPU" in out
    assert main(["plan", "--database-url", url, "--show", first.plan[:8]]) == 0
    assert capsys.readouterr().out.endswith("implementation):\n  none\n")
    # `sru report` shows the newest plan in every format (one build, rendered five ways).
    from optimizer.report import build_report, render

    with db.connect("analyst") as conn:
        report = build_report(conn, window=timedelta(days=DAYS), now=now)
    for fmt, marker in (("table", "consolidation plan:\n  plan " + third.plan[:8]), ("md", "## Consolidation plan"),
                        ("html", '<ul id="plan"><li>plan ' + third.plan[:8]), ("csv", "\nplan,")):
        out = render(report, fmt)
        assert marker in out and ("predicted p95/p99 CPU" in out or fmt == "csv"), (fmt, out[-600:])
    section = json.loads(render(report, "json"))["plan"]
    assert section["id"].startswith(third.plan[:8]) and len(section["reports"]) == 2
    assert datetime.now(UTC) > now


def test_per_user_moves_from_the_usage_ledger(database):
    """Issue 19's per-user hourly usage splits a host: its two users go to two hosts that could not
    take the whole of it (every tier: the rollups are tables on plain and apache, a continuous
    aggregate served in real time on full)."""
    from optimizer.consolidate import Host, Unit

    hours = 8 * 24
    hod, dow = F._hours(2)
    day = F._day(hod, dow)[:hours]
    flat = np.ones(hours)
    hosts = [Host("a", 16, 64), Host("b", 16, 64), Host("shared", 16, 64)]
    units = [Unit("a", 0.45 * 16 * day, 0.3 * 64 * flat, 0 * flat), Unit("b", 0.45 * 16 * day, 0.3 * 64 * flat, 0 * flat),
             Unit("shared", 0.6 * 16 * day, 0.4 * 64 * flat, 0 * flat)]
    with database.connect() as conn:
        now = conn.execute("SELECT now()").fetchone()[0]
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
        _write(conn, Fleet(hosts, units, hours), start)
        sid = conn.execute("SELECT id FROM systems WHERE hostname = 'shared'").fetchone()[0]
        users = [conn.execute("INSERT INTO users (username) VALUES (%s) RETURNING id", (n,)).fetchone()[0]
                 for n in ("ada", "bob")]
        with conn.cursor().copy('COPY user_usage_metrics (system_id, "timestamp", user_id, cpu_cores, ram_gb, '
                                "gpus_held) FROM STDIN") as cp:
            for t in range(hours):
                for uid in users:   # half of the host's load each, sampled twice an hour
                    for m in (10, 40):
                        cp.write_row((sid, start + timedelta(hours=t, minutes=m), uid, 0.3 * 16 * day[t], 0.2 * 64, 0))
        if database.tier != "full":
            conn.execute("SELECT sru_rollup_user_usage(%s, %s)", (start, now))
        conn.commit()
    with database.connect("analyst") as conn:
        whole = plan_store.make(conn, now, Options(time_budget_s=0.5), window=timedelta(days=8), baselines=False)
        split = plan_store.make(conn, now, Options(time_budget_s=0.5), window=timedelta(days=8), baselines=False,
                                by_user=True)
    assert whole["plan"].retire == []
    p = split["plan"]
    # ada and bob go to different hosts; the host's remainder (here next to nothing) goes too.
    assert p.retire == ["shared"] and {m.user for m in p.moves} == {"ada", "bob", None}
    assert {m.target for m in p.moves if m.user} == {"a", "b"}
    with database.connect("dashboard_readonly") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        plan_store.make(conn, now, Options(time_budget_s=0.5), window=timedelta(days=8), by_user=True)
