#!/usr/bin/env python3
"""Writes grafana/dashboards/*.json from the definitions in grafana/definitions/.

The dashboards are code so that five dashboards share one set of panel conventions (datasources,
units, thresholds, links: grafana/panels.py) and a change is a reviewable diff; the JSON is committed
so Grafana's file provisioning needs nothing else. `python grafana/generate.py` rewrites the files;
`--check` fails when they are out of date (the tests run it). Edit the definitions, not the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python grafana/generate.py): make the grafana package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grafana.definitions.alerts import alerts  # noqa: E402
from grafana.definitions.fleet_overview import fleet_overview  # noqa: E402
from grafana.definitions.host_detail import host_detail  # noqa: E402
from grafana.definitions.recommendations import recommendations  # noqa: E402
from grafana.definitions.usage import usage  # noqa: E402
from grafana.definitions.users import users  # noqa: E402

OUT = Path(__file__).resolve().parent / "dashboards"

DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "fleet-overview.json": fleet_overview,
    "host-detail.json": host_detail,
    "alerts.json": alerts,
    "recommendations.json": recommendations,
    "users.json": users,
    "usage.json": usage,
}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed JSON is out of date")
    ap.add_argument("--out", type=Path, default=OUT, help=f"directory of the JSON files (default {OUT})")
    args = ap.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
