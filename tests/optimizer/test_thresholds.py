"""The optimizer's limits live in one place, sql/R__sru_thresholds.sql, that the SQL recommendations
and Python's forecasts and report both read: editing that file moves both."""

from __future__ import annotations

from importlib import resources

from optimizer import thresholds
from optimizer.run import run_once
from tests.optimizer.conftest import NOW, load_demo

_RECS = ("SELECT hostname, kind, title, evidence FROM generate_hardware_recommendations(INTERVAL '30 days', %s)")


def _recommendations(db) -> dict[tuple[str, str], tuple[str, dict]]:
    with db.connect("analyst") as conn:
        return {(h, k): (t, e) for h, k, t, e in conn.execute(_RECS, (NOW,)).fetchall()}


def test_editing_the_thresholds_file_moves_sql_and_python(database) -> None:
    load_demo(database, hosts=7, days=10)
    run_once(database.role_url("analyst"), now=NOW)
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
