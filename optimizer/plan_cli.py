"""`sru plan`: which hosts could go and where their load moves (optimizer/consolidate.py), from the
stored history; ``--store`` files it as `reallocation` reports for the workflow, ``--show`` prints a
stored plan with the realised outcome of its implemented moves."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sru.errors import ConfigError
from sru.options import Subparsers, add_database_url, add_format, parse_duration

if TYPE_CHECKING:
    import psycopg

    from optimizer.consolidate import Options

MAX_PINS = 1000


def register(sub: Subparsers, connect: Callable[[argparse.Namespace, str], psycopg.Connection],
             login: str) -> None:
    p = sub.add_parser("plan", help="consolidation plan: which hosts could go, where their load moves")
    add_database_url(p)
    add_format(p, ("table", "json"))
    p.add_argument("--window", default="28d", help="history the plan learns from (default: 28d)")
    p.add_argument("--headroom", default="80%",
                   help="a receiving host's CPU and RAM stay at or under this share at the quantile (default: 80%%)")
    p.add_argument("--quantile", type=float, default=99.0,
                   help="percent of a receiving host's hours that must stay under the headroom (default: 99)")
    p.add_argument("--pin", action="append", default=[], metavar="HOST", help="keep this host (repeatable)")
    p.add_argument("--location", help="plan only the hosts of this location")
    p.add_argument("--same-location", action="store_true", help="move load only between hosts of one location")
    p.add_argument("--by-user", action="store_true",
                   help="move users' loads one by one (issue 19's per-user usage; needs a role that reads it)")
    p.add_argument("--method", choices=("aligned", "ffd_p95", "ff_mean"), default="aligned",
                   help="aligned (default); ffd_p95 and ff_mean are the baselines, for comparison")
    p.add_argument("--time-budget", default="10s", help="search time for the aligned method (default: 10s)")
    p.add_argument("--store", action="store_true",
                   help="file the plan: one pending reallocation report per retired host (`sru reports`)")
    p.add_argument("--by", default=os.environ.get("SRU_ACTOR") or login,
                   help="who files the plan with --store (default: $SRU_ACTOR or the login name)")
    p.add_argument("--show", nargs="?", const="latest", metavar="PLAN_ID",
                   help="print a stored plan (default: the newest) with realised vs predicted load")
    p.set_defaults(func=lambda args: run(args, connect))


def parse_headroom(text: str, option: str = "--headroom") -> float:
    """'80%', '80' or '0.8' → 0.8."""
    raw = str(text).strip()
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise ConfigError(option, f"{text!r} is not a share like 80% or 0.8") from None
    if raw.endswith("%") or value > 1:
        value /= 100.0
    if not 0.05 <= value <= 1.0:
        raise ConfigError(option, f"{text!r} must be between 5% and 100%")
    return value


def options_from(headroom: str, quantile: float, pins: list[str], same_location: bool, method: str = "aligned",
                 budget: str = "10s") -> Options:
    from optimizer.consolidate import Options

    if not 50 <= quantile <= 100:
        raise ConfigError("--quantile", f"{quantile:g} must be between 50 and 100")
    if len(pins) > MAX_PINS or any(not p or len(p) > 253 for p in pins):
        raise ConfigError("--pin", f"at most {MAX_PINS} host names of 1-253 characters")
    seconds = parse_duration(budget, "--time-budget").total_seconds()
    if not 0 <= seconds <= 600:
        raise ConfigError("--time-budget", "must be between 0s and 10m")
    return Options(headroom=parse_headroom(headroom), quantile=quantile, pins=frozenset(pins),
                   same_location=same_location, method=method, time_budget_s=seconds)


def run(args: argparse.Namespace, connect: Callable[[argparse.Namespace, str], psycopg.Connection]) -> int:
    from optimizer import plan_render, plan_store
    from optimizer.consolidate import PlanError

    now = datetime.now(UTC)
    render = plan_render.as_json if args.format == "json" else plan_render.as_table
    if args.show:
        with connect(args, "plan") as conn:
            doc: dict[str, Any] = plan_store.stored_plan(conn, now, None if args.show == "latest" else args.show)
        sys.stdout.write(render(doc))
        return 0
    window = parse_duration(args.window, "--window")
    if window.days < 7 or window.days > 400:
        raise ConfigError("--window", "must be between 7d and 400d (a plan needs each host's week)")
    options = options_from(args.headroom, args.quantile, args.pin, args.same_location, args.method, args.time_budget)
    with connect(args, "plan") as conn:
        try:
            made = plan_store.make(conn, now, options, window, args.location, by_user=args.by_user)
        except PlanError as exc:
            raise ConfigError("--pin", str(exc)) from None
        doc = {"summary": plan_store.summary(made)}
        if args.store:
            if not args.by:
                raise ConfigError("--by", "must name who files the plan")
            doc["plan_id"] = plan_store.store(conn, made, args.by)
        conn.commit()
    sys.stdout.write(render(doc))
    if args.store:
        print(f"stored as plan {doc['plan_id']}: {len(made['plan'].retire)} reallocation reports "
              f"(`sru reports list`, `sru plan --show`)", file=sys.stderr)
    return 0
