"""The optimizer's limits, read from the database: ``sru_thresholds()`` (sql/R__sru_thresholds.sql) is
the one place that the SQL recommendations and Python's forecasts and report share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

# Forecast metric → the threshold its trend runs to.
FORECAST_LIMITS = {"ram_percent": "ram_percent", "gpu_memory_percent": "gpu_memory_percent",
                   "swap_percent": "swap_forecast_percent"}


def load(conn: "psycopg.Connection") -> dict[str, float]:
    """Every threshold by name."""
    return {name: float(value) for name, value in conn.execute("SELECT name, value FROM sru_thresholds()")}


def forecast_limits(conn: "psycopg.Connection") -> dict[str, float]:
    """Forecast metric → its limit."""
    values = load(conn)
    return {metric: values[name] for metric, name in FORECAST_LIMITS.items()}
