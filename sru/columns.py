"""The value columns of ``usage_metrics``, declared once.

The adapter (ranges, storage grid, staging table, row layout), the demo generator (what it writes, on
which grid) and the schema tests read this module; ``tests/schema/test_columns.py`` holds it against
``information_schema.columns`` and the CHECK constraints of a migrated database on every tier. The
whole recipe for adding a collected column is in ``sru/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

PERCENT = (0.0, 100.0)
NONNEGATIVE = (0.0, None)
# Temperatures (°C) have no CHECK in the schema. Below absolute zero is impossible, and no sensor on
# working hardware reads 1000 °C: such a value is a broken sensor or a hostile sender, and a single
# 1e308 would wreck every average: the adapter stores NULL (counted) as for the other ranges.
TEMPERATURE = (-273.15, 1000.0)


@dataclass(frozen=True)
class UsageColumn:
    """One value column of ``usage_metrics``.

    ``lo``/``hi``: the values the adapter stores (None: unbounded); where ``checked``, exactly the
    column's SQL CHECK (``BETWEEN lo AND hi`` or ``>= lo``). ``quantum``: values are stored as
    multiples of 1/quantum, a power of two, so every stored double is exact with few mantissa bits
    and TimescaleDB's Gorilla (XOR) compression of neighbouring values works: on demo data compressed
    chunks shrink 66 % at full precision and 89 % on this grid, about 3.2 bytes per value
    (bench/storage; integers in the same units would save 0.5 byte more, at the price of every
    reader). Each grid is finer than what its source measures: psutil's CPU and memory percentages
    have 0.1, hwmon temperatures 1 or 0.125 °C, /proc/loadavg 0.01; 1/1024 MB/s is 1 KiB/s.
    ``sql_type``: ``double precision`` (``integer`` in user_usage_metrics), or ``jsonb`` for an object of key → value (each value in the
    range and on the grid; the adapter supports one such column, ``cpu_per_core``).
    """

    name: str
    sql_type: str
    lo: float | None
    hi: float | None
    quantum: int
    unit: str
    checked: bool = True


# Table order (information_schema ordinal position); a new column is appended (ALTER TABLE … ADD COLUMN).
USAGE_COLUMNS: tuple[UsageColumn, ...] = (
    UsageColumn("cpu_percent", "double precision", *PERCENT, quantum=64, unit="%"),
    UsageColumn("cpu_per_core", "jsonb", *PERCENT, quantum=64, unit="%", checked=False),
    UsageColumn("cpu_temp", "double precision", *TEMPERATURE, quantum=64, unit="°C", checked=False),
    UsageColumn("ram_percent", "double precision", *PERCENT, quantum=64, unit="%"),
    UsageColumn("swap_percent", "double precision", *PERCENT, quantum=64, unit="%"),
    UsageColumn("gpu_utilization", "double precision", *PERCENT, quantum=64, unit="%"),
    UsageColumn("gpu_temp", "double precision", *TEMPERATURE, quantum=64, unit="°C", checked=False),
    UsageColumn("gpu_memory_percent", "double precision", *PERCENT, quantum=64, unit="%"),
    UsageColumn("disk_read_mb_s", "double precision", *NONNEGATIVE, quantum=1024, unit="MB/s"),
    UsageColumn("disk_write_mb_s", "double precision", *NONNEGATIVE, quantum=1024, unit="MB/s"),
    UsageColumn("disk_io_wait_percent", "double precision", *PERCENT, quantum=64, unit="%"),
    UsageColumn("net_sent_mb_s", "double precision", *NONNEGATIVE, quantum=1024, unit="MB/s"),
    UsageColumn("net_recv_mb_s", "double precision", *NONNEGATIVE, quantum=1024, unit="MB/s"),
    UsageColumn("load_1m", "double precision", *NONNEGATIVE, quantum=128, unit="runnable tasks"),
)

# The derived lookups. A row of the adapter's Batch.usage (and the demo's COPY) holds SCALAR_COLUMNS
# in this order, then the JSON column.
BY_NAME: dict[str, UsageColumn] = {c.name: c for c in USAGE_COLUMNS}
SCALAR_COLUMNS: tuple[str, ...] = tuple(c.name for c in USAGE_COLUMNS if c.sql_type == "double precision")
JSON_COLUMNS: tuple[str, ...] = tuple(c.name for c in USAGE_COLUMNS if c.sql_type == "jsonb")
COLUMN_RANGES: dict[str, tuple[float | None, float | None]] = {c.name: (c.lo, c.hi) for c in USAGE_COLUMNS}
COLUMN_QUANTA: dict[str, int] = {c.name: c.quantum for c in USAGE_COLUMNS}

# The value columns of ``user_usage_metrics`` (issue 19, sql/060_user_usage.sql), in table order:
# what a user's processes held on a host at one evaluation. All >= 0 with no upper bound (a user's
# share is bounded by the host, which the adapter does not know per sample); ``processes`` is an
# integer column. The grids: 1/1024 core, 1/1024 GB (1 MiB), 1/64 % and 1/64 GPU.
USER_USAGE_COLUMNS: tuple[UsageColumn, ...] = (
    UsageColumn("cpu_cores", "double precision", *NONNEGATIVE, quantum=1024, unit="cores"),
    UsageColumn("ram_gb", "double precision", *NONNEGATIVE, quantum=1024, unit="GB"),
    UsageColumn("gpu_memory_gb", "double precision", *NONNEGATIVE, quantum=1024, unit="GB"),
    UsageColumn("gpu_utilization", "double precision", *NONNEGATIVE, quantum=64, unit="% of one GPU, summed"),
    UsageColumn("gpus_held", "double precision", *NONNEGATIVE, quantum=64, unit="GPUs"),
    UsageColumn("gpus_idle_held", "double precision", *NONNEGATIVE, quantum=64, unit="GPUs"),
    UsageColumn("processes", "integer", *NONNEGATIVE, quantum=1, unit="processes"),
)
USER_USAGE_NAMES: tuple[str, ...] = tuple(c.name for c in USER_USAGE_COLUMNS)
USER_USAGE_QUANTA: dict[str, int] = {c.name: c.quantum for c in USER_USAGE_COLUMNS}

__all__ = ("BY_NAME", "COLUMN_QUANTA", "COLUMN_RANGES", "JSON_COLUMNS", "NONNEGATIVE", "PERCENT",
           "SCALAR_COLUMNS", "TEMPERATURE", "USAGE_COLUMNS", "USER_USAGE_COLUMNS", "USER_USAGE_NAMES",
           "USER_USAGE_QUANTA", "UsageColumn")
