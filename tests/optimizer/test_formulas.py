"""Formulas on hand-computed cases, in SQL (the functions every client uses)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("cpu, ram, gpu, expected", [
    (30, 60, None, 75.0),          # f(30) = 0.5, f(60) = 1
    (100, 100, 100, 50.0),         # saturated: 0.5 each
    (0, 0, None, 0.0),
    (90, 45, 70, 86.1),            # (1 - 5/30 + 0.75 + 1) / 3 = 0.8611
    (85, 60, None, 100.0),
    (None, None, None, None),
])
def test_utilization_score(tsdb_database, cpu, ram, gpu, expected):
    with tsdb_database.connect(role="analyst") as conn:
        got = conn.execute("SELECT calculate_utilization_score(%s, %s, %s)", (cpu, ram, gpu)).fetchone()[0]
    assert got == expected


@pytest.mark.parametrize("args, expected", [
    ((50, 88, 15, None, None, 25), "swap"),        # RAM pressure spilling to swap beats IO wait
    ((50, 95, 0, None, None, 2), "ram"),
    ((95, 50, 0, None, None, 25), "disk_io"),      # IO wait explains the CPU
    ((50, 50, 0, 99, 96, 2), "gpu_memory"),
    ((50, 50, 0, 99, 50, 2), "gpu"),
    ((92, 50, 0, None, None, 2), "cpu"),
    ((50, 50, 0, None, None, 2), None),
])
def test_detect_bottleneck(tsdb_database, args, expected):
    with tsdb_database.connect(role="analyst") as conn:
        got = conn.execute("SELECT detect_bottleneck(%s, %s, %s, %s, %s, %s)", args).fetchone()[0]
    assert got == expected


def test_forecast_crossing_with_band():
    from datetime import date, timedelta

    import numpy as np

    from optimizer.forecast import fit

    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(30)]
    rng = np.random.default_rng(0)
    values = [50 + 1.0 * i + rng.normal(0, 0.5) for i in range(30)]   # 79 % on day 29, +1 %/day
    fc = fit(days, values, "ram_percent", 90.0)
    assert fc.status == "crossing"
    assert fc.slope_per_day is not None and fc.crossing_date and fc.earliest_date and fc.latest_date
    assert abs(fc.slope_per_day - 1.0) < 0.05
    crossing = date.fromisoformat(fc.crossing_date)
    assert date(2025, 2, 9) <= crossing <= date(2025, 2, 11)          # 90 % at day ≈ 40
    assert date.fromisoformat(fc.earliest_date) <= crossing <= date.fromisoformat(fc.latest_date)
    flat = fit(days, [60 + rng.normal(0, 1) for _ in days], "ram_percent", 90.0)
    assert flat.status == "no_trend" and flat.crossing_date is None
    assert fit(days[:5], values[:5], "ram_percent", 90.0).status == "not_enough_data"
    # A constant series (a host pinned at one figure) has no r² or p: left out, never NaN, so its
    # evidence still goes into JSONB.
    import json

    const = fit(days, [64.0] * len(days), "ram_percent", 90.0)
    assert const.status == "no_trend" and const.r2 is None and const.p_value is None
    json.dumps(const.as_dict(), allow_nan=False)


def test_closed_form_ols_matches_statsmodels():
    import numpy as np
    import statsmodels.api as sm

    from optimizer.forecast import ols_line

    rng = np.random.default_rng(7)
    x = np.arange(40, dtype=float)
    for y in (3 + 0.4 * x + rng.normal(0, 2, 40), 50 + rng.normal(0, 1, 40)):
        line = ols_line(x, y)
        model = sm.OLS(y, sm.add_constant(x)).fit()
        assert line.intercept == pytest.approx(model.params[0], rel=1e-9)
        assert line.slope == pytest.approx(model.params[1], rel=1e-9)
        assert line.p_value == pytest.approx(model.pvalues[1], rel=1e-6)
        assert line.r_squared == pytest.approx(model.rsquared, rel=1e-9, abs=1e-12)
        ahead = np.arange(40, 70, dtype=float)
        frame = model.get_prediction(sm.add_constant(ahead, has_constant="add")).summary_frame(alpha=0.05)
        mean, lower, upper = line.predict(ahead)
        assert mean == pytest.approx(frame["mean"].to_numpy(), rel=1e-9)
        assert lower == pytest.approx(frame["obs_ci_lower"].to_numpy(), rel=1e-9)
        assert upper == pytest.approx(frame["obs_ci_upper"].to_numpy(), rel=1e-9)
