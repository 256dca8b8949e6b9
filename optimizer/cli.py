"""`sru demo-data`, `sru optimize`, `sru report`, `sru reports …` (standard library only at import
time; the work is imported inside each command)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from typing import TYPE_CHECKING

from optimizer import plan_cli

# The renderers' own list: report.py imports only the standard library at import time.
from optimizer.report import FORMATS as REPORT_FORMATS
from sru.db_cli import db_subcommands
from sru.errors import ConfigError
from sru.options import Subparsers, add_database_url, add_format, parse_duration, require_database_url, show_help
from sru.output import write_output

if TYPE_CHECKING:
    import psycopg


def register(sub: Subparsers) -> None:
    demo = sub.add_parser("demo-data", help="write synthetic fleet history (replaces demo-* hosts)")
    add_database_url(demo)
    demo.add_argument("--hosts", type=int, default=50, help="number of hosts (default: 50)")
    demo.add_argument("--days", type=float, default=365, help="days of history (default: 365)")
    demo.add_argument("--interval", default="5m", help="sample interval (default: 5m)")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo_data)

    opt = sub.add_parser("optimize", help="one optimizer pass: rollups, summaries, anomalies, "
                                          "forecasts, recommendations")
    add_database_url(opt)
    opt.add_argument("--full", action="store_true", help="recompute every period, not only new ones")
    opt.add_argument("--since", metavar="TIMESTAMP",
                     help="also recompute periods from this time on (after a backfill)")
    opt.add_argument("--late-window", default="2d",
                     help="how late samples may arrive and still be summarised (default: 2d)")
    opt.add_argument("--window", default="30d", help="history judged by recommendations (default: 30d)")
    opt.add_argument("--every", metavar="DURATION",
                     help="run forever, one pass every DURATION (for `make up`; prefer a timer)")
    opt.add_argument("--plan-every", default="7d",
                     help="file a consolidation plan (`sru plan --store`) when the last is this old (default: 7d; "
                          "0 never)")
    opt.add_argument("--no-progress", action="store_true", help="no progress bar")
    opt.add_argument("--digest.config", dest="digest_config", metavar="FILE",
                     help="with --every: also send the digest on its schedule (digest/README.md); "
                          "the login needs the digest_sender role")
    opt.add_argument("--digest.metrics-textfile", dest="digest_metrics_textfile", metavar="FILE",
                     help="with --digest.config: the digest ledger's metrics for node_exporter's textfile collector")
    opt.set_defaults(func=_optimize)

    rep = sub.add_parser("report", help="fleet report: overview, recommendations, per-host sections")
    add_database_url(rep)
    add_format(rep, REPORT_FORMATS)
    rep.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    rep.add_argument("--window", default="30d", help="history shown per host (default: 30d)")
    rep.add_argument("--host", action="append", dest="hosts", metavar="HOSTNAME",
                     help="only these hosts (repeatable)")
    rep.set_defaults(func=_report)

    reps = sub.add_parser("reports", help="list and act on optimization reports (the workflow)")
    rsub = reps.add_subparsers(dest="reports_command", metavar="ACTION")
    lst = rsub.add_parser("list", help="list reports")
    add_database_url(lst)
    lst.add_argument("--status", choices=("pending", "approved", "implemented", "rejected", "all"),
                     default="pending")
    add_format(lst, ("table", "json"))
    lst.set_defaults(func=_reports_list)
    show = rsub.add_parser("show", help="one report with its evidence and history")
    add_database_url(show)
    show.add_argument("id", help="report id (a unique prefix is enough)")
    show.set_defaults(func=_reports_show)
    for action, target, text in (("approve", "approved", "approve a pending report"),
                                 ("reject", "rejected", "reject a pending report"),
                                 ("implement", "implemented", "mark an approved report implemented")):
        p = rsub.add_parser(action, help=text)
        add_database_url(p)
        p.add_argument("id", help="report id (a unique prefix is enough)")
        p.add_argument("--by", default=os.environ.get("SRU_ACTOR") or _login(),
                       help="who decides (default: $SRU_ACTOR or the login name)")
        p.add_argument("--note", help="why (kept in the report's history)")
        p.set_defaults(func=_reports_transition, target=target)
    reps.set_defaults(func=show_help(reps))

    plan_cli.register(sub, _connect, _login())

    maint = db_subcommands(sub).add_parser(
        "maintain", help="retention, rollups and ANALYZE where the server has no TimescaleDB policies "
                         "(run as admin; see optimizer/README.md)")
    add_database_url(maint)
    maint.add_argument("--retention", default="365d", help="keep raw samples this long (default: 365d)")
    maint.add_argument("--hourly-retention", default="1095d",
                       help="keep hourly rollups this long (default: 1095d)")
    maint.add_argument("--no-rollups", action="store_true", help="skip the optimizer's incremental pass")
    maint.set_defaults(func=_maintain)


def _connect(args: argparse.Namespace, command: str, autocommit: bool = False) -> psycopg.Connection:
    """The connection a command works on: the URL stays here, at the edge. An unreachable server
    raises DatabaseUnavailable, which `sru` prints as one line."""
    from sru.db import connect

    return connect(require_database_url(args), autocommit=autocommit, application_name=f"sru-{command}")


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def _demo_data(args: argparse.Namespace) -> int:
    from optimizer.demo import generate

    if args.hosts < 1:
        raise ConfigError("--hosts", "must be at least 1")
    if args.days <= 0:
        raise ConfigError("--days", "must be positive")
    interval = parse_duration(args.interval, "--interval")
    if interval.total_seconds() < 1:
        raise ConfigError("--interval", "must be at least 1s")
    started = time.monotonic()
    with _connect(args, "demo-data") as conn:
        result = generate(conn, args.hosts, args.days, interval, args.seed,
                          progress=not args.no_progress and sys.stderr.isatty())
    print(f"wrote {result.metric_rows} usage_metrics rows, {result.session_rows} sessions and "
          f"{result.process_rows} process snapshots for {len(result.hosts)} hosts "
          f"({result.start:%Y-%m-%d %H:%M} .. {result.end:%Y-%m-%d %H:%M} UTC) "
          f"in {time.monotonic() - started:.1f}s")
    for arch, names in result.by_archetype.items():
        print(f"  {arch:<14} {', '.join(names)}")
    return 0


def _optimize(args: argparse.Namespace) -> int:
    from optimizer.run import parse_since, run_forever, run_once

    late = parse_duration(args.late_window, "--late-window")
    window = parse_duration(args.window, "--window")
    since = parse_since(args.since) if args.since else None
    plan_every = parse_duration(args.plan_every, "--plan-every") if args.plan_every not in ("0", "0s") else None
    progress = not args.no_progress and sys.stderr.isatty()
    if args.every:
        every = parse_duration(args.every, "--every")
        require_database_url(args)   # a missing URL is a usage error, not an outage to wait out
        after = None
        if args.digest_config:
            from digest import config as dconfig
            from digest.run import scheduled

            cfg = dconfig.load(args.digest_config, "--digest.config")   # a bad file stops the start
            after = scheduled(lambda: _connect(args, "digest", autocommit=True), cfg,
                              metrics_textfile=args.digest_metrics_textfile)
        return run_forever(lambda: _connect(args, "optimize"), every, after_pass=after, late_window=late,
                           window=window, plan_every=plan_every)
    if args.digest_config:
        raise ConfigError("--digest.config", "only with --every (once: run `sru digest`)")
    with _connect(args, "optimize") as conn:
        result = run_once(conn, full=args.full, since=since, late_window=late, window=window, progress=progress,
                          plan_every=plan_every)
    print(result.describe())
    return 0


def _report(args: argparse.Namespace) -> int:
    from optimizer.report import build_report, render

    window = parse_duration(args.window, "--window")
    with _connect(args, "report") as conn:
        report = build_report(conn, window=window, hosts=args.hosts)
    write_output(render(report, args.format), args.output)
    return 0


def _maintain(args: argparse.Namespace) -> int:
    from optimizer.maintain import maintain

    raw = parse_duration(args.retention, "--retention")
    hourly = parse_duration(args.hourly_retention, "--hourly-retention")
    with _connect(args, "maintain") as conn:
        lines = maintain(conn, raw_retention=raw, hourly_retention=hourly, rollups=not args.no_rollups)
    print("\n".join(lines))
    return 0


def _reports_list(args: argparse.Namespace) -> int:
    from optimizer.workflow import list_reports, render_list

    with _connect(args, "reports") as conn:
        rows = list_reports(conn, None if args.status == "all" else args.status)
    sys.stdout.write(render_list(rows, args.format))
    return 0


def _reports_show(args: argparse.Namespace) -> int:
    from optimizer.workflow import render_one, show_report

    with _connect(args, "reports") as conn:
        row = show_report(conn, args.id)
    sys.stdout.write(render_one(row))
    return 0


def _reports_transition(args: argparse.Namespace) -> int:
    from optimizer.workflow import transition

    if not args.by:
        raise ConfigError("--by", "must name who decides")
    with _connect(args, "reports") as conn:
        row = transition(conn, args.id, args.target, args.by, args.note)
    print(f"report {row['id']} is now {row['status']} (by {row['status_changed_by']} at "
          f"{row['status_changed_at']:%Y-%m-%d %H:%M:%S %Z})")
    return 0
