"""The consolidation planner's pure core on synthetic fleets with known answers
(tests/optimizer/consolidation_fleets.py): constraints (headroom, GPUs, pins, location, hosts not
active), coinciding peaks retire nothing, and the time-aligned plan beats the two baselines."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optimizer.consolidate import Fleet, Host, Options, PlanError, Unit, plan, replay
from tests.optimizer import consolidation_fleets as F

FAST = Options(time_budget_s=0.5)


def _check_receivers(p, fleet: Fleet, o: Options) -> None:
    """Recompute every kept host's load from the assignment: p99 under headroom, GPUs never over."""
    hosts = {h.name: h for h in fleet.hosts}
    for target in {m.target for m in p.moves}:
        h = hosts[target]
        units = [u for u in fleet.units if p.assignment[u.name] == target]
        cpu = np.asarray(sum(u.cpu for u in units))
        ram = np.asarray(sum(u.ram for u in units))
        gpus = sum(u.gpus for u in units)
        allowed = int((100 - o.quantile) / 100 * fleet.hours + 1e-9)
        assert (cpu > o.headroom * h.cpu_cores).sum() <= allowed, target
        assert (ram > o.headroom * h.ram_gb).sum() <= allowed, target
        assert (np.asarray(gpus) <= h.gpu_count).all(), target
        r = next(r for r in p.receivers if r.host == target)
        assert r.after["cpu_p99"] <= 100 * o.headroom and r.after["ram_p99"] <= 100 * o.headroom


def test_day_and_night_hosts_share_a_machine():
    fleet = F.day_night(n_pairs=4, weeks=3)
    p = plan(fleet, FAST)
    assert len(p.retire) == 4 and p.saving == {"hosts": 4, "cpu_cores": 64.0, "ram_gb": 256.0, "gpus": 0}
    # Each receiver took exactly one host of the other shift.
    for r in p.receivers:
        assert len(r.units) == 1 and r.units[0].split("-")[0] != r.host.split("-")[0]
    _check_receivers(p, fleet, FAST)
    assert set(p.kept) | set(p.retire) == {h.name for h in fleet.hosts}


@pytest.mark.parametrize("make", [F.coinciding, F.full])
def test_coinciding_peaks_and_a_busy_fleet_retire_nothing(make):
    p = plan(make(weeks=3), FAST)
    assert p.retire == [] and p.moves == [] and p.saving["hosts"] == 0


@pytest.mark.parametrize("headroom", [0.6, 0.8, 0.95])
def test_headroom_holds_on_every_receiver(headroom):
    fleet = F.lab(n=16, weeks=3, seed=11)
    o = replace(FAST, headroom=headroom)
    p = plan(fleet, o)
    _check_receivers(p, fleet, o)
    if headroom == 0.6:
        assert len(p.retire) < len(plan(fleet, replace(FAST, headroom=0.95)).retire)


def test_gpus_go_only_to_the_same_model_and_never_oversubscribe():
    fleet = F.gpu(weeks=3)
    p = plan(fleet, FAST)
    model = {h.name: h.gpu_model for h in fleet.hosts}
    for m in p.moves:
        if m.gpus:
            assert model[m.target] == model[m.source]
    # Two A100 hosts fold into the third; the V100 hosts (2 + 1 GPUs of 2) never share.
    assert {"a100-2", "a100-3"} <= set(p.retire) or {"a100-1", "a100-3"} <= set(p.retire)
    assert not {"v100-1", "v100-2"} <= set(p.retire) and {"v100-1", "v100-2"} & set(p.kept)
    assert not any(m.source.startswith("v100") and m.target.startswith("v100") for m in p.moves)
    _check_receivers(p, fleet, FAST)
    assert replay(fleet, p.assignment).gpu_oversubscribed_hours == 0


def test_pins_keep_hosts_and_location_keeps_moves_local():
    fleet = F.day_night(n_pairs=3, weeks=3)
    first = plan(fleet, FAST)
    pinned = plan(fleet, replace(FAST, pins=frozenset(first.retire)))
    assert not set(first.retire) & set(pinned.retire) and len(pinned.retire) == 3   # the other shift goes
    with pytest.raises(PlanError, match="not in the fleet"):
        plan(fleet, replace(FAST, pins=frozenset({"nowhere"})))
    # Day hosts in one room, night hosts in another: with same_location nothing pairs up.
    located = Fleet([replace(h, location=h.name.split("-")[0]) for h in fleet.hosts], fleet.units, fleet.hours)
    assert plan(located, replace(FAST, same_location=True)).retire == []
    assert len(plan(located, FAST).retire) == 3


def test_a_host_not_active_neither_receives_nor_goes():
    fleet = F.day_night(n_pairs=2, weeks=3)
    idle = F.day_night(n_pairs=1, weeks=3).units[0]
    spare = Host("spare", 64, 256, status="maintenance")
    fleet = Fleet(fleet.hosts + [spare], fleet.units + [replace(idle, host="spare", cpu=idle.cpu * 0, ram=idle.ram * 0)],
                  fleet.hours)
    p = plan(fleet, FAST)
    assert "spare" not in p.retire and all(m.target != "spare" for m in p.moves) and len(p.retire) == 2


def test_aligned_beats_both_baselines_on_the_held_out_week():
    train, test = F.split(F.day_night(n_pairs=4, weeks=4))
    aligned = plan(train, FAST)
    ffd = plan(train, replace(FAST, method="ffd_p95"))
    watcher = plan(train, replace(FAST, method="ff_mean"))
    assert len(aligned.retire) == 4 and len(ffd.retire) == 0    # sums of p95s see 90 %
    r = replay(test, aligned.assignment)
    assert r.hot_share <= 0.01 and r.gpu_oversubscribed_hours == 0
    # Watcher's first fit on means retires more and runs its receivers hot in week 4.
    assert len(watcher.retire) > 4 and replay(test, watcher.assignment).hot_share > 0.05


def test_bad_options_are_named():
    fleet = F.full(n=2, weeks=1)
    for o, word in ((replace(FAST, headroom=2.0), "headroom"), (replace(FAST, quantile=10), "quantile"),
                    (replace(FAST, method="magic"), "method")):
        with pytest.raises(PlanError, match=word):
            plan(fleet, o)


def test_per_user_units_split_a_host_across_receivers():
    """The seam for per-user moves: a host whose load is two users' can go when each user fits on a
    different host, though the whole load fits on none."""
    hod, dow = F._hours(3)
    day = F._day(hod, dow)
    flat = np.ones(hod.size)
    hosts = [Host("a", 16, 64), Host("b", 16, 64), Host("shared", 16, 64)]
    units = [Unit("a", 0.45 * 16 * day, 0.3 * 64 * flat, 0 * flat),
             Unit("b", 0.45 * 16 * day, 0.3 * 64 * flat, 0 * flat),
             Unit("shared", 0.3 * 16 * day, 0.2 * 64 * flat, 0 * flat, user="ada"),
             Unit("shared", 0.3 * 16 * day, 0.2 * 64 * flat, 0 * flat, user="bob")]
    fleet = Fleet(hosts, units, hod.size)
    p = plan(fleet, FAST)
    assert p.retire == ["shared"] and {m.user for m in p.moves} == {"ada", "bob"}
    assert {m.target for m in p.moves} == {"a", "b"} and p.assignment["shared/ada"] != p.assignment["shared/bob"]
    whole = Fleet(hosts, units[:2] + [Unit("shared", 0.6 * 16 * day, 0.4 * 64 * flat, 0 * flat)], hod.size)
    assert plan(whole, FAST).retire == []
    _check_receivers(p, fleet, FAST)


@pytest.mark.parametrize("method", ["aligned", "ffd_p95", "ff_mean"])
def test_a_fleet_without_history_plans_nothing(method):
    """A new database (no host, no hour yet): `sru db maintain`'s pass runs the weekly plan and its
    baselines on it, and each method must answer an empty plan, not fail on an empty array."""
    p = plan(Fleet(hosts=[], units=[], hours=0), replace(FAST, method=method))
    assert p.retire == [] and p.moves == []
