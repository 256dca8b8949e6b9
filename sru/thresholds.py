"""The limits of ``sru_thresholds()`` as sql/R__sru_thresholds.sql ships them, read without a database:
for what is generated or checked from that file rather than queried at run time (Grafana's colour
steps, the alerting rules' thresholds in tests/alerting/test_rules.py, the pure anomaly core's tests).
The optimizer reads the database's values (optimizer/thresholds.py)."""

from __future__ import annotations

import re
from importlib import resources

# A row of the VALUES list in R__sru_thresholds.sql: ('name', value, ...
_ROW = re.compile(r"^\s*\('(?P<name>[a-z0-9_]+)',\s*(?P<value>-?[0-9]+(?:\.[0-9]+)?),", re.MULTILINE)


def shipped() -> dict[str, float]:
    """Every threshold by name, as sql/R__sru_thresholds.sql ships them (what a freshly migrated
    database holds; tests/optimizer/test_thresholds.py proves the two agree)."""
    sql = resources.files("sru.sql").joinpath("R__sru_thresholds.sql").read_text(encoding="utf-8")
    return {m["name"]: float(m["value"]) for m in _ROW.finditer(sql)}
