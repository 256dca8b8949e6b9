"""A small slice of the harder labelled set (tests/optimizer/hard_set.py, issue #22); the whole set is
bench/anomalies_hard's. And the VUS-PR port the bench scores with (bench/_vus.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from optimizer import anomaly_core, thresholds
from tests.optimizer.hard_set import JUDGE_FROM, NEW_NORMAL_WITHIN, host, score

PARAMS = thresholds.anomaly_params(thresholds.shipped())
# Seed 22: a quiet weekly host; a flat one with a lasting drop, a level shift and a slow leak; a
# nightly-batch one with leaks, spikes and two incidents nested in a leak; a wandering (memory-like)
# one with a lasting change and a level shift.
SLICE = (0, 2, 5, 7)


@pytest.fixture(scope="module")
def judged():
    hosts = [host(22, i) for i in SLICE]
    return hosts, {h.name: anomaly_core.find_episodes(h.mean, h.peak, judge_from=JUDGE_FROM, params=PARAMS,
                                                      limit=98.0) for h in hosts}


def test_slice_of_the_hard_set(judged):
    hosts, episodes = judged
    sc = score(hosts, episodes)
    assert [h.quiet for h in hosts] == [True, False, False, False] and sc.regimes == 2
    assert sc.quiet_episodes == 0, episodes[hosts[0].name]
    assert sc.regimes_settled == sc.regimes
    assert sc.false_alarms <= 1, sc                  # 32 host-weeks: the goal is <= 0.25 per host-week
    # 6 of 8. Missed: the wandering host's level shift, and the flat host's leak that saturates at
    # 100 % on a host living near 90 % (a threshold by design; its 30-day scale still spans the drop).
    assert sc.recall >= 0.75, sc.missed
    # Raised inside the open episode of the leak they are nested in.
    assert sc.found_by_kind["spike (nested)"] == [1, 1] and sc.found_by_kind["variance_burst (nested)"] == [1, 1]


def test_lasting_change_alarms_at_most_a_day(judged):
    hosts, episodes = judged
    for h in hosts:
        for r in h.regimes:
            late = [e for e in episodes[h.name] if e.start >= r - 6 and e.end >= r + NEW_NORMAL_WITHIN
                    and not any(e.start <= ev.end and e.end >= ev.start for ev in h.events)]
            assert not late, (h.name, r, late)


def _vus():
    spec = importlib.util.spec_from_file_location("_vus", Path(__file__).resolve().parents[2] / "bench" / "_vus.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.vus_pr


def test_vus_pr_port_on_known_cases():
    vus_pr = _vus()
    label = np.zeros(400, dtype=int)
    label[100:110] = 1
    label[300:305] = 1
    assert vus_pr(label, label.astype(float), 24) == pytest.approx(1.0)
    # A score that rises only well away from the incidents ranks them last: near the base rate.
    away = np.zeros(400)
    away[200:220] = 1.0
    assert vus_pr(label, away, 24) < 0.1
    # Near misses earn partial credit from the buffer: better than nothing, worse than a hit.
    near = np.zeros(400)
    near[112:116] = 1.0
    near[306:308] = 1.0
    assert 0.05 < vus_pr(label, near, 24) < 0.9
    rng = np.random.default_rng(0)
    noise = rng.random(400)
    assert vus_pr(label, noise, 24) < vus_pr(label, noise + 2 * label, 24)
    with pytest.raises(ValueError, match="labelled range"):
        vus_pr(np.zeros(10, dtype=int), np.zeros(10), 4)
