"""The optimizer's limits live in one place, sql/R__sru_thresholds.sql, that the SQL recommendations
and Python's forecasts and report both read: editing that file moves both."""

from __future__ import annotations

from importlib import resources
from typing import Any

from optimizer import thresholds
from optimizer.anomalies import METRICS
from tests.optimizer.conftest import NOW, load_demo, optimize

_RECS = ("SELECT hostname, kind, title, evidence FROM generate_hardware_recommendations(INTERVAL '30 days', %s)")


def _recommendations(db) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    with db.connect("analyst") as conn:
        return {(h, k): (t, e) for h, k, t, e in conn.execute(_RECS, (NOW,)).fetchall()}


def test_editing_the_thresholds_file_moves_sql_and_python(database) -> None:
    load_demo(database, hosts=7, days=10)
    optimize(database, "analyst", now=NOW)
    with database.connect("analyst") as conn:
        assert thresholds.forecast_limits(conn) == {"ram_percent": 90.0, "gpu_memory_percent": 95.0,
                                                    "swap_percent": 50.0}
        assert {"cpu_percent", "hot_share", "idle_share", "min_days"} <= set(thresholds.load(conn))
    before = _recommendations(database)
    _, ram = before[("demo-ram-swap-01", "ram")]
    assert ram["threshold"] == 90 and ram["swap_threshold"] == 10
    assert not any(kind == "not_enough_data" for _, kind in before)

    # The file as an operator would edit it, applied the way migrate re-applies it.
    sql = resources.files("sru.sql").joinpath("R__sru_thresholds.sql").read_text()
    assert "('ram_percent', 90," in sql and "('min_days', 7," in sql
    with database.connect() as conn:
        conn.execute(sql.replace("('ram_percent', 90,", "('ram_percent', 80,"))
    with database.connect("analyst") as conn:
        assert thresholds.forecast_limits(conn)["ram_percent"] == 80.0
    assert _recommendations(database)[("demo-ram-swap-01", "ram")][1]["threshold"] == 80

    with database.connect() as conn:
        conn.execute(sql.replace("('min_days', 7,", "('min_days', 11,"))
    after = _recommendations(database)
    # Ten days of data are now too few: every host says so, with the new figure.
    assert {kind for _, kind in after} == {"not_enough_data"}
    assert all(ev["needed_days"] == 11 and "of 11 days needed" in t for t, ev in after.values())



def _apply_edited(db, changes: dict[str, str]) -> None:
    """R__sru_thresholds.sql as an operator would edit it (old text → new), applied the way migrate
    re-applies it."""
    sql = resources.files("sru.sql").joinpath("R__sru_thresholds.sql").read_text()
    for old, new in changes.items():
        assert old in sql, old
        sql = sql.replace(old, new)
    with db.connect() as conn:
        conn.execute(sql)

def test_the_file_python_reads_offline_is_what_the_database_holds(database) -> None:
    """thresholds.shipped() (the pure anomaly core's tests, bench/anomalies) and thresholds.load()
    (every pass) read the same values, and every parameter of the detector is among them."""
    shipped = thresholds.shipped()
    with database.connect("analyst") as conn:
        assert thresholds.load(conn) == shipped
    params = thresholds.anomaly_params(shipped)
    assert set(params.limits) == set(METRICS) and params.limits["cpu_percent"] == 98.0
    assert params.z == 4.0 and params.min_baseline_hours == 14 * 24


def test_flags_bottlenecks_and_anomaly_limits_follow_the_file(database) -> None:
    """The summaries' flags and detect_bottleneck (SQL) and the anomaly detector's limits (Python)
    move together when the one file changes."""
    load_demo(database, hosts=7, days=10)
    optimize(database, "analyst", now=NOW)
    bottleneck = "SELECT detect_bottleneck(50, 88), detect_bottleneck(50, 50, p_cpu_temp => 88)"
    idle = ("SELECT count(*) FILTER (WHERE is_underutilized) FROM performance_summaries p JOIN systems s "
            "ON s.id = p.system_id WHERE s.hostname = 'demo-idle-01' AND period_type = 'daily'")
    with database.connect("analyst") as conn:
        assert conn.execute(bottleneck).fetchone() == (None, None)
        assert conn.execute(idle).fetchone()[0] > 0
        assert thresholds.anomaly_params(thresholds.load(conn)).limits["cpu_percent"] == 98.0

    _apply_edited(database, {"('ram_percent', 90,": "('ram_percent', 85,",
                             "('cpu_temp_celsius', 90,": "('cpu_temp_celsius', 85,",
                             "('idle_cpu_percent', 20,": "('idle_cpu_percent', 0,",
                             "('anomaly_limit_cpu_percent', 98,": "('anomaly_limit_cpu_percent', 95,"})
    optimize(database, "analyst", now=NOW, full=True)
    with database.connect("analyst") as conn:
        assert conn.execute(bottleneck).fetchone() == ("ram", "thermal")
        assert conn.execute(idle).fetchone()[0] == 0        # nothing is below 0 % CPU
        assert thresholds.anomaly_params(thresholds.load(conn)).limits["cpu_percent"] == 95.0
