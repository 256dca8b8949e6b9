"""`sru db …`: schema migrations (maintenance commands are added by the optimizer)."""

from __future__ import annotations

import argparse

from sru.options import add_database_url, require_database_url


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database schema and maintenance")
    dbsub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    mig = dbsub.add_parser("migrate", help="apply the schema migrations (safe to run twice)")
    add_database_url(mig)
    mig.add_argument("--timescaledb", choices=["auto", "off", "require", "full"], default="auto",
                     help="use TimescaleDB when the server offers it (auto), never (off), fail "
                          "without it (require), or fail unless it is the community edition with "
                          "compression and continuous aggregates (full)")
    mig.set_defaults(func=_migrate)
    maint = dbsub.add_parser("maintain", help="retention, rollups and ANALYZE where the server has no "
                                               "TimescaleDB policies (run as admin; see optimizer/README.md)")
    add_database_url(maint)
    maint.add_argument("--retention", default="365d", help="keep raw samples this long (default: 365d)")
    maint.add_argument("--hourly-retention", default="1095d",
                       help="keep hourly rollups this long (default: 1095d)")
    maint.add_argument("--no-rollups", action="store_true", help="skip the optimizer's incremental pass")
    maint.set_defaults(func=_maintain)
    db.set_defaults(func=lambda args: (db.print_help(), 2)[1])


def _migrate(args: argparse.Namespace) -> int:
    from sru.db import connect
    from sru.migrate import migrate

    with connect(require_database_url(args), autocommit=True, application_name="sru-migrate") as conn:
        result = migrate(conn, timescaledb=args.timescaledb)
    print(f"TimescaleDB tier: {result.tier}")
    for note in result.notes:
        print(f"note: {note}")
    if result.applied:
        print(f"applied {len(result.applied)} migration(s): {', '.join(result.applied)}")
    else:
        print("schema is up to date; nothing applied")
    return 0


def _maintain(args: argparse.Namespace) -> int:
    from optimizer.duration import parse_duration
    from optimizer.maintain import maintain

    raw = parse_duration(args.retention, "--retention")
    hourly = parse_duration(args.hourly_retention, "--hourly-retention")
    for line in maintain(require_database_url(args), raw_retention=raw, hourly_retention=hourly,
                         rollups=not args.no_rollups):
        print(line)
    return 0
