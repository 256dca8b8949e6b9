"""The optimizer's limits, read from the database: ``sru_thresholds()`` (sql/R__sru_thresholds.sql) is
the one place that the SQL (summaries' flags, bottlenecks, recommendations) and Python (forecasts,
report, anomaly detector) share. Where there is no database (the pure anomaly core's tests,
bench/anomalies) :func:`shipped` (sru.thresholds) reads the same file's values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sru.thresholds import shipped

if TYPE_CHECKING:
    import psycopg

    from optimizer.anomaly_core import Params

# Forecast metric → the threshold its trend runs to.
FORECAST_LIMITS = {"ram_percent": "ram_percent", "gpu_memory_percent": "gpu_memory_percent",
                   "swap_percent": "swap_forecast_percent"}
# Prefix of the anomaly detector's thresholds; ``anomaly_limit_<metric>`` is a metric's hard limit.
ANOMALY = "anomaly_"
ANOMALY_LIMIT = "anomaly_limit_"

__all__ = ("ANOMALY", "ANOMALY_LIMIT", "FORECAST_LIMITS", "anomaly_params", "forecast_limits", "load", "shipped")


def load(conn: psycopg.Connection) -> dict[str, float]:
    """Every threshold by name, as the database holds them."""
    return {name: float(value) for name, value in conn.execute("SELECT name, value FROM sru_thresholds()")}


def forecast_limits(conn: psycopg.Connection, values: dict[str, float] | None = None) -> dict[str, float]:
    """Forecast metric → its limit (from ``values`` when the caller has read them already)."""
    values = values if values is not None else load(conn)
    return {metric: values[name] for metric, name in FORECAST_LIMITS.items()}


def anomaly_params(values: dict[str, float]) -> Params:
    """The anomaly detector's parameters from ``values`` (:func:`load` or :func:`shipped`)."""
    from optimizer.anomaly_core import Params  # numpy: not at import time (the CLI imports this module)

    limits = {name[len(ANOMALY_LIMIT):]: v for name, v in values.items() if name.startswith(ANOMALY_LIMIT)}
    scalars = {name[len(ANOMALY):]: v for name, v in values.items()
               if name.startswith(ANOMALY) and not name.startswith(ANOMALY_LIMIT)}
    return Params.from_values(scalars, limits)
