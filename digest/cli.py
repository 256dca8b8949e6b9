"""`sru digest` (standard library only at import time)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from sru.errors import ConfigError
from sru.options import Subparsers, add_database_url, add_format, require_database_url
from sru.output import write_output

FORMATS = ("html", "text", "slack", "json")


def register(sub: Subparsers) -> None:
    p = sub.add_parser("digest", help="build and send the fleet digest of the period just ended (once per "
                                      "destination), or preview it")
    add_database_url(p)
    p.add_argument("--config", metavar="FILE", help="schedule, SMTP, destinations and routes (digest/README.md)")
    p.add_argument("--preview", action="store_true", help="print (or --output) the digest, send and store nothing")
    p.add_argument("--department", metavar="NAME", help="with --preview: that department's digest")
    add_format(p, FORMATS, default="html")
    p.add_argument("--output", "-o", metavar="FILE", help="with --preview: write to FILE")
    p.add_argument("--now", metavar="TIMESTAMP", help="act as if it were this time (ISO 8601; default: now)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for retries: leave them to the next run")
    p.add_argument("--retry-failed", action="store_true", help="give deliveries that failed for good another round")
    p.add_argument("--metrics.textfile", dest="metrics_textfile", metavar="FILE",
                   help="write the ledger's metrics for node_exporter's textfile collector")
    p.set_defaults(func=_digest)


def parse_now(text: str | None) -> datetime:
    from optimizer.run import parse_since

    return parse_since(text, "--now") if text else datetime.now(UTC)


def _digest(args: argparse.Namespace) -> int:
    from digest import config as dconfig
    from sru.db import connect

    now = parse_now(args.now)
    if args.department is not None and not args.preview:
        raise ConfigError("--department", "only with --preview (routes in --config say who gets which digest)")
    if args.preview:
        cfg = dconfig.load(args.config) if args.config else None
        return _preview(args, cfg, now)
    if not args.config:
        raise ConfigError("--config", "is needed to send (routes and destinations)")
    cfg = dconfig.load(args.config)
    from digest import ledger
    from digest.run import run

    with connect(require_database_url(args), autocommit=True, application_name="sru-digest") as conn:
        if args.retry_failed:
            print(f"{ledger.retry_failed(conn, now)} failed deliveries are pending again")
        summary = run(conn, cfg, now, wait=not args.no_wait, metrics_textfile=args.metrics_textfile)
    print(summary.describe())
    return 1 if summary.failed else 0


def _preview(args: argparse.Namespace, cfg: object, now: datetime) -> int:
    from digest import render
    from digest.build import build_digest
    from digest.config import Config
    from digest.run import departments_supported
    from digest.schedule import Schedule
    from sru.db import connect

    schedule = cfg.schedule if isinstance(cfg, Config) else Schedule()
    console = cfg.console_url if isinstance(cfg, Config) else "http://localhost:9850"
    period, _ = schedule.latest_due(now)
    with connect(require_database_url(args), application_name="sru-digest") as conn:
        if args.department is not None:
            if not args.department or len(args.department) > 200:
                raise ConfigError("--department", "a department name is 1-200 characters")
            if not departments_supported(conn):
                raise ConfigError("--department", "department digests need the usage source (issue 19), "
                                                  "which this database does not have yet")
        key = "fleet" if args.department is None else f"department:{args.department}"
        d = build_digest(conn, period, key, now=now, console_url=console)
        conn.rollback()
    if args.format == "html":
        import base64

        # A preview file stands alone: the chart inline as a data: URI instead of a CID attachment.
        out = render.html(d, lambda k: "data:image/png;base64," + base64.b64encode(d.charts[k]).decode())
    elif args.format == "text":
        out = render.text(d)
    elif args.format == "slack":
        out = render.json_bytes(render.slack(d)).decode() + "\n"
    else:
        out = render.json_bytes(d.data()).decode() + "\n"
    write_output(out, args.output)
    return 0
