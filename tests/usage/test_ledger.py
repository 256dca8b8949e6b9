"""The usage ledger on every tier: exact figures per user, department and host over periods that
start and end inside hours and cross days (29 Feb), the same before and after the rollups (tables
on plain and apache, continuous aggregates on full), closure per host, and who may read what."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import astuple
from datetime import timedelta

import psycopg
import pytest

from optimizer.usage import by_user as users_of
from optimizer.usage import ledger, totals
from tests.usage.synthetic import END, HOSTS, STEP, T0, expected, host_samples, load

PERIODS = [
    (T0, END),                                                    # everything
    (T0 + timedelta(minutes=43, seconds=7), END - timedelta(hours=3, minutes=1)),  # partial hours, whole days
    (T0 + timedelta(hours=5), T0 + timedelta(hours=5, minutes=30)),  # inside one hour
]


def _rollup(db) -> None:
    """What an optimizer pass does for the ledger: roll up (plain, apache) or refresh (full)."""
    from optimizer.hourly_stats import refresh_user_usage_aggregates

    with db.connect() as conn:
        refresh_user_usage_aggregates(conn, T0, END)
        conn.execute("SELECT sru_rollup_user_usage(%s, %s)", (T0, END))
        conn.commit()


def _check(conn, start, end) -> None:
    want = expected(start, end)
    got = {(r.host, r.user): r for r in ledger(conn, "user_host", start, end).rows}
    assert set(got) == set(want)
    for key, (cpu, ram, gpu, held) in want.items():
        r = got[key]
        assert r.cpu_core_hours == pytest.approx(cpu, rel=1e-9), key
        assert r.ram_gb_hours == pytest.approx(ram, rel=1e-9), key
        assert r.gpu_hours == pytest.approx(gpu, rel=1e-9, abs=1e-12), key
        assert r.gpu_idle_held_hours == pytest.approx(held, rel=1e-9, abs=1e-12), key
    by_user: dict[str, float] = defaultdict(float)
    for (_, user), v in want.items():
        by_user[user] += v[0]
    users = {r.user: r for r in ledger(conn, "user", start, end).rows}
    assert {u: r.cpu_core_hours for u, r in users.items()} == pytest.approx(dict(by_user))
    assert users["carol"].department == "unassigned" and users["alice"].department == "physics"
    assert users["system"].department == "system"
    depts = {r.department: r for r in ledger(conn, "department", start, end).rows}
    assert depts["physics"].cpu_core_hours == pytest.approx(by_user["alice"])
    assert depts["physics"].users == 1 and depts["physics"].hosts == 2
    hosts = {r.host: r for r in ledger(conn, "host", start, end).rows}
    # The console's one read (departments and hosts together) and its users summed from user_host
    # rows are the same rows as the separate reads.
    both = totals(conn, start, end)
    assert [both[0].rows, both[1].rows] == [list(depts.values()), list(hosts.values())]
    summed = users_of(ledger(conn, "user_host", start, end)).rows
    assert [(r.user, r.department, r.hosts) for r in summed] == [(r.user, r.department, r.hosts) for r in users.values()]
    for r in summed:
        figures = [v for v in astuple(r) if isinstance(v, float)]
        assert figures == pytest.approx([v for v in astuple(users[r.user]) if isinstance(v, float)], rel=1e-12), r.user
    for host, (cores, _ram_total, _gpus) in HOSTS.items():
        h = hosts[host]
        hours = host_samples(host, start, end) * STEP.total_seconds() / 3600
        assert h.hours == pytest.approx(hours)
        assert h.capacity_cpu_core_hours == pytest.approx(cores * hours)
        used = sum(v[0] for (hh, _), v in want.items() if hh == host)
        assert h.cpu_core_hours == pytest.approx(used)
        # Closure: users + system + idle = capacity (within 0.5 %; here exact).
        assert h.idle_cpu_core_hours is not None and h.idle_ram_gb_hours is not None and h.idle_gpu_hours is not None
        assert h.cpu_core_hours + h.idle_cpu_core_hours == pytest.approx(h.capacity_cpu_core_hours, rel=0.005)
        assert h.ram_gb_hours + h.idle_ram_gb_hours == pytest.approx(h.capacity_ram_gb_hours, rel=0.005)
        assert (h.gpu_hours + h.gpu_idle_held_hours + h.idle_gpu_hours
                == pytest.approx(h.capacity_gpu_hours, rel=0.005, abs=1e-9))


def test_ledger_exact_before_and_after_rollups(database) -> None:
    with database.connect() as conn:
        load(conn)
    with database.connect("analyst") as conn:
        for start, end in PERIODS:
            _check(conn, start, end)
    _rollup(database)
    with database.connect() as conn:
        if database.tier != "full":   # the rollups hold the whole hours now, the ledger reads them
            assert conn.execute("SELECT count(*) FROM user_usage_daily").fetchone()[0] > 0
            assert conn.execute("SELECT sru_user_usage_rolled_through()").fetchone()[0] > T0
    with database.connect("analyst") as conn:
        for start, end in PERIODS:
            _check(conn, start, end)
    _forbidden(database)


def _forbidden(db) -> None:
    """Per-user rows: analyst and admin (personal_usage_reader); Grafana's dashboard_readonly and
    the console's web_console only department and host totals, unless the console sets the role."""
    for role in ("dashboard_readonly",):
        with db.connect(role) as conn:
            for sql in ("SELECT * FROM user_usage_metrics LIMIT 1", "SELECT * FROM user_usage_hourly LIMIT 1",
                        "SELECT * FROM user_usage_daily LIMIT 1",
                        f"SELECT * FROM sru_usage_ledger('{T0}', '{END}')",
                        f"SELECT * FROM sru_user_usage_sums('{T0}', '{END}')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql)
                conn.rollback()
            depts = ledger(conn, "department", T0, END).rows
            hosts = ledger(conn, "host", T0, END).rows
            assert depts and hosts
            # What Grafana's panels read: the same rows as the console's one read.
            assert [(r[0], r[3]) for r in conn.execute(
                "SELECT * FROM sru_usage_by_department(%s, %s)", (T0, END))] == sorted(
                (r.department, r.cpu_core_hours) for r in depts)
            assert [(r[1], r[15]) for r in conn.execute(
                "SELECT * FROM sru_usage_by_host(%s, %s)", (T0, END))] == [
                (r.host, r.capacity_gpu_hours) for r in hosts]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                ledger(conn, "user", T0, END)
    web = "sru_t_usage_web"
    with psycopg.connect(db.cluster.url(), autocommit=True) as conn:
        conn.execute(f"DO $$BEGIN CREATE ROLE {web} LOGIN IN ROLE web_console; "
                     "EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    with psycopg.connect(db.cluster.url(db.name, web)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ledger(conn, "user", T0, END)
        conn.rollback()
        assert ledger(conn, "department", T0, END).rows
        conn.execute("SET ROLE personal_usage_reader")   # what the console does for operators
        assert {r.user for r in ledger(conn, "user", T0, END).rows} >= {"alice", "bob", "carol"}
        conn.execute("RESET ROLE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO user_usage_metrics (system_id, \"timestamp\", user_id) "
                         "SELECT id, now(), 1 FROM systems LIMIT 1")
